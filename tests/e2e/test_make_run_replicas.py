"""`make run` with VIDEOS_REPLICAS=2: two supervised videos processes (videos-1, videos-2), every
service-owned durable queue a quorum queue, and one replica killed with SIGKILL under a steady
read and write load: not one call fails (the requests in flight on the dead replica are
redelivered to the other one and answered within their deadline), no acknowledged video is
lost, each is indexed once by search (its event handled idempotently), and the supervisor
restarts the replica."""

import os
import signal
import threading
from collections import Counter

import grpc
import pytest

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.search.search_service_pb2 import SearchVideosRequest
from killrvideo.search.search_service_pb2_grpc import SearchServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2 import (
    GetVideoRequest,
)
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from scripts.run import READY_LINE
from services.common.queue_migration import site_queues
from tests.e2e.conftest import tagged_video
from tests.e2e.make_run import READY_SECONDS, MakeRun, latest_videos, site_environment
from tests.e2e.stack import rabbit_management
from tests.waiting import wait_until

READERS = 4
CALL_DEADLINE = 10  # the gateway's RPC_TIMEOUT (8 s) is the sooner
STATS_SECONDS = 30  # the management API's statistics come every 5 s


class Load:
    """READERS threads reading sample videos and one adding videos, each with a tag of its own;
    every outcome counted, the acknowledged videos kept."""

    def __init__(self, address: str, sample_videos: list[str]):
        self.channel = grpc.insecure_channel(address)
        self.videos = VideoCatalogServiceStub(self.channel)
        self.sample_videos = sample_videos
        self.outcomes = Counter()
        self.added: dict[str, str] = {}  # tag → video id
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.read, args=(n,)) for n in range(READERS)]
        self.threads.append(threading.Thread(target=self.write))
        for thread in self.threads:
            thread.start()

    def call(self, what: str, method, request) -> bool:
        try:
            method(request, timeout=CALL_DEADLINE)
        except grpc.RpcError as error:
            self.outcomes[f"{what} {error.code().name}"] += 1
            return False
        self.outcomes[f"{what} ok"] += 1
        return True

    def read(self, n: int):
        while not self.stopping.is_set():
            for video_id in self.sample_videos[n::READERS]:
                request = GetVideoRequest(video_id=Uuid(value=video_id))
                self.call("read", self.videos.GetVideo, request)

    def write(self):
        while not self.stopping.is_set():
            tag, request = tagged_video("replicas")
            if self.call("write", self.videos.SubmitYouTubeVideo, request):
                self.added[tag] = request.video_id.value

    def succeeded(self) -> int:
        return self.outcomes["read ok"] + self.outcomes["write ok"]

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(CALL_DEADLINE * 2)
        assert not any(thread.is_alive() for thread in self.threads), "a call hung"


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env:
        yield {**env, "VIDEOS_REPLICAS": "2"}


def redelivered(vhost: str) -> int:
    queue = rabbit_management().get_queue(vhost, "rpc-videos")
    return queue.get("message_stats", {}).get("redeliver", 0)


def kill_until_a_request_is_redelivered(site: MakeRun, vhost: str, load: Load) -> int:
    """Kills videos-2 until the broker has redelivered a request it had handed to it (in flight
    at the kill, or prefetched), at most three times; returns how many kills it took."""
    for kills in range(1, 4):
        before = redelivered(vhost)
        os.kill(site.processes()["videos-2"], signal.SIGKILL)
        site.wait_for("videos-2 restarted", 30)
        answered = load.succeeded()
        wait_until(lambda: load.succeeded() > answered + 200, 60, "calls go on")  # noqa: B023
        try:
            wait_until(lambda: redelivered(vhost) > before, STATS_SECONDS, "a redelivery")  # noqa: B023
        except AssertionError:
            continue
        return kills
    return kills


def test_two_videos_replicas_one_killed_under_load_not_one_call_fails(site_env, record_property):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        processes = site.processes()
        assert {"videos-1", "videos-2"} <= processes.keys() and "videos" not in processes
        assert any(line.startswith("videos-2 ") for line in site.output), "its lines, named"
        assert any("videos (2 replicas)" in line for line in site.output)

        vhost = site_env["AMQP_URI"].rpartition("/")[2]
        types = {q["name"]: q["type"] for q in rabbit_management().get_queues(vhost)}
        # A handler's delay and dead-letter queues are declared at its first failure.
        owned = [queue.name for queue in site_queues() if queue.name in types]
        assert {name for name in owned if ".retry." not in name and ".dead" not in name} == {
            name for name in types if name.startswith(("rpc-", "evt-"))
        }
        assert {types[name] for name in owned} == {"quorum"}

        address = f"127.0.0.1:{site_env['GRPC_BIND_PORT']}"
        load = Load(address, latest_videos(site_env))
        try:
            wait_until(lambda: load.succeeded() >= 200, 60, "calls are answered")
            kills = kill_until_a_request_is_redelivered(site, vhost, load)
        finally:
            load.stop()
        record_property("kills", kills)
        record_property("calls answered", load.succeeded())
        record_property("redelivered requests", redelivered(vhost))
        assert redelivered(vhost) > 0, "no request was redelivered: the test proved nothing"
        failed = {what: n for what, n in load.outcomes.items() if not what.endswith(" ok")}
        assert failed == {}, "every call answered, the redelivered ones too"

        with grpc.insecure_channel(address) as channel:
            videos, search = VideoCatalogServiceStub(channel), SearchServiceStub(channel)
            for video_id in load.added.values():
                videos.GetVideo(GetVideoRequest(video_id=Uuid(value=video_id)), timeout=10)

            def indexed_once(tag) -> bool:
                reply = search.SearchVideos(SearchVideosRequest(query=tag, page_size=5), timeout=10)
                return [v.video_id.value for v in reply.videos] == [load.added[tag]]

            wait_until(
                lambda: all(indexed_once(tag) for tag in load.added), 60, "every video indexed once"
            )
        record_property("videos added", len(load.added))
    finally:
        site.interrupt()
