"""`@on_event` on real RabbitMQ: a failed event is retried with backoff, then kept as a dead letter
that an operator can see and replay; nothing is dropped."""

import contextlib
import gc
import socket
import uuid

import amqp
import pytest
from marshmallow import Schema, fields
from nameko import config as nameko_config
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from services.common.dead_letters import DeadLetters, handler_queue_names
from services.common.events import Event
from services.common.handlers import on_event, retry_queue_name
from tests.waiting import wait_until

THING_HAPPENED = Event("thing_happened", type("ThingPayload", (Schema,), {"id": fields.UUID()}))
RETRY_DELAYS = [0.05, 0.1]


class Flaky:
    """Fails the first `failures_left` deliveries, then records what it handled."""

    name = "flaky"
    failures_left = 0
    handled: list = []  # shared by the test and the service's workers on purpose

    @on_event("source", THING_HAPPENED)
    def handle(self, payload):
        if Flaky.failures_left > 0:
            Flaky.failures_left -= 1
            raise RuntimeError("the index table is unavailable")
        Flaky.handled.append(payload["id"])


@pytest.fixture
def flaky(rabbit_config, runner_factory):
    Flaky.failures_left = 0
    Flaky.handled = []
    with nameko_config.patch({"EVENT_RETRY_DELAYS": RETRY_DELAYS}):
        runner = runner_factory(Flaky)
        runner.start()
        yield runner.service_map["flaky"]


def succeeded(worker_ctx, result, exc_info):
    return exc_info is None


def publish(payload):
    event_dispatcher()("source", THING_HAPPENED.name, payload)


def dead_letters():
    return DeadLetters(handler_queues=list(handler_queue_names(Flaky)))


def test_the_queue_names_are_nameko_s():
    assert list(handler_queue_names(Flaky)) == ["evt-source-thing_happened--flaky.handle"]
    assert (
        retry_queue_name("evt-source-thing_happened--flaky.handle", 0.05)
        == "evt-source-thing_happened--flaky.handle.retry.50ms"
    )


def test_the_handler_gets_the_payload_loaded_with_the_event_schema(flaky):
    thing_id = uuid.uuid4()
    with entrypoint_waiter(flaky, "handle", callback=succeeded, timeout=10):
        publish({"id": str(thing_id)})
    assert Flaky.handled == [thing_id]


def test_a_handler_that_fails_is_retried_until_it_succeeds(flaky):
    Flaky.failures_left = len(RETRY_DELAYS)
    thing_id = uuid.uuid4()
    with entrypoint_waiter(flaky, "handle", callback=succeeded, timeout=10):
        publish({"id": str(thing_id)})
    assert Flaky.failures_left == 0
    assert Flaky.handled == [thing_id]
    assert dead_letters().counts() == {"evt-source-thing_happened--flaky.handle": 0}


def test_an_event_that_keeps_failing_becomes_a_dead_letter_and_can_be_replayed(flaky):
    Flaky.failures_left = len(RETRY_DELAYS) + 1
    thing_id = uuid.uuid4()
    last_attempt = len(RETRY_DELAYS) + 1
    attempts = iter(range(1, last_attempt + 1))
    with entrypoint_waiter(
        flaky, "handle", callback=lambda *_: next(attempts) == last_attempt, timeout=10
    ):
        publish({"id": str(thing_id)})

    queue = "evt-source-thing_happened--flaky.handle"
    wait_for_dead_letters(queue, 1)
    [letter] = dead_letters().show(queue)
    assert letter.payload == {"id": str(thing_id)}
    assert letter.attempts == last_attempt
    assert "the index table is unavailable" in letter.error
    assert Flaky.handled == []

    with entrypoint_waiter(flaky, "handle", callback=succeeded, timeout=10):
        assert dead_letters().replay() == 1
    assert Flaky.handled == [thing_id]
    assert dead_letters().counts() == {queue: 0}


