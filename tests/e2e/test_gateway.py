"""The gateway itself: one port, health, reflection, unimplemented RPCs, hostile requests."""

import gzip
import threading
from collections import Counter

import grpc
import pytest
from grpc import StatusCode
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from nameko_grpc.inspection import Inspector

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.ratings.ratings_service_pb2 import GetRatingRequest
from killrvideo.user_management.user_management_service_pb2 import (
    CreateUserRequest,
    GetUserProfileRequest,
)
from services.common import speedups
from services.gateway.routes import ROUTES
from tests.e2e.conftest import CALL_TIMEOUT, Stubs, failure, new_id
from tests.e2e.raw_grpc import grpc_frame, raw_grpc_call, response_body, response_headers
from tests.e2e.stack import free_port, nameko_run, rabbit_management
from tests.waiting import wait_until

KILLRVIDEO_SERVICES = sorted(Inspector(stub).service_name for stub in ROUTES)
UNIMPLEMENTED = [
    (stub, rpc_name)
    for stub, calls in ROUTES.items()
    for rpc_name, call in calls.items()
    if not call
]


def health(api, service=""):
    return api.health.Check(HealthCheckRequest(service=service), timeout=CALL_TIMEOUT).status


def test_every_service_is_on_one_port_and_the_built_ones_are_serving(api):
    assert health(api) == HealthCheckResponse.SERVING
    for stub, calls in ROUTES.items():
        built = any(calls.values())
        expected = HealthCheckResponse.SERVING if built else HealthCheckResponse.NOT_SERVING
        assert health(api, Inspector(stub).service_name) == expected
    assert health(api, "killrvideo.uploads.UploadsService") == HealthCheckResponse.NOT_SERVING
    error = failure(api.health.Check, HealthCheckRequest(service="no.such.Service"))
    assert error.code() == StatusCode.NOT_FOUND


