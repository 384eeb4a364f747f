"""`make run` keeps the site running: a process killed with SIGKILL (a domain service, the
gateway, localcql) is restarted within its backoff while a light load runs; calls to the other
services never fail meanwhile, and no acknowledged write is lost (localcql is durable)."""

import os
import signal
import threading
import time
import uuid

import grpc
import pytest

from killrvideo.comments.comments_service_pb2 import (
    CommentOnVideoRequest,
    GetVideoCommentsRequest,
)
from killrvideo.comments.comments_service_pb2_grpc import CommentsServiceStub
from killrvideo.common.common_types_pb2 import TimeUuid, Uuid
from killrvideo.ratings.ratings_service_pb2 import GetRatingRequest
from killrvideo.ratings.ratings_service_pb2_grpc import RatingsServiceStub
from killrvideo.user_management.user_management_service_pb2 import GetUserProfileRequest
from killrvideo.user_management.user_management_service_pb2_grpc import (
    UserManagementServiceStub,
)
from killrvideo.video_catalog.video_catalog_service_pb2 import GetLatestVideoPreviewsRequest
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from scripts.run import READY_LINE
from scripts.supervision import FIRST_DELAY_SECONDS
from tests.e2e.make_run import READY_SECONDS, MakeRun, alive, site_environment
from tests.waiting import wait_until

RESTARTED_SECONDS = FIRST_DELAY_SECONDS + 3  # the backoff, the launcher's polling, a fork
SERVING_AGAIN_SECONDS = 60  # a restarted process's start on a busy machine
CALL_TIMEOUT = 10


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env:
        yield env


class Load:
    """A light load, in a thread: a comment written (its id kept once acknowledged) and a user
    profile read, about ten times a second. Failures are kept with their status code."""

    def __init__(self, channel, video_id: str, user_id: str):
        self.comments = CommentsServiceStub(channel)
        self.users = UserManagementServiceStub(channel)
        self.video_id, self.user_id = video_id, user_id
        self.acknowledged: list[str] = []
        self.failures: list[grpc.StatusCode] = []
        self.calls = 0
        self.last_success = 0.0  # time.monotonic() at the end of the last call that succeeded
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.done.set()
        self.thread.join(2 * CALL_TIMEOUT)

    def _run(self):
        while not self.done.wait(0.1):  # the pace of a light load
            comment_id = str(uuid.uuid1())  # a TimeUUID, as the web app makes them
            try:
                self.comments.CommentOnVideo(
                    CommentOnVideoRequest(
                        video_id=Uuid(value=self.video_id),
                        user_id=Uuid(value=self.user_id),
                        comment_id=TimeUuid(value=comment_id),
                        comment="still here",
                    ),
                    timeout=CALL_TIMEOUT,
                )
                self.acknowledged.append(comment_id)
                self.users.GetUserProfile(
                    GetUserProfileRequest(user_ids=[Uuid(value=self.user_id)]),
                    timeout=CALL_TIMEOUT,
                )
                self.last_success = time.monotonic()
            except grpc.RpcError as failed:
                self.failures.append(failed.code())
            self.calls += 1

    def wait_for_calls(self, count: int) -> None:
        target = self.calls + count
        wait_until(lambda: self.calls >= target, SERVING_AGAIN_SECONDS, f"{count} more calls")

    def wait_until_succeeding(self) -> None:
        """Returns once a call started after now has succeeded."""
        now = time.monotonic()
        wait_until(
            lambda: self.last_success > now, SERVING_AGAIN_SECONDS, "the load succeeds again"
        )


def answers(call) -> bool:
    try:
        call()
    except grpc.RpcError:
        return False
    return True


def kill_and_see_it_restarted(site: MakeRun, name: str) -> None:
    """SIGKILL to one of the site's processes; returns once the launcher has started it again."""
    killed = site.processes()[name]
    os.kill(killed, signal.SIGKILL)

    def restarted() -> bool:
        pid = site.processes().get(name)
        return pid not in (None, killed) and alive(pid)

    wait_until(restarted, RESTARTED_SECONDS, f"{name} restarted")


def stored_comments(channel, video_id: str) -> set[str]:
    comments, paging_state = set(), ""
    while True:
        page = CommentsServiceStub(channel).GetVideoComments(
            GetVideoCommentsRequest(
                video_id=Uuid(value=video_id), page_size=100, paging_state=paging_state
            ),
            timeout=CALL_TIMEOUT,
        )
        comments |= {comment.comment_id.value for comment in page.comments}
        if not page.paging_state:
            return comments
        paging_state = page.paging_state


def test_killed_processes_are_restarted_and_the_rest_keeps_serving(site_env):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        with grpc.insecure_channel(f"127.0.0.1:{site_env['GRPC_BIND_PORT']}") as channel:
            preview = (
                VideoCatalogServiceStub(channel)
                .GetLatestVideoPreviews(GetLatestVideoPreviewsRequest(page_size=1), timeout=10)
                .video_previews[0]
            )
            video_id, user_id = preview.video_id.value, preview.user_id.value
            ratings = RatingsServiceStub(channel)

            with Load(channel, video_id, user_id) as load:
                load.wait_for_calls(5)

                # A domain service the load does not call: nothing the load calls fails.
                kill_and_see_it_restarted(site, "ratings")
                rating = GetRatingRequest(video_id=preview.video_id)
                wait_until(
                    lambda: answers(lambda: ratings.GetRating(rating, timeout=CALL_TIMEOUT)),
                    SERVING_AGAIN_SECONDS,
                    "ratings answers again",
                )
                load.wait_for_calls(5)
                assert load.failures == [], "calls to the other services never failed"

                # The gateway and the database: calls fail until each is back.
                for name in ("gateway", "localcql"):
                    kill_and_see_it_restarted(site, name)
                    load.wait_until_succeeding()

            assert set(load.acknowledged) <= stored_comments(channel, video_id), (
                "every acknowledged comment is stored"
            )
        output = "".join(site.output)
        for name in ("ratings", "gateway", "localcql"):
            assert f"{name} (pid" in output and "killed by SIGKILL; restarting it in 1s" in output
    finally:
        site.interrupt()
