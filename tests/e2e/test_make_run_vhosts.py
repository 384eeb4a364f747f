"""One site per RabbitMQ vhost: a second `make run` on a vhost that a site already serves is
refused before it starts anything, and docs/operating.md's recipe for a second site (its own vhost,
created by `make run`) runs two sites side by side that each answer only for themselves."""

import subprocess
import uuid
from urllib.parse import urlsplit

import grpc
import pytest

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog.video_catalog_service_pb2 import GetVideoRequest
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from scripts.processes import ROOT
from scripts.run import READY_LINE
from tests.e2e.make_run import (
    READY_SECONDS,
    MakeRun,
    alive,
    latest_videos,
    site_environment,
)
from tests.e2e.stack import free_port, rabbit_management

CALLS_PER_VIDEO = 4  # two sites sharing a vhost answer about half of them from the wrong one


@pytest.fixture
def first_env(tmp_path):
    with site_environment(tmp_path / "first") as env:
        yield env


@pytest.fixture
def own_vhost_env(first_env, tmp_path):
    """docs/operating.md's second site: other ports, var dir and a vhost nobody created."""
    vhost = f"kv_e2e_{uuid.uuid4().hex[:12]}"
    base = urlsplit(first_env["AMQP_URI"])
    yield {
        **first_env,
        "AMQP_URI": base._replace(path=f"/{vhost}").geturl(),
        "GRPC_BIND_PORT": str(free_port()),
        "CASSANDRA_PORT": str(free_port()),
        "KILLRVIDEO_VAR_DIR": str(tmp_path / "second"),
    }
    if vhost in {v["name"] for v in rabbit_management().get_all_vhosts()}:
        rabbit_management().delete_vhost(vhost)


def found(env, video_id: str) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{env['GRPC_BIND_PORT']}") as channel:
        try:
            VideoCatalogServiceStub(channel).GetVideo(
                GetVideoRequest(video_id=Uuid(value=video_id)), timeout=10
            )
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error
            return False
    return True


def test_one_site_per_vhost(first_env, own_vhost_env):
    first = MakeRun(first_env)
    try:
        first.wait_for(READY_LINE, READY_SECONDS)
        first_processes = first.processes()

        same_vhost = {**own_vhost_env, "AMQP_URI": first_env["AMQP_URI"]}
        refused = subprocess.run(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=same_vhost,
            capture_output=True,
            text=True,
            timeout=READY_SECONDS,
        )
        assert refused.returncode != 0
        vhost = urlsplit(first_env["AMQP_URI"]).path.lstrip("/")
        assert f"RabbitMQ vhost {vhost!r} already serves a site" in refused.stderr
        assert "rpc-videos has 1 consumer(s)" in refused.stderr
        assert "localcql ready" not in refused.stdout, "refused before starting anything"
        assert first.processes() == first_processes, "the first site is untouched"
        assert all(alive(pid) for pid in first_processes.values())
        first_videos = latest_videos(first_env)

        second = MakeRun(own_vhost_env)
        try:
            second.wait_for(READY_LINE, READY_SECONDS)
            second_videos = latest_videos(own_vhost_env)
            for video_id in first_videos:
                for _ in range(CALLS_PER_VIDEO):
                    assert found(first_env, video_id) and not found(own_vhost_env, video_id)
            for video_id in second_videos:
                for _ in range(CALLS_PER_VIDEO):
                    assert found(own_vhost_env, video_id) and not found(first_env, video_id)
        finally:
            second.interrupt()
    finally:
        first.interrupt()
