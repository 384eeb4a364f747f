"""Broker connections through the amqp_reads speed-up (services.common.speedups), on the real
broker."""

import contextlib

import kombu
import pytest
from nameko import config as nameko_config

from services.common.speedups.amqp_reads import GreedyTCPTransport
from tests.waiting import wait_until

QUEUE = kombu.Queue("greedy-reads", routing_key="greedy-reads")


@contextlib.contextmanager
def consuming():
    """A broker connection consuming QUEUE: yields it and the list of the bodies it received."""
    received = []
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        QUEUE(connection.default_channel).declare()
        with connection.Consumer(QUEUE, callbacks=[lambda body, _: received.append(body)]):
            yield connection, received


def publish(connection, body):
    connection.Producer().publish(body, routing_key=QUEUE.routing_key, serializer="json")


def test_a_small_message_is_read_in_one_call_to_the_socket(rabbit_config):
    received, reads = [], []
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        QUEUE(connection.default_channel).declare()
        publish(connection, {"n": 1})
        transport = connection.connection.transport
        assert isinstance(transport, GreedyTCPTransport)
        with connection.Consumer(QUEUE, callbacks=[lambda body, _: received.append(body)]):
            recv = transport._quick_recv
            transport._quick_recv = lambda wanted: reads.append(wanted) or recv(wanted)
            connection.drain_events(timeout=10)
            reads_of_the_message = len(reads)  # not those of the cancel and close that follow
    assert received == [{"n": 1}]
    # Its three frames (method, header, body) are nine parts that py-amqp reads one by one: a
    # recv each without the greedy transport. With it, one, or none when the message came with
    # the answer to the consume.
    assert reads_of_the_message <= 1, reads


def test_a_read_that_must_not_wait_asks_the_socket_only_when_something_arrived(rabbit_config):
    """py-amqp drains with a zero timeout before every publish. With nothing to read, that is a
    TimeoutError without a read (eventlet's green socket would yield to the hub and come back
    through a timer); with a message arrived, the drain delivers it."""
    reads = []
    with consuming() as (connection, received):
        transport = connection.connection.transport
        recv = transport._quick_recv
        transport._quick_recv = lambda wanted: reads.append(wanted) or recv(wanted)
        with pytest.raises(TimeoutError):
            connection.connection.drain_events(timeout=0)
        assert reads == []

        publish(connection, {"n": 1})

        def drained_at_once():
            with contextlib.suppress(TimeoutError):
                connection.connection.drain_events(timeout=0)
            return received

        assert wait_until(drained_at_once, 5, "the message drained") == [{"n": 1}]


def test_a_message_is_read_under_one_setting_of_the_sockets_timeout(rabbit_config):
    """py-amqp sets the socket's timeout and restores it around each of a message's frames."""
    timeouts = []
    with consuming() as (connection, received):
        sock = connection.connection.transport.sock
        settimeout = sock.settimeout
        sock.settimeout = lambda seconds: timeouts.append(seconds) or settimeout(seconds)
        publish(connection, {"n": 1})
        connection.drain_events(timeout=10)
        timeouts_of_the_message = list(timeouts)
        del sock.settimeout
    assert received == [{"n": 1}]
    assert len(timeouts_of_the_message) <= 2, timeouts_of_the_message  # set, then restored
