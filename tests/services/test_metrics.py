"""services.common.metrics on real RabbitMQ and localcql: what a service's workers, event handlers
and database queries count, and the /metrics page that serves it."""

import logging
import threading
import urllib.request
import uuid

import pytest
from marshmallow import Schema, fields
from nameko import config as nameko_config
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from prometheus_client import REGISTRY

from scripts.monitoring import free_port
from services.common import deadlines, metrics, tracing
from services.common.errors import NotFound
from services.common.events import Event
from services.common.handlers import on_event
from services.common.metrics import Metrics
from services.videos.service import VideosService
from tests.waiting import wait_until

THING_HAPPENED = Event("thing_happened", type("ThingPayload", (Schema,), {"id": fields.UUID()}))


class AlwaysFailing:
    name = "always_failing"
    metrics = Metrics()

    @on_event("source", THING_HAPPENED)
    def handle(self, payload):
        raise RuntimeError("the index table is unavailable")


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics_on():
    with nameko_config.patch({"METRICS_PORT": free_port("127.0.0.1")}):
        yield


def test_a_service_counts_its_rpc_calls_and_their_queries_and_serves_them(
    metrics_on, start_services, rpc_client
):
    start_services(VideosService)
    videos = rpc_client("videos")
    ok = {"service": "videos", "method": "get_video", "outcome": "ok"}
    not_found = {**ok, "outcome": "NotFound"}
    query = {"service": "videos", "statement": "select videos", "outcome": "ok"}
    before = [sample("killrvideo_rpc_requests_total", **labels) for labels in (ok, not_found)]
    queries_before = sample("killrvideo_cql_queries_total", **query)

    with pytest.raises(NotFound):
        videos.get_video(video_id=str(uuid.uuid4()))

    # nameko answers a call before its dependencies' worker_result hooks run, which count it.
    wait_until(
        lambda: sample("killrvideo_rpc_requests_total", **not_found) == before[1] + 1,
        5,
        "the NotFound call counted",
    )
    assert sample("killrvideo_rpc_requests_total", **ok) == before[0]
    assert sample("killrvideo_cql_queries_total", **query) == queries_before + 1
    assert sample("killrvideo_cql_hosts_up", service="videos") == 1
    assert sample("killrvideo_workers_busy", service="videos") == 0
    served = urllib.request.urlopen(f"http://127.0.0.1:{metrics._serving_port}/metrics")
    assert b'killrvideo_rpc_requests_total{method="get_video",outcome="NotFound"' in served.read()


def test_a_failing_handler_counts_each_failure_retry_and_dead_letter(
    metrics_on, rabbit_config, runner_factory
):
    with nameko_config.patch({"EVENT_RETRY_DELAYS": [0.05]}):
        runner = runner_factory(AlwaysFailing)
        runner.start()
        container = runner.service_map["always_failing"]
        labels = {"service": "always_failing", "handler": "handle", "event": "thing_happened"}
        failed = {**labels, "outcome": "RuntimeError"}
        before = sample("killrvideo_events_handled_total", **failed)
        attempts = iter(range(1, 3))
        with entrypoint_waiter(container, "handle", callback=lambda *_: next(attempts) == 2):
            event_dispatcher()("source", THING_HAPPENED.name, {"id": str(uuid.uuid4())})
        dead = {**labels, "to": "dead"}
        # Handed on after the worker's result: wait for the dead letter's count.
        wait_until(lambda: sample("killrvideo_events_failed_total", **dead), 10, "dead-lettered")
    assert sample("killrvideo_events_handled_total", **failed) == before + 2
    assert sample("killrvideo_events_failed_total", **{**labels, "to": "retry"}) >= 1


def test_requests_dropped_as_expired_are_exposed():
    before = sample("killrvideo_rpc_requests_expired_total", service="videos", method="get_video")
    deadlines.dropped["videos.get_video"] += 1
    after = sample("killrvideo_rpc_requests_expired_total", service="videos", method="get_video")
    assert after == before + 1


def test_a_lost_broker_connection_is_counted_from_the_consumer_s_line():
    handler = metrics.BrokerLinkLog("lost_broker")
    record = logging.LogRecord(
        "kombu.mixins",
        logging.WARNING,
        "",
        0,
        "Connection to broker lost, trying to re-establish connection...",
        (),
        None,
    )
    handler.emit(record)
    handler.emit(logging.LogRecord("kombu.mixins", logging.WARNING, "", 0, "other", (), None))
    assert sample("killrvideo_broker_connection_errors_total", service="lost_broker") == 1


@pytest.mark.parametrize(
    ("cql", "label"),
    [
        ("SELECT * FROM videos WHERE videoid = ?", "select videos"),
        ("select a, b from killrvideo.user_videos where userid = ?", "select user_videos"),
        ("INSERT INTO comments_by_video (a) VALUES (?) IF NOT EXISTS", "insert comments_by_video"),
        (
            "UPDATE video_playback_stats SET views = views + 1 WHERE videoid = ?",
            "update video_playback_stats",
        ),
        ("DELETE FROM tags_by_letter WHERE first_letter = ?", "delete tags_by_letter"),
        ("BEGIN BATCH INSERT INTO a (x) VALUES (1); APPLY BATCH", "batch"),
    ],
)
def test_a_statement_is_labelled_by_its_verb_and_table(cql, label):
    assert metrics.statement_label(cql) == label


def test_with_metrics_and_tracing_off_a_service_records_and_starts_nothing(
    start_services, rpc_client, monkeypatch
):
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    threads_before = {thread.name for thread in threading.enumerate()}
    serving_before = metrics._serving_port
    not_found = {"service": "videos", "method": "get_video", "outcome": "NotFound"}
    before = sample("killrvideo_rpc_requests_total", **not_found)

    start_services(VideosService)
    with pytest.raises(NotFound):
        rpc_client("videos").get_video(video_id=str(uuid.uuid4()))

    assert sample("killrvideo_rpc_requests_total", **not_found) == before, "nothing recorded"
    assert metrics._serving_port == serving_before, "no /metrics server started"
    assert tracing._tracer is None, "no tracer provider"
    new_threads = {thread.name for thread in threading.enumerate()} - threads_before
    assert not [name for name in new_threads if "Otel" in name or "serve_forever" in name]
