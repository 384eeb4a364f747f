"""examples/event_consumer.py, a plain kombu consumer, sees the services' events on RabbitMQ."""

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from amqp.exceptions import NotFound, ResourceLocked
from cassandra.util import uuid_from_time
from kombu import Connection, Queue
from nameko import config as nameko_config
from nameko.standalone.events import event_dispatcher

from services.comments.service import CommentsService
from services.ratings.service import RatingsService

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_consumer_prints_each_event_as_a_json_line(start_services, rpc_client):
    start_services(RatingsService, CommentsService)
    consumer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "examples.event_consumer",
            "--queue",
            "example-test",
            "--count",
            "2",
        ],
        cwd=ROOT,
        env={"AMQP_URI": nameko_config["AMQP_URI"], "PATH": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Its queue and bindings exist once it says so: events published after are its to see.
        assert consumer.stderr.readline().startswith("ready")
        video_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
        rpc_client("ratings").rate_video(video_id=video_id, user_id=user_id, rating=4)
        rpc_client("comments").comment_on_video(
            video_id=video_id, user_id=user_id, comment_id=str(uuid_from_time(1e9)), comment="hi"
        )
        out, _ = consumer.communicate(timeout=30)
    finally:
        consumer.kill()

    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["source"], e["event"]) for e in events] == [
        ("ratings", "user_rated_video"),
        ("comments", "user_commented_on_video"),
    ]
    assert events[0]["payload"]["rating"] == 4
    assert events[1]["payload"]["video_id"] == video_id


def start_consumer(*args):
    consumer = subprocess.Popen(
        [sys.executable, "-m", "examples.event_consumer", *args],
        cwd=ROOT,
        env={"AMQP_URI": nameko_config["AMQP_URI"], "PATH": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = consumer.stderr.readline()
    assert ready.startswith("ready: consuming "), ready + consumer.stderr.read()
    return consumer, ready.removeprefix("ready: consuming ").strip()


def queue_exists(name: str) -> bool:
    with Connection(nameko_config["AMQP_URI"]) as connection:
        try:
            Queue(name)(connection.channel()).queue_declare(passive=True)
        except NotFound:
            return False
        except ResourceLocked:  # another connection's exclusive queue: it is there
            return True
    return True


def test_by_default_the_consumer_s_queue_goes_away_when_it_exits(rabbit_config):
    consumer, queue_name = start_consumer("--count", "1")
    try:
        assert queue_exists(queue_name)
        event_dispatcher()("ratings", "user_rated_video", {"rating": 4})
        out, _ = consumer.communicate(timeout=30)
    finally:
        consumer.kill()
    assert json.loads(out)["payload"] == {"rating": 4}
    assert not queue_exists(queue_name)


@pytest.mark.parametrize(("args", "stays"), [([], False), (["--durable"], True)])
def test_stopped_with_ctrl_c_its_queue_goes_away_unless_durable(rabbit_config, args, stays):
    consumer, queue_name = start_consumer("--queue", "example-test", *args)
    try:
        consumer.send_signal(signal.SIGINT)
        assert consumer.wait(timeout=30) == 0
    finally:
        consumer.kill()
    assert queue_exists(queue_name) is stays
    if stays:
        # And it collects what is published while its consumer is away.
        event_dispatcher()("comments", "user_commented_on_video", {"comment": "hi"})
        consumer, _ = start_consumer("--queue", "example-test", "--durable", "--count", "1")
        out, _ = consumer.communicate(timeout=30)
        assert json.loads(out)["payload"] == {"comment": "hi"}
