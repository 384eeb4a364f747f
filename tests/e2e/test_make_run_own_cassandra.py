"""`make run` against the operator's own Cassandra (CASSANDRA_CONTACT_POINTS set): it applies the
schema, loads the sample data there and starts no localcql; once that database has been down for
35 s and is back, the site serves again within 5 s. Here that database is a localcql the test
starts, as an operator's cluster would be already running."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from killrvideo.statistics.statistics_service_pb2 import RecordPlaybackStartedRequest
from killrvideo.statistics.statistics_service_pb2_grpc import StatisticsServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2 import (
    GetLatestVideoPreviewsRequest,
    GetVideoRequest,
)
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from localcql.testing import running_localcql, running_server
from scripts.run import READY_LINE
from tests.e2e.conftest import BACK_WITHIN_SECONDS, OUTAGE_SECONDS, seconds_until_answered
from tests.e2e.make_run import READY_SECONDS, MakeRun, latest_videos, site_environment
from tests.e2e.stack import free_port, localcql_command


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env, running_localcql(in_memory=True) as cql:
        host, port = cql
        yield {**env, "CASSANDRA_CONTACT_POINTS": host, "CASSANDRA_PORT": str(port)}


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def test_make_run_uses_the_cassandra_it_is_given_and_starts_no_localcql(site_env):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        assert len(latest_videos(site_env)) == 12, "the sample data, in the given database"
        assert "localcql" not in site.processes()
        assert not [pid for pid in site.children() if "-m localcql" in command_line(pid)]
        address = f"{site_env['CASSANDRA_CONTACT_POINTS']}:{site_env['CASSANDRA_PORT']}"
        assert f"Cassandra (CASSANDRA_CONTACT_POINTS): {address}" in "".join(site.output)
    finally:
        site.interrupt()


def test_make_run_serves_again_soon_after_its_cassandra_was_down_for_35s(tmp_path):
    port = free_port()
    database = localcql_command(port, tmp_path / "cassandra")  # durable: the data outlives it
    with site_environment(tmp_path / "var") as env:
        env = {**env, "CASSANDRA_CONTACT_POINTS": "127.0.0.1", "CASSANDRA_PORT": str(port)}
        site = None
        try:
            with running_server(database):
                site = MakeRun(env)
                site.wait_for(READY_LINE, READY_SECONDS)
                video_id = first_video_id(env)
            seconds = seconds_to_serve_after_an_outage(env, video_id, database)
            assert all(s is not None and s < BACK_WITHIN_SECONDS for s in seconds), seconds
        finally:
            if site is not None:
                site.interrupt()


def first_video_id(env):
    with grpc.insecure_channel(f"127.0.0.1:{env['GRPC_BIND_PORT']}") as channel:
        latest = VideoCatalogServiceStub(channel).GetLatestVideoPreviews(
            GetLatestVideoPreviewsRequest(page_size=1), timeout=10
        )
        return latest.video_previews[0].video_id


def seconds_to_serve_after_an_outage(env, video_id, database) -> list[float | None]:
    """With the database stopped, OUTAGE_SECONDS of calls answered UNAVAILABLE; then the seconds
    from its return until GetVideo and RecordPlaybackStarted answer."""
    down_since = time.monotonic()
    with grpc.insecure_channel(f"127.0.0.1:{env['GRPC_BIND_PORT']}") as channel:
        videos, statistics = VideoCatalogServiceStub(channel), StatisticsServiceStub(channel)
        while time.monotonic() - down_since < OUTAGE_SECONDS:
            with pytest.raises(grpc.RpcError) as failed:
                videos.GetVideo(GetVideoRequest(video_id=video_id), timeout=10)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
            time.sleep(1)  # a caller's pace, not a wait for anything
        calls = [
            (videos.GetVideo, GetVideoRequest(video_id=video_id)),
            (statistics.RecordPlaybackStarted, RecordPlaybackStartedRequest(video_id=video_id)),
        ]
        with running_server(database), ThreadPoolExecutor(len(calls)) as pool:
            back = time.monotonic()
            return list(pool.map(lambda call: seconds_until_answered(*call, back, 60), calls))
