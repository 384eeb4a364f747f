"""Request deadlines (services.common.deadlines) through the RPC entrypoint, on the real broker:
a request whose caller's deadline has passed is dropped, not run; nameko's own clients pass a
deadline on; the events a request publishes do not carry it."""

import logging
import time

import eventlet
import pytest
from marshmallow import Schema, fields
from nameko import config as nameko_config
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import ServiceRpc
from nameko.standalone.rpc import ServiceRpcClient
from nameko.testing.services import entrypoint_waiter

from services.common import deadlines
from services.common.errors import DeadlineExceeded
from services.common.events import Event, EventPublisher
from services.common.rpc import rpc
from tests.waiting import wait_until


class DeadlineSeen(DependencyProvider):
    """Records the deadline each worker's request carried."""

    seen = []

    def worker_setup(self, worker_ctx):
        self.seen.append(deadlines.deadline_of(worker_ctx.data))


class Recording:
    name = "recording"
    calls = []
    proceed = eventlet.event.Event()

    @rpc
    def record(self, value):
        self.calls.append(value)
        return value

    @rpc
    def hold(self, value):
        self.calls.append(value)
        self.proceed.wait()
        return value


@pytest.fixture(autouse=True)
def fresh_records():
    Recording.calls = []
    Recording.proceed = eventlet.event.Event()
    DeadlineSeen.seen = []


@pytest.fixture
def client_with():
    clients = []

    def connect(service_name: str, context_data: dict):
        client = ServiceRpcClient(service_name, context_data=context_data, timeout=10)
        clients.append(client)
        return client.start()

    yield connect
    for client in clients:
        client.stop()


def test_a_request_past_its_deadline_is_dropped_logged_counted_and_answered(
    rabbit_config, container_factory, client_with, caplog
):
    container_factory(Recording).start()
    dropped_before = deadlines.dropped["recording.record"]
    late = client_with("recording", deadlines.within(-1))  # a clock ahead, or a long queue
    with (
        caplog.at_level(logging.WARNING, "services.common.rpc"),
        pytest.raises(DeadlineExceeded, match=r"recording\.record: the caller's deadline"),
    ):
        late.record("late")
    assert Recording.calls == []
    assert deadlines.dropped["recording.record"] == dropped_before + 1
    [line] = [r.getMessage() for r in caplog.records if r.name == "services.common.rpc"]
    assert line.startswith("dropped a request to recording.record: its deadline passed")
    assert client_with("recording", deadlines.within(5)).record("in time") == "in time"
    assert client_with("recording", {}).record("no deadline") == "no deadline"


def test_a_request_waiting_for_a_free_worker_is_dropped_at_its_deadline(
    rabbit_config, container_factory, client_with
):
    with nameko_config.patch({"max_workers": 1}):
        container_factory(Recording).start()
    first = client_with("recording", {}).hold.call_async("first")
    wait_until(lambda: Recording.calls == ["first"], 5, "the only worker busy")
    started = time.monotonic()
    second = client_with("recording", deadlines.within(0.5)).record.call_async("second")
    with pytest.raises(DeadlineExceeded):
        second.result()
    # Answered at its deadline, while the only worker is still busy.
    assert time.monotonic() - started < 5
    Recording.proceed.send()
    assert first.result() == "first"
    assert Recording.calls == ["first"]


class Downstream:
    name = "downstream"
    seen = DeadlineSeen()

    @rpc
    def answer(self):
        return "answered"


class Upstream:
    name = "upstream"
    seen = DeadlineSeen()
    downstream = ServiceRpc("downstream")

    @rpc
    def ask(self):
        return self.downstream.answer()


def test_a_service_calling_another_passes_its_deadline_on(
    rabbit_config, container_factory, client_with
):
    container_factory(Downstream).start()
    container_factory(Upstream).start()
    context = deadlines.within(5)
    assert client_with("upstream", context).ask() == "answered"
    assert DeadlineSeen.seen == [context[deadlines.DEADLINE_KEY]] * 2


class Note(Schema):
    text = fields.String(required=True)


NOTED = Event("noted", Note)


class Announcing:
    name = "announcing"
    publish = EventPublisher()

    @rpc
    def announce(self, text):
        self.publish(NOTED, {"text": text})


class Listening:
    name = "listening"
    seen = DeadlineSeen()

    @event_handler("announcing", NOTED.name)
    def handle(self, payload):
        return payload["text"]


def test_an_event_published_by_a_request_does_not_carry_its_deadline(
    rabbit_config, container_factory, client_with
):
    container_factory(Announcing).start()
    listening = container_factory(Listening)
    listening.start()
    with entrypoint_waiter(listening, "handle", timeout=10) as handled:
        client_with("announcing", deadlines.within(5)).announce("hello")
    assert handled.get() == "hello"
    assert DeadlineSeen.seen == [None]
