"""Deadlines and the database's outages, end to end: a request whose caller gave up is never run,
a database that does not answer is reported as such within the caller's deadline, and every
service serves again soon after the database is back, however long it was away. On a stack of
its own (with localcql as one of its processes), since it stalls and stops parts of it."""

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc import StatusCode

from killrvideo.comments.comments_service_pb2 import CommentOnVideoRequest, GetVideoCommentsRequest
from killrvideo.common.common_types_pb2 import TimeUuid
from killrvideo.statistics.statistics_service_pb2 import RecordPlaybackStartedRequest
from killrvideo.video_catalog.video_catalog_service_pb2 import GetVideoRequest
from localcql.testing import READY_PREFIX
from tests.e2e.conftest import (
    CALL_TIMEOUT,
    Stubs,
    new_id,
    seconds_until_answered,
    submit_video,
)
from tests.e2e.stack import (
    START_DEADLINE_SECONDS,
    localcql_command,
    rabbit_management,
    running_stack,
)
from tests.waiting import wait_until

RPC_TIMEOUT = 2.0
OUTAGE_SECONDS = 35
BACK_WITHIN_SECONDS = 5


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("localcql")
    with (
        running_stack(rpc_timeout=RPC_TIMEOUT, localcql_data_dir=data_dir) as stack,
        grpc.insecure_channel(stack.address) as channel,
    ):
        yield stack, Stubs(channel), data_dir


def log_of(stack, name: str) -> str:
    # A process's log file is made with its first line: a quiet one has none yet.
    path = stack.logs / f"{name}.log"
    return path.read_text() if path.exists() else ""


def delivered_unacknowledged(stack, queue: str) -> int | None:
    return rabbit_management().get_queue(stack.vhost, queue).get("messages_unacknowledged")


def comment_on(video_id) -> CommentOnVideoRequest:
    return CommentOnVideoRequest(
        video_id=video_id,
        user_id=new_id(),
        comment_id=TimeUuid(value=str(uuid.uuid1())),
        comment="too late?",
    )


def code_of(call, request, timeout: float):
    try:
        call(request, timeout=timeout)
    except grpc.RpcError as error:
        return error.code()
    return StatusCode.OK


def test_requests_whose_callers_gave_up_while_their_service_stalled_are_not_run(deployment):
    stack, api, _ = deployment
    comments = stack.processes["comments"].popen
    videos = [new_id() for _ in range(6)]
    comments.send_signal(signal.SIGSTOP)
    try:
        # Each request reaches the stalled service (the broker delivers it into its prefetch),
        # and each caller gives up after 1 s.
        with ThreadPoolExecutor(len(videos)) as pool:
            codes = list(
                pool.map(lambda v: code_of(api.comments.CommentOnVideo, comment_on(v), 1), videos)
            )
        assert codes == [StatusCode.DEADLINE_EXCEEDED] * len(videos)
        # Delivered into the stalled service's prefetch, not expired in the broker (the
        # management API's figures lag by a few seconds).
        wait_until(
            lambda: delivered_unacknowledged(stack, "rpc-comments") == len(videos),
            15,
            "the requests delivered to the stalled service",
        )
    finally:
        comments.send_signal(signal.SIGCONT)

    wait_until(
        lambda: (
            log_of(stack, "comments").count("dropped a request to comments.comment_on_video")
            == len(videos)
        ),
        15,
        "the service dropped every request whose deadline had passed",
    )
    fresh = new_id()
    api.comments.CommentOnVideo(comment_on(fresh), timeout=CALL_TIMEOUT)
    for video_id in [*videos, fresh]:
        page = api.comments.GetVideoComments(
            GetVideoCommentsRequest(video_id=video_id, page_size=10), timeout=CALL_TIMEOUT
        )
        assert len(page.comments) == (1 if video_id == fresh else 0)


def test_a_database_that_does_not_answer_is_unavailable_within_the_deadline(deployment):
    stack, api, _ = deployment
    video = submit_video(api, new_id())
    database = stack.processes["localcql"].popen
    database.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            api.videos.GetVideo(GetVideoRequest(video_id=video.video_id), timeout=CALL_TIMEOUT)
        elapsed = time.monotonic() - started
    finally:
        database.send_signal(signal.SIGCONT)
    assert raised.value.code() == StatusCode.UNAVAILABLE, raised.value.details()
    assert "database" in raised.value.details()
    assert elapsed < RPC_TIMEOUT
    reply = api.videos.GetVideo(GetVideoRequest(video_id=video.video_id), timeout=CALL_TIMEOUT)
    assert reply.name == video.name


def test_every_service_serves_soon_after_a_long_database_outage(deployment, record_property):
    stack, api, data_dir = deployment
    video = submit_video(api, new_id())
    get_video = (api.videos.GetVideo, GetVideoRequest(video_id=video.video_id))
    record_play = (
        api.statistics.RecordPlaybackStarted,
        RecordPlaybackStartedRequest(video_id=video.video_id),
    )
    logged_before = {name: len(log_of(stack, name)) for name in ("videos", "statistics")}
    database = stack.processes["localcql"]
    database.popen.send_signal(signal.SIGKILL)
    database.popen.wait()
    down_since = time.monotonic()
    failed = {"videos": 0, "statistics": 0}
    while time.monotonic() - down_since < OUTAGE_SECONDS:
        for name, (call, request) in zip(failed, (get_video, record_play), strict=True):
            assert code_of(call, request, CALL_TIMEOUT) == StatusCode.UNAVAILABLE
            failed[name] += 1
        time.sleep(1)  # a caller's pace, not a wait for anything

    port = int(stack.env["CASSANDRA_PORT"])
    stack.start("localcql", localcql_command(port, data_dir))
    stack.processes["localcql"].wait_for_line(READY_PREFIX, START_DEADLINE_SECONDS)
    back = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        waits = {
            name: pool.submit(seconds_until_answered, call, request, back, 60)
            for name, (call, request) in zip(failed, (get_video, record_play), strict=True)
        }
        seconds = {name: wait.result() for name, wait in waits.items()}
    for name, value in seconds.items():
        assert value is not None and value < BACK_WITHIN_SECONDS, seconds
        record_property(f"{name} answers again after (s)", round(value, 1))

    # In each service's log: one line per failed call, no traceback, and the outage and the
    # recovery once each.
    for name, failures in failed.items():
        lines = log_of(stack, name)[logged_before[name] :].splitlines()
        calls_failed = [line for line in lines if "(expected) error handling worker" in line]
        assert len(calls_failed) >= failures
        others = [line for line in lines if line not in calls_failed]
        assert len(others) == 2, others
        assert "has been marked down" in others[0]
        assert "is back" in others[1]