def test_a_payload_that_breaks_the_schema_goes_straight_to_the_dead_letters(flaky):
    queue = "evt-source-thing_happened--flaky.handle"
    publish({"id": "not a uuid"})
    wait_for_dead_letters(queue, 1)
    [letter] = dead_letters().show(queue)
    assert letter.attempts == 1
    assert "invalid payload" in letter.error
    assert Flaky.handled == []


def wait_for_dead_letters(queue, count, seconds=10):
    """The dead letter is published after the last attempt's worker ends: wait with a deadline."""
    wait_until(lambda: dead_letters().counts().get(queue) == count, seconds, f"{count} in {queue}")


class Picky:
    """Fails on the ids in `unavailable` (its table for them is down, say), handles the rest."""

    name = "picky"
    unavailable: set = set()  # shared by the test and the service's workers on purpose
    handled: list = []

    @on_event("source", THING_HAPPENED)
    def handle(self, payload):
        if payload["id"] in Picky.unavailable:
            raise RuntimeError("unavailable for a while")
        Picky.handled.append(payload["id"])


class Steady:
    """Another subscriber of the same event, which never fails."""

    name = "steady"
    handled: list = []

    @on_event("source", THING_HAPPENED)
    def handle(self, payload):
        Steady.handled.append(payload["id"])


def test_a_handler_failing_for_a_while_blocks_nothing_and_loses_nothing(
    rabbit_config, runner_factory
):
    poison, fine = uuid.uuid4(), uuid.uuid4()
    Picky.unavailable, Picky.handled, Steady.handled = {poison}, [], []
    # A retry delay far longer than the test's waits: the event waits in its delay queue.
    with nameko_config.patch({"EVENT_RETRY_DELAYS": [3]}):
        runner = runner_factory(Picky, Steady)
        runner.start()
        picky = runner.service_map["picky"]
        with entrypoint_waiter(picky, "handle", callback=lambda *a: a[2] is not None, timeout=10):
            publish({"id": str(poison)})
        with entrypoint_waiter(picky, "handle", callback=succeeded, timeout=2):
            publish({"id": str(fine)})
        # The failing event neither held up the next one nor the other subscriber.
        assert Picky.handled == [fine]
        wait_until(lambda: Steady.handled == [poison, fine], 5, "the other subscriber had both")
        Picky.unavailable = set()  # the table is back
        wait_until(lambda: Picky.handled == [fine, poison], 10, "the failed event was retried")


class CutOff:
    """Its handler's process loses every broker connection just as the handler returns."""

    name = "cut_off"
    handled: list = []

    @on_event("source", THING_HAPPENED)
    def handle(self, payload):
        CutOff.handled.append(payload["id"])
        if len(CutOff.handled) == 1:
            break_every_broker_connection()


def break_every_broker_connection():
    """The network to RabbitMQ fails under the whole process: each live AMQP connection's socket
    is shut down, with no AMQP close, so the next write on it fails as on a dead link. A
    connection whose broker already dropped it (its test's vhost is gone) may refuse the
    shutdown as not connected: it is as broken as this makes the others."""
    for connection in gc.get_objects():
        # type(), not isinstance(): isinstance asks a weak proxy for its class, which raises
        # ReferenceError once its object is gone (the connections themselves are listed too).
        if issubclass(type(connection), amqp.Connection) and connection.connected:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)


def test_a_connection_lost_as_a_handler_finishes_costs_neither_the_service_nor_the_event(
    rabbit_config, runner_factory
):
    first, second = uuid.uuid4(), uuid.uuid4()
    CutOff.handled = []
    runner = runner_factory(CutOff)
    runner.start()
    publish({"id": str(first)})
    # The ack of the first delivery failed: the broker delivers it again after reconnection.
    wait_until(lambda: CutOff.handled == [first, first], 20, "the event came again")
    # And the service is still running: it handles what comes next.
    publish({"id": str(second)})
    wait_until(lambda: CutOff.handled == [first, first, second], 10, "the next event is handled")
