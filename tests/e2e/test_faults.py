"""Faults injected for real while writes run through the gateway: the database killed with
SIGKILL and started again, a domain service killed while a second instance serves on. Every
request either succeeds or fails cleanly (UNAVAILABLE / DEADLINE_EXCEEDED) within its deadline,
the services recover on their own, and every acknowledged write is there afterwards."""

import signal
import time
import uuid
from collections import Counter
from functools import partial

import grpc
import pytest

from killrvideo.comments.comments_service_pb2 import CommentOnVideoRequest, GetVideoCommentsRequest
from killrvideo.comments.comments_service_pb2_grpc import CommentsServiceStub
from killrvideo.common.common_types_pb2 import TimeUuid, Uuid
from tests.e2e.stack import localcql_command, running_stack
from tests.e2e.writes import CALL_DEADLINE, Load
from tests.paging import walk
from tests.waiting import wait_until

CLEAN_FAILURES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
WRITERS = 4
RECOVERY_SECONDS = 30


class CommentLoad(Load):
    """WRITERS threads commenting, each on its own video, recording what was acknowledged and
    how every other call ended."""

    def __init__(self, address):
        super().__init__(address)
        self.comments = CommentsServiceStub(self.channel)
        self.videos = [str(uuid.uuid4()) for _ in range(WRITERS)]
        self.acknowledged = {video: [] for video in self.videos}
        self.outcomes = Counter()

    def __enter__(self):
        self.start(*(partial(self.write, video) for video in self.videos))
        return self

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

    def wait_for_more(self, more: int, within: float, what: str) -> float:
        """Waits until more than `more` further comments are acknowledged, for `within` seconds
        at most (failing, naming `what`); the seconds it took."""
        before, since = self.succeeded(), time.monotonic()
        wait_until(lambda: self.succeeded() > before + more, within, what)
        return round(time.monotonic() - since, 1)

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
        again = load.wait_for_more(
            20, RECOVERY_SECONDS, "the services reconnect to the restarted database on their own"
        )
        record_property("writes again after (s)", again)
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
        load.wait_for_more(50, RECOVERY_SECONDS, "the other instance carries on")
        load.stop()
        assert_nothing_lost_and_only_clean_failures(load, record_property)
