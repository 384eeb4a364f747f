"""`make run` in a subprocess, as a newcomer runs it, for the end-to-end tests of the launcher.

Each site runs on free ports, a throwaway RabbitMQ vhost and a temporary var/ (through the
environment variables config.yaml reads), so it disturbs no site running on this machine.
"""

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest

from killrvideo.statistics.statistics_service_pb2 import GetNumberOfPlaysRequest
from killrvideo.statistics.statistics_service_pb2_grpc import StatisticsServiceStub
from killrvideo.video_catalog.video_catalog_service_pb2 import GetLatestVideoPreviewsRequest
from killrvideo.video_catalog.video_catalog_service_pb2_grpc import VideoCatalogServiceStub
from scripts.processes import ROOT, STOP_DEADLINE_SECONDS, start_time
from tests.e2e.stack import free_port, throwaway_vhost

READY_SECONDS = 180  # a first start installs nothing here, but loads the sample data
# The launcher stops the gateway, then the services, then localcql, giving each phase
# STOP_DEADLINE_SECONDS before SIGKILL; then it and make exit (slowly on a loaded 2-core machine).
STOP_SECONDS = 3 * STOP_DEADLINE_SECONDS + 30


class MakeRun:
    """`make run` in a session of its own; its output lines arrive on a queue."""

    def __init__(self, env):
        self.env = env
        self.popen = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines = queue.Queue()
        self.output = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None or time.monotonic() > deadline:
                pytest.fail(
                    f"no {text!r} within {seconds}s; output:\n{''.join(self.output)[-6000:]}"
                )
            if text in line:
                return

    def children(self) -> set[int]:
        """Every process of the launcher's tree (make, the launcher, the services...)."""
        tree, frontier = set(), {self.popen.pid}
        while frontier:
            tree |= frontier
            frontier = {
                int(pid)
                for pid in os.listdir("/proc")
                if pid.isdigit() and parent_of(int(pid)) in frontier
            } - tree
        return tree

    def processes(self) -> dict[str, int]:
        """The launcher's children by name, as it records them in its var dir."""
        record = json.loads((Path(self.env["KILLRVIDEO_VAR_DIR"]) / "run.json").read_text())
        return {child["name"]: child["pid"] for child in record["children"]}

    def launcher(self) -> int:
        record = json.loads((Path(self.env["KILLRVIDEO_VAR_DIR"]) / "run.json").read_text())
        return record["launcher"]["pid"]

    def interrupt(self) -> int:
        """Ctrl-C at the terminal: SIGINT to the foreground process group."""
        os.killpg(self.popen.pid, signal.SIGINT)
        return self.popen.wait(STOP_SECONDS)


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie does not; one that ends while it is read does not)."""
    return start_time(pid) is not None


@contextlib.contextmanager
def site_environment(var_dir: Path):
    """The environment of a site of its own: free ports, a throwaway vhost, `var_dir`."""
    with throwaway_vhost() as amqp_uri:
        yield {
            **os.environ,
            "AMQP_URI": amqp_uri,
            "GRPC_BIND_PORT": str(free_port()),
            "CASSANDRA_PORT": str(free_port()),
            "KILLRVIDEO_VAR_DIR": str(var_dir),
        }


def latest_videos(env) -> list[str]:
    with grpc.insecure_channel(f"127.0.0.1:{env['GRPC_BIND_PORT']}") as channel:
        reply = VideoCatalogServiceStub(channel).GetLatestVideoPreviews(
            GetLatestVideoPreviewsRequest(page_size=50), timeout=10
        )
        plays = StatisticsServiceStub(channel).GetNumberOfPlays(
            GetNumberOfPlaysRequest(video_ids=[v.video_id for v in reply.video_previews[:20]]),
            timeout=10,
        )
    assert sum(stats.views for stats in plays.stats) > 0, "the sample data has plays"
    return sorted(video.video_id.value for video in reply.video_previews)
