"""No orphans: however `make run`'s launcher ends (the terminal closed: SIGHUP; kill -9), no
process of its site is left after 10 s, and `make stop` and the next `make run` work after it."""

import os
import signal
import subprocess

import pytest

from scripts.processes import ROOT
from scripts.run import READY_LINE
from tests.e2e.make_run import (
    READY_SECONDS,
    MakeRun,
    alive,
    latest_videos,
    site_environment,
)
from tests.waiting import wait_until

GONE_SECONDS = 10


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env:
        yield env


def running(pids: set[int]) -> set[int]:
    return {pid for pid in pids if alive(pid)}


def test_a_closed_terminal_stops_the_site_cleanly(site_env):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        started = site.children()
        # What the terminal's session does when it closes: SIGHUP to the foreground job.
        os.killpg(site.popen.pid, signal.SIGHUP)
        wait_until(lambda: not running(started), GONE_SECONDS, "every process of the site ended")
        site.wait_for("Stopped.", GONE_SECONDS)  # in order, as on Ctrl-C
    finally:
        site.interrupt()


def test_a_killed_launcher_leaves_nothing_and_the_site_starts_again(site_env):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        started = site.children()
        os.kill(site.launcher(), signal.SIGKILL)
        stopping = subprocess.run(
            ["make", "--no-print-directory", "stop"],
            cwd=ROOT,
            env=site_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stopping.returncode == 0, stopping.stdout + stopping.stderr
        wait_until(lambda: not running(started), GONE_SECONDS, "every process of the site ended")
    finally:
        site.interrupt()

    again = MakeRun(site_env)  # on the same ports and var dir: nothing holds them
    try:
        again.wait_for(READY_LINE, READY_SECONDS)
        assert len(latest_videos(site_env)) == 12
    finally:
        again.interrupt()
