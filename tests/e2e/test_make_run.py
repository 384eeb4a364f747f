"""`make run` as a newcomer runs it, in a subprocess: ready within a deadline, sample data served
through the gateway, Ctrl-C stops every process it started, and a second run keeps the data.
"""

import signal

import pytest

from scripts.run import READY_LINE
from tests.e2e.make_run import READY_SECONDS, MakeRun, alive, latest_videos, site_environment


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env:
        yield env


def test_make_run_serves_sample_data_stops_cleanly_and_keeps_the_data(site_env):
    first = MakeRun(site_env)
    try:
        first.wait_for(READY_LINE, READY_SECONDS)
        videos = latest_videos(site_env)
        assert len(videos) == 12
        started = first.children()
        assert len(started) >= 10  # make, the launcher, localcql, 7 services, the gateway
    finally:
        exit_code = first.interrupt()
    # make itself dies of the SIGINT once its recipe has ended, as at a terminal.
    assert exit_code in (0, -signal.SIGINT), "".join(first.output)[-4000:]
    assert not [pid for pid in started if alive(pid)], "every process it started is gone"
    assert "Stopped." in "".join(first.output)

    second = MakeRun(site_env)
    try:
        second.wait_for(READY_LINE, READY_SECONDS)
        assert latest_videos(site_env) == videos, "the same data, not loaded twice"
        assert "Sample data: already loaded" in "".join(second.output)
    finally:
        second.interrupt()
