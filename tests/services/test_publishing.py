"""Publishing through the producer_pools and direct_replies speed-ups (services.common.speedups),
nameko's and direct, on the real broker (tests/conftest.py installs them)."""

import socket
import time

import amqp
import eventlet
import eventlet.event
import kombu
import pytest
from kombu.exceptions import EncodeError
from nameko import config as nameko_config
from nameko.amqp.publish import Publisher, UndeliverableMessage

from services.common.publishing import CONNECTION_FAILURES
from services.common.speedups.direct_replies import DirectPublisher
from services.common.speedups.producer_pools import WarmProducers
from tests.waiting import wait_until


def test_a_publish_builds_no_broker_connection_of_its_own(rabbit_config, monkeypatch):
    uri = nameko_config["AMQP_URI"]
    queue = kombu.Queue("published", routing_key="published")
    with kombu.Connection(uri) as connection:
        queue(connection.default_channel).declare()
        publisher = Publisher(uri)
        publisher.publish({"n": 1}, routing_key="published")  # the first finds its pool

        built = []
        build = kombu.Connection.__init__

        def counted(self, *args, **kwargs):
            built.append(args)
            build(self, *args, **kwargs)

        monkeypatch.setattr(kombu.Connection, "__init__", counted)
        publisher.publish({"n": 2}, routing_key="published")
        monkeypatch.undo()

        assert built == []
        received = [queue(connection.default_channel).get(no_ack=True) for _ in range(2)]
        assert [message.payload for message in received] == [{"n": 1}, {"n": 2}]


def test_an_unroutable_request_keeps_its_connection(rabbit_config, monkeypatch, caplog):
    """A confirmed, mandatory publish that no queue takes (an RPC to a service that never ran)
    raises UndeliverableMessage, as nameko's does, without closing the pooled connection: a
    health check pings such services every second."""
    uri = nameko_config["AMQP_URI"]
    queue = kombu.Queue("published", routing_key="published")
    with kombu.Connection(uri) as connection:
        queue(connection.default_channel).declare()
        publisher = Publisher(uri, mandatory=True)  # confirmed, as nameko's default is
        publisher.publish({"n": 1}, routing_key="published")  # the first finds its pool

        opened = []
        connect = amqp.Connection.connect

        def counted(self, *args, **kwargs):
            opened.append(self)
            return connect(self, *args, **kwargs)

        monkeypatch.setattr(amqp.Connection, "connect", counted)
        for _ in range(2):
            with pytest.raises(UndeliverableMessage):
                publisher.publish({"n": 0}, routing_key="nowhere")
        publisher.publish({"n": 2}, routing_key="published")
        monkeypatch.undo()

        assert opened == []
        assert not [r for r in caplog.records if "during closing channel" in r.getMessage()]
        received = [queue(connection.default_channel).get(no_ack=True) for _ in range(2)]
        assert [message.payload for message in received] == [{"n": 1}, {"n": 2}]


def test_a_producer_keeps_its_channel_between_publishes(rabbit_config, monkeypatch):
    uri = nameko_config["AMQP_URI"]
    publisher = Publisher(uri)
    publisher.publish({"n": 1}, routing_key="nowhere")  # the first builds its producer
    revived, revive = [], kombu.Producer.revive

    def counted(*args):
        revived.append(args)
        return revive(*args)

    monkeypatch.setattr(kombu.Producer, "revive", counted)
    publisher.publish({"n": 2}, routing_key="nowhere")
    assert revived == []  # kombu's pool rebinds a producer to a channel on every publish


def test_a_producer_whose_publish_failed_is_closed_not_reused(rabbit_config, monkeypatch):
    uri = nameko_config["AMQP_URI"]
    publisher = Publisher(uri)
    publisher.publish({"n": 1}, routing_key="nowhere")
    closed = []
    close = kombu.Connection.close
    monkeypatch.setattr(kombu.Connection, "close", lambda self: closed.append(self) or close(self))
    with pytest.raises(EncodeError):
        publisher.publish({"not json": object()}, routing_key="nowhere")
    assert len(closed) == 1
    publisher.publish({"n": 2}, routing_key="nowhere")  # on a producer of its own
    assert len(closed) == 1


def test_no_more_producers_than_the_limit_are_in_use_at_once(rabbit_config):
    pool = WarmProducers(kombu.Connection(nameko_config["AMQP_URI"]), limit=1)
    first_holds, first_may_go = eventlet.event.Event(), eventlet.event.Event()
    taken = []

    def take(name, hold):
        with pool.acquire() as producer:
            taken.append((name, producer))
            if hold:
                first_holds.send()
                first_may_go.wait()

    first = eventlet.spawn(take, "first", True)
    first_holds.wait()
    second = eventlet.spawn(take, "second", False)
    eventlet.sleep(0)  # the second runs until it waits for room
    assert [name for name, _ in taken] == ["first"]
    first_may_go.send()
    first.wait()
    second.wait()
    assert [name for name, _ in taken] == ["first", "second"]
    assert taken[0][1] is taken[1][1]  # the same producer, still bound


def next_message(bound_queue):
    """The queue's next message, once the broker has it: a direct publish is unconfirmed, so it
    returns as soon as the message is written, before the broker has routed it."""
    return wait_until(lambda: bound_queue.get(no_ack=True), 5, f"a message in {bound_queue.name}")


def test_a_direct_publish_delivers_the_message_as_given(rabbit_config):
    uri = nameko_config["AMQP_URI"]
    queue = kombu.Queue("published", routing_key="published")
    with kombu.Connection(uri) as connection:
        queue(connection.default_channel).declare()
        DirectPublisher(uri).publish(
            amqp.Message(
                '{"n": 1}',
                content_type="application/json",
                content_encoding="utf-8",
                correlation_id="c1",
                application_headers={"h": "v"},
            ),
            exchange="",
            routing_key="published",
        )
        message = next_message(queue(connection.default_channel))
    assert message.payload == {"n": 1}
    assert message.properties["correlation_id"] == "c1"
    assert message.headers == {"h": "v"}


def test_a_direct_publish_on_a_dead_connection_is_retried_on_a_new_one(rabbit_config):
    uri = nameko_config["AMQP_URI"]
    queue = kombu.Queue("published", routing_key="published")
    publisher = DirectPublisher(uri)
    with kombu.Connection(uri) as connection:
        queue(connection.default_channel).declare()
        publisher.publish(amqp.Message('{"n": 1}'), exchange="", routing_key="published")
        [producer] = publisher.pool.idle
        # The link dies with no AMQP close, as in a broker restart: the next write fails.
        producer.connection.connection.sock.shutdown(socket.SHUT_RDWR)

        publisher.publish(amqp.Message('{"n": 2}'), exchange="", routing_key="published")

        assert publisher.pool.idle[0] is not producer
        received = [next_message(queue(connection.default_channel)) for _ in range(2)]
    assert [message.body for message in received] == ['{"n": 1}', '{"n": 2}']


def test_a_direct_publish_to_a_broker_that_is_down_fails_at_once():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publisher = DirectPublisher(f"amqp://guest:guest@127.0.0.1:{port}//")
    started = time.monotonic()
    with pytest.raises(CONNECTION_FAILURES):
        publisher.publish(amqp.Message("{}"), exchange="", routing_key="anywhere")
    # Three tries, 0.1 s then 0.3 s apart: the service's worker is done, not 15 s later.
    assert time.monotonic() - started < 2
