"""RabbitMQ stopped and started again while writes run through the gateway (`make faults`: it
restarts this machine's broker, so `make test` leaves it out).

Every call succeeds or fails cleanly within its deadline; the services and the gateway reconnect
on their own within 15 s of the broker's return; every acknowledged comment is stored, and every
acknowledged video's event reaches the search index."""

import os
import shutil
import subprocess

import pytest

from tests.e2e.stack import running_stack
from tests.e2e.test_faults import (
    CLEAN_FAILURES,
    CommentLoad,
    assert_nothing_lost_and_only_clean_failures,
)
from tests.e2e.writes import VideoWrites
from tests.waiting import wait_until

RECONNECT_SECONDS = 15

pytestmark = pytest.mark.skipif(
    os.environ.get("KILLRVIDEO_FAULTS") != "1" or shutil.which("rabbitmqctl") is None,
    reason="restarts this machine's RabbitMQ: run by `make faults`",
)


def rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_a_broker_restart_under_load_loses_nothing(record_property):
    with (
        running_stack(rpc_timeout=3.0) as stack,
        CommentLoad(stack.address) as comments,
        VideoWrites(stack.address) as videos,
    ):
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
        again = comments.wait_for_more(
            10, RECONNECT_SECONDS, "the services and the gateway reconnect on their own"
        )
        record_property("writes again after (s)", again)
        videos.stop()
        comments.stop()
        assert_nothing_lost_and_only_clean_failures(comments, record_property)
        assert set(videos.failures) <= CLEAN_FAILURES, videos.failures
        record_property("videos acknowledged", len(videos.acknowledged))
        lost = videos.events_lost(within=30)
        record_property("events lost", lost)
        assert lost == 0, "an acknowledged video's event never reached the search index"
