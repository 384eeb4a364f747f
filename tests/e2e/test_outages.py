"""A domain service that stops: the gateway answers quickly, says so in its health, and serves
again once the service is back. On a stack of its own, since it stops part of it."""

import time

import grpc
import pytest
from grpc import StatusCode
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from killrvideo.ratings.ratings_service_pb2 import GetRatingRequest, RateVideoRequest
from killrvideo.user_management.user_management_service_pb2 import GetUserProfileRequest
from tests.e2e.conftest import CALL_TIMEOUT, Stubs, failure, new_id
from tests.e2e.stack import running_stack
from tests.waiting import wait_until

RATINGS = "killrvideo.ratings.RatingsService"


@pytest.fixture(scope="module")
def outage():
    """A stack whose ratings service has been stopped, and its API."""
    with running_stack() as stack, grpc.insecure_channel(stack.address) as channel:
        stack.stop("ratings")
        yield stack, Stubs(channel)


def status(api, service=""):
    return api.health.Check(HealthCheckRequest(service=service), timeout=CALL_TIMEOUT).status


def test_calls_to_a_stopped_service_fail_within_the_deadline(outage):
    stack, api = outage
    started = time.monotonic()
    error = failure(api.ratings.GetRating, GetRatingRequest(video_id=new_id()))
    elapsed = time.monotonic() - started
    assert error.code() in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED)
    assert elapsed < stack.rpc_timeout + 1


def test_health_says_which_service_is_not_serving(outage):
    _, api = outage
    assert status(api, RATINGS) == HealthCheckResponse.NOT_SERVING
    assert status(api) == HealthCheckResponse.NOT_SERVING
    assert status(api, "killrvideo.user_management.UserManagementService") == (
        HealthCheckResponse.SERVING
    )
    reply = api.users.GetUserProfile(
        GetUserProfileRequest(user_ids=[new_id()]), timeout=CALL_TIMEOUT
    )
    assert list(reply.profiles) == []


def test_a_callers_shorter_deadline_is_the_downstream_requests_deadline(outage):
    stack, api = outage
    wait_until(lambda: stack.queued_requests("ratings") == 0, stack.rpc_timeout + 10, "no backlog")
    caller_deadline = 0.3
    with pytest.raises(grpc.RpcError) as raised:
        api.ratings.GetRating(GetRatingRequest(video_id=new_id()), timeout=caller_deadline)
    assert raised.value.code() == StatusCode.DEADLINE_EXCEEDED
    # The request to the stopped service expires with the caller's deadline, long before
    # the gateway's own RPC_TIMEOUT would have let it go.
    assert stack.rpc_timeout >= 2
    wait_until(
        lambda: stack.queued_requests("ratings") == 0,
        stack.rpc_timeout - caller_deadline - 0.5,
        "the request expired with its caller's deadline",
    )


def test_after_an_outage_no_stale_request_runs_and_the_service_serves_again(outage):
    # Last in this module: it ends the outage the tests above rely on.
    stack, api = outage
    video_id = new_id()
    rate = RateVideoRequest(video_id=video_id, user_id=new_id(), rating=5)
    assert failure(api.ratings.RateVideo, rate).code() == StatusCode.DEADLINE_EXCEEDED
    wait_until(
        lambda: stack.queued_requests("ratings") == 0,
        stack.rpc_timeout + 10,
        "requests to the stopped service expire with their deadline",
    )

    stack.start("ratings")
    stack.wait_until_serving(service=RATINGS)
    totals = api.ratings.GetRating(GetRatingRequest(video_id=video_id), timeout=CALL_TIMEOUT)
    assert totals.ratings_count == 0, "the rating its caller was told had failed never ran"
