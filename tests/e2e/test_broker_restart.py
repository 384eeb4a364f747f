"""RabbitMQ stopped and started again while writes run through the gateway (`make faults`: it
restarts this machine's broker, so `make test` leaves it out).

Every call succeeds or fails cleanly within its deadline; the services and the gateway reconnect
on their own within 15 s of the broker's return; every acknowledged comment is stored, and every
acknowledged video's event reaches the search index."""

import contextlib
import os
import shutil
import subprocess
import threading
import time

import grpc
import pytest

from killrvideo.search.search_service_pb2 import SearchVideosRequest
from killrvideo.search.search_service_pb2_grpc import SearchServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from tests.e2e.conftest import tagged_video
from tests.e2e.stack import running_stack
from tests.e2e.test_faults import (
    CALL_DEADLINE,
    CLEAN_FAILURES,
    CommentLoad,
    assert_nothing_lost_and_only_clean_failures,
)
from tests.waiting import wait_until

RECONNECT_SECONDS = 15

pytestmark = pytest.mark.skipif(
    os.environ.get("KILLRVIDEO_FAULTS") != "1" or shutil.which("rabbitmqctl") is None,
    reason="restarts this machine's RabbitMQ: run by `make faults`",
)


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


class VideoLoad:
    """One writer adding videos, each with a tag of its own, recording the acknowledged ones."""

    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self.videos = VideoCatalogServiceStub(self.channel)
        self.acknowledged: dict[str, str] = {}  # tag -> video id
        self.failures = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.write)
        self.thread.start()

    def write(self):
        while not self.stopping.is_set():
            tag, request = tagged_video("under load")
            try:
                self.videos.SubmitYouTubeVideo(request, timeout=CALL_DEADLINE)
            except grpc.RpcError as error:
                self.failures.add(error.code())
            else:
                self.acknowledged[tag] = request.video_id.value

    def stop(self):
        self.stopping.set()
        self.thread.join(CALL_DEADLINE * 2)
        assert not self.thread.is_alive(), "a call hung"


def test_a_broker_restart_under_load_loses_nothing(record_property):
    with running_stack(rpc_timeout=3.0) as stack, CommentLoad(stack.address) as comments:
        videos = VideoLoad(stack.address)
        try:
            wait_until(lambda: comments.succeeded() >= 30, 30, "writes are acknowledged")
            rabbitmqctl("stop_app")
            try:
                wait_until(
                    lambda: sum(comments.outcomes[c] for c in CLEAN_FAILURES) > 0,
                    30,
                    "writes fail while the broker is down",
                )
            finally:
                rabbitmqctl("start_app")
            back = time.monotonic()
            before = comments.succeeded()
            wait_until(
                lambda: comments.succeeded() > before + 10,
                RECONNECT_SECONDS,
                "the services and the gateway reconnect on their own",
            )
            record_property("writes again after (s)", round(time.monotonic() - back, 1))
        finally:
            videos.stop()
        comments.stop()
        assert_nothing_lost_and_only_clean_failures(comments, record_property)
        assert videos.failures <= CLEAN_FAILURES, videos.failures
        search = SearchServiceStub(comments.channel)

        def indexed(tag):
            reply = search.SearchVideos(SearchVideosRequest(query=tag, page_size=5), timeout=5)
            return [v.video_id.value for v in reply.videos] == [videos.acknowledged[tag]]

        def events_lost():
            return sum(not indexed(tag) for tag in videos.acknowledged)

        record_property("videos acknowledged", len(videos.acknowledged))
        # Events retried with backoff may take a while: wait for all, then count what is missing.
        with contextlib.suppress(AssertionError):
            wait_until(lambda: events_lost() == 0, 30, "every video indexed")
        lost = events_lost()
        record_property("events lost", lost)
        assert lost == 0, "an acknowledged video's event never reached the search index"
