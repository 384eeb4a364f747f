"""Faults injected for real while writes run through the gateway: the database killed with
SIGKILL and started again, a domain service killed while a second instance serves on. Every
request either succeeds or fails cleanly (UNAVAILABLE / DEADLINE_EXCEEDED) within its deadline,
the services recover on their own, and every acknowledged write is there afterwards."""

import signal
import threading
import time
import uuid
from collections import Counter

import grpc
import pytest

from killrvideo.comments.comments_service_pb2 import CommentOnVideoRequest, GetVideoCommentsRequest
from killrvideo.comments.comments_service_pb2_grpc import CommentsServiceStub
from killrvideo.common.common_types_pb2 import TimeUuid, Uuid
from tests.e2e.stack import localcql_command, running_stack
from tests.paging import walk
from tests.waiting import wait_until

CLEAN_FAILURES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
WRITERS = 4
CALL_DEADLINE = 5
RECOVERY_SECONDS = 30


class CommentLoad:
    """WRITERS threads commenting, each on its own video, recording what was acknowledged and
    how every other call ended."""

    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.comments = CommentsServiceStub(self.channel)
        self.videos = [str(uuid.uuid4()) for _ in range(WRITERS)]
        self.acknowledged = {video: [] for video in self.videos}
        self.outcomes = Counter()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.write, args=(v,)) for v in self.videos]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        self.channel.close()

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(CALL_DEADLINE * 2)
        assert not any(thread.is_alive() for thread in self.threads), "a call hung"

    def write(self, video_id: str):
        while not self.stopping.is_set():
            comment_id = str(uuid.uuid1())
            request = CommentOnVideoRequest(
                video_id=Uuid(value=video_id),
                user_id=Uuid(value=str(uuid.uuid4())),
                comment_id=TimeUuid(value=comment_id),
                comment="under load",
            )
            try:
                self.comments.CommentOnVideo(request, timeout=CALL_DEADLINE)
            except grpc.RpcError as error:
                self.outcomes[error.code()] += 1
            else:
                self.outcomes["ok"] += 1
                self.acknowledged[video_id].append(comment_id)

    def succeeded(self) -> int:
        return self.outcomes["ok"]

    def stored(self, video_id: str) -> set[str]:
        def page(**kwargs):
            request = GetVideoCommentsRequest(video_id=Uuid(value=video_id), **kwargs)
            reply = self.comments.GetVideoComments(request, timeout=CALL_DEADLINE)
            return {
                "comments": [c.comment_id.value for c in reply.comments],
                "paging_state": reply.paging_state,
            }

        return {c for part in walk(page, 100, "comments", max_pages=1000) for c in part}


def figures(load: CommentLoad) -> dict:
    """What the load saw, for the run's report; the tests assert the last two are 0."""
    lost = sum(len(set(acked) - load.stored(video)) for video, acked in load.acknowledged.items())
    failed = {code: n for code, n in load.outcomes.items() if code != "ok"}
    return {
        "calls": sum(load.outcomes.values()),
        "acknowledged": load.succeeded(),
        "failed cleanly": sum(n for code, n in failed.items() if code in CLEAN_FAILURES),
        "failed otherwise": sum(n for code, n in failed.items() if code not in CLEAN_FAILURES),
        "writes lost": lost,
    }


def assert_nothing_lost_and_only_clean_failures(load: CommentLoad, record_property) -> None:
    seen = figures(load)
    for name, value in seen.items():
        record_property(name, value)
    assert seen["failed otherwise"] == 0, load.outcomes
    assert seen["writes lost"] == 0, "an acknowledged comment was lost"


def test_the_database_killed_and_restarted_under_load(tmp_path, record_property):
    data_dir = tmp_path / "localcql"
    with (
        running_stack(rpc_timeout=3.0, localcql_data_dir=data_dir) as stack,
        CommentLoad(stack.address) as load,
    ):
        wait_until(lambda: load.succeeded() >= 50, 30, "writes are acknowledged")
        database = stack.processes["localcql"]
        database.popen.send_signal(signal.SIGKILL)
        database.popen.wait()
        wait_until(
            lambda: sum(load.outcomes[code] for code in CLEAN_FAILURES) > 0,
            RECOVERY_SECONDS,
            "writes fail while the database is down",
        )
        port = int(stack.env["CASSANDRA_PORT"])
        stack.start("localcql", localcql_command(port, data_dir))
        before, back = load.succeeded(), time.monotonic()
        wait_until(
            lambda: load.succeeded() > before + 20,
            RECOVERY_SECONDS,
            "the services reconnect to the restarted database on their own",
        )
        record_property("writes again after (s)", round(time.monotonic() - back, 1))
        load.stop()
        assert_nothing_lost_and_only_clean_failures(load, record_property)


@pytest.fixture
def two_comments_services(tmp_path):
    with running_stack(rpc_timeout=3.0) as stack:
        stack.start("comments-2", stack.processes["comments"].command)
        yield stack


def test_a_service_instance_killed_under_load(two_comments_services, record_property):
    stack = two_comments_services
    with CommentLoad(stack.address) as load:
        wait_until(lambda: load.succeeded() >= 50, 30, "writes are acknowledged")
        stack.processes["comments"].popen.send_signal(signal.SIGKILL)
        before = load.succeeded()
        wait_until(
            lambda: load.succeeded() > before + 50,
            RECOVERY_SECONDS,
            "the other instance carries on",
        )
        load.stop()
        assert_nothing_lost_and_only_clean_failures(load, record_property)
