"""Broker connections through services.common.amqp_reads, on the real broker."""

import contextlib

import kombu
import pytest
from nameko import config as nameko_config

from services.common.amqp_reads import GreedyTCPTransport
from tests.waiting import wait_until


def test_a_small_message_is_read_in_one_call_to_the_socket(rabbit_config):
    queue = kombu.Queue("greedy-reads", routing_key="greedy-reads")
    received, reads = [], []
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        queue(connection.default_channel).declare()
        connection.Producer().publish({"n": 1}, routing_key="greedy-reads", serializer="json")
        transport = connection.connection.transport
        assert isinstance(transport, GreedyTCPTransport)
        with connection.Consumer(queue, callbacks=[lambda body, _: received.append(body)]):
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
    queue = kombu.Queue("greedy-reads", routing_key="greedy-reads")
    received, reads = [], []
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        queue(connection.default_channel).declare()
        transport = connection.connection.transport
        with connection.Consumer(queue, callbacks=[lambda body, _: received.append(body)]):
            recv = transport._quick_recv
            transport._quick_recv = lambda wanted: reads.append(wanted) or recv(wanted)
            with pytest.raises(TimeoutError):
                connection.connection.drain_events(timeout=0)
            assert reads == []

            connection.Producer().publish({"n": 1}, routing_key="greedy-reads", serializer="json")

            def drained_at_once():
                with contextlib.suppress(TimeoutError):
                    connection.connection.drain_events(timeout=0)
                return received

            assert wait_until(drained_at_once, 5, "the message drained") == [{"n": 1}]


def test_a_message_is_read_under_one_setting_of_the_sockets_timeout(rabbit_config):
    """py-amqp sets the socket's timeout and restores it around each of a message's frames."""
    queue = kombu.Queue("greedy-reads", routing_key="greedy-reads")
    received, timeouts = [], []
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        queue(connection.default_channel).declare()
        connection.Producer().publish({"n": 1}, routing_key="greedy-reads", serializer="json")
        sock = connection.connection.transport.sock
        with connection.Consumer(queue, callbacks=[lambda body, _: received.append(body)]):
            settimeout = sock.settimeout
            sock.settimeout = lambda seconds: timeouts.append(seconds) or settimeout(seconds)
            connection.drain_events(timeout=10)
            timeouts_of_the_message = list(timeouts)
            del sock.settimeout
    assert received == [{"n": 1}]
    assert len(timeouts_of_the_message) <= 2, timeouts_of_the_message  # set, then restored
