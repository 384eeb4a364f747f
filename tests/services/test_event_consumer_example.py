"""examples/event_consumer.py, a plain kombu consumer, sees the services' events on RabbitMQ."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

from cassandra.util import uuid_from_time
from nameko import config as nameko_config

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