def test_reflection_lists_every_service(channel):
    services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert set(services) == {
        *KILLRVIDEO_SERVICES,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


@pytest.mark.parametrize(
    ("stub", "rpc_name"), UNIMPLEMENTED, ids=[name for _, name in UNIMPLEMENTED]
)
def test_rpcs_not_built_yet_are_unimplemented(channel, stub, rpc_name):
    inspector = Inspector(stub)
    path = inspector.path_for_method(rpc_name)
    call = channel.unary_unary(
        path,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=inspector.output_type_for_method(rpc_name).FromString,
    )
    error = failure(call, inspector.input_type_for_method(rpc_name)())
    assert error.code() == StatusCode.UNIMPLEMENTED
    assert error.details() == f"{path} is not implemented yet by this KillrVideo backend"


def test_an_unknown_method_is_unimplemented(channel):
    call = channel.unary_unary("/killrvideo.ratings.RatingsService/Nope")
    assert failure(call, b"").code() == StatusCode.UNIMPLEMENTED


HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check"
SERVING_MESSAGE = HealthCheckResponse(status=HealthCheckResponse.SERVING).SerializeToString()
# What grpcio clients send with every call.
ACCEPT_EVERY_ENCODING = {"grpc-accept-encoding": "identity,deflate,gzip"}


@pytest.mark.skipif(
    speedups.stock_requested(), reason="grpc_connection's: stock nameko-grpc compresses"
)
def test_a_response_is_not_compressed_when_its_request_was_not(stack):
    events = raw_grpc_call(
        stack.address, HEALTH_CHECK_PATH, grpc_frame(b""), headers=ACCEPT_EVERY_ENCODING
    )
    assert response_headers(events).get(b"grpc-encoding", b"identity") == b"identity"
    assert response_body(events) == grpc_frame(SERVING_MESSAGE)


def test_a_compressed_request_gets_its_response_compressed_the_same_way(stack):
    request = grpc_frame(gzip.compress(b""), compressed=True)
    headers = {"grpc-encoding": "gzip", **ACCEPT_EVERY_ENCODING}
    events = raw_grpc_call(stack.address, HEALTH_CHECK_PATH, request, headers=headers)
    assert response_headers(events)[b"grpc-encoding"] == b"gzip"
    body = response_body(events)
    assert body[0] == 1  # the compressed flag
    assert gzip.decompress(body[5:]) == SERVING_MESSAGE


def test_bytes_that_are_not_the_message_are_an_invalid_argument(channel, api):
    call = channel.unary_unary("/killrvideo.ratings.RatingsService/GetRating")
    error = failure(call, b"\xff\xff\xff\xff")
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert health(api) == HealthCheckResponse.SERVING


def test_a_10_mb_request_is_an_invalid_argument_and_the_gateway_lives_on(api):
    huge = CreateUserRequest(
        user_id=new_id(), first_name="x" * 10_000_000, last_name="y", email="a@b.c", password="p"
    )
    error = failure(api.users.CreateUser, huge)
    assert error.code() == StatusCode.INVALID_ARGUMENT
    assert error.details() == "the request message is larger than the limit of 4194304 bytes"
    reply = api.users.GetUserProfile(
        GetUserProfileRequest(user_ids=[new_id()]), timeout=CALL_TIMEOUT
    )
    assert list(reply.profiles) == []


def test_invalid_and_empty_ids_are_invalid_arguments(api):
    for video_id in (Uuid(value="not a uuid"), Uuid(value=""), None):
        error = failure(api.ratings.GetRating, GetRatingRequest(video_id=video_id))
        assert error.code() == StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("video_id: ")


def test_a_second_gateway_on_a_taken_port_fails_loudly(stack):
    # The same command and GRPC_BIND_PORT as the running gateway.
    second = stack.start("second-gateway", nameko_run("services.gateway.service"))
    try:
        exit_code = second.popen.wait(timeout=60)
    finally:
        second.stop()
    assert exit_code != 0
    assert f"cannot serve gRPC on 127.0.0.1:{stack.grpc_port}" in second.describe()


STOPPING_CALLERS = 6


def serving(address: str, gateway) -> bool:
    """Whether the gateway at `address` says SERVING (it failing to start fails the test)."""
    assert gateway.exit_code is None, gateway.describe()
    with grpc.insecure_channel(address) as channel:
        try:
            return (
                Stubs(channel).health.Check(HealthCheckRequest(), timeout=2).status
                == HealthCheckResponse.SERVING
            )
        except grpc.RpcError:
            return False  # not listening yet


def test_a_gateway_stopping_under_load_answers_unavailable_never_unimplemented(
    stack, record_property
):
    port = free_port()
    gateway = nameko_run("services.gateway.service")
    stopping = stack.start("stopping-gateway", gateway, GRPC_BIND_PORT=str(port))
    address = f"127.0.0.1:{port}"
    wait_until(lambda: serving(address, stopping), 60, "the second gateway serves")
    outcomes = []  # each call's status (list.append is atomic: the callers are threads)
    done = threading.Event()

    def caller():
        with grpc.insecure_channel(address) as channel:
            users = Stubs(channel).users
            while not done.is_set():
                try:
                    users.GetUserProfile(
                        GetUserProfileRequest(user_ids=[new_id()]), timeout=CALL_TIMEOUT
                    )
                    outcomes.append(StatusCode.OK)
                except grpc.RpcError as error:
                    outcomes.append(error.code())

    callers = [threading.Thread(target=caller) for _ in range(STOPPING_CALLERS)]
    for thread in callers:
        thread.start()
    try:
        wait_until(lambda: outcomes.count(StatusCode.OK) >= 100, 30, "the callers are answered")
        stopping.stop()  # SIGTERM, and waits for the gateway to exit
        stopped_with = stopping.exit_code
        # The port is closed by now: every caller's next call fails too.
        served_after_exit = len(outcomes)
        wait_until(
            lambda: len(outcomes) >= served_after_exit + STOPPING_CALLERS,
            30,
            "calls to the stopped gateway fail",
        )
    finally:
        done.set()
        for thread in callers:
            thread.join()
    record_property("calls", len(outcomes))
    record_property("unavailable", outcomes.count(StatusCode.UNAVAILABLE))
    assert stopped_with == 0, stopping.describe()
    # grpcio reports a closed connection, or one refused, as UNAVAILABLE too.
    assert set(outcomes) == {StatusCode.OK, StatusCode.UNAVAILABLE}, Counter(outcomes)


def test_the_client_deadline_is_honoured(api):
    with pytest.raises(grpc.RpcError) as raised:
        api.users.GetUserProfile(GetUserProfileRequest(user_ids=[new_id()]), timeout=0.001)
    assert raised.value.code() == StatusCode.DEADLINE_EXCEEDED


@pytest.mark.skipif(speedups.stock_requested(), reason="direct_requests': stock acks")
def test_the_gateway_takes_replies_without_acknowledging_each(stack, user):
    management = rabbit_management()

    def reply_consumers():
        # The management API lists a consumer once its statistics are next sampled.
        return [
            consumer
            for consumer in management._get("consumers", stack.vhost)
            if consumer["queue"]["name"].startswith("rpc.reply-gateway-")
        ]

    consumers = wait_until(reply_consumers, 30, "the broker lists the gateway's reply consumer")
    assert not any(consumer["ack_required"] for consumer in consumers)
