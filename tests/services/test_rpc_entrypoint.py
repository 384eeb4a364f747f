"""The KillrVideo RPC entrypoint (services.common.rpc) on the real broker: a broker connection
that dies under a worker costs that worker's ack, not the service."""

import inspect
import socket

import kombu
import pytest
from nameko import config as nameko_config
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import IncorrectSignature
from nameko.rpc import get_rpc_exchange

from services.common.rpc import rpc
from tests.waiting import wait_until


class Answering:
    name = "answering"

    @rpc
    def ping(self):
        return "pong"


def test_an_ack_on_a_dead_connection_costs_neither_the_service_nor_the_answer_nor_the_request(
    rabbit_config, container_factory
):
    container = container_factory(Answering)
    container.start()
    [entrypoint] = container.entrypoints
    requests = kombu.Queue("pings")
    replies = kombu.Queue("replies", exchange=get_rpc_exchange(), routing_key="replies")
    uri = nameko_config["AMQP_URI"]
    with kombu.Connection(uri) as connection, kombu.Connection(uri) as doomed:
        channel = connection.default_channel
        requests(channel).declare()
        replies(channel).declare()
        kombu.Producer(channel).publish(
            {"args": [], "kwargs": {}},
            routing_key="pings",
            reply_to="replies",
            correlation_id="1",
            serializer="json",
        )
        request = wait_until(requests(doomed.default_channel).get, 5, "the request delivered")
        # The link to the broker dies under the worker, with no AMQP close: its ack hits a dead
        # socket (a broker restart does this), which used to kill the whole service.
        doomed.connection.sock.shutdown(socket.SHUT_RDWR)

        entrypoint.handle_result(request, None, "pong", None)

        reply = wait_until(replies(channel).get, 5, "the answer published")
        assert reply.payload == {"result": "pong", "error": None}
        assert reply.properties["correlation_id"] == "1"
        assert reply.properties["delivery_mode"] == NON_PERSISTENT  # see ReplyPublisher
        # Unacked, the request went back to its queue, to be answered again after reconnection.
        wait_until(requests(channel).get, 5, "the request back in its queue")


class Greeting:
    name = "greeting"

    @rpc
    def greet(self, name, punctuation="!"):
        return f"hello {name}{punctuation}"


def test_arguments_are_checked_against_the_signature_built_at_start(
    rabbit_config, container_factory, rpc_client, monkeypatch
):
    container_factory(Greeting).start()

    def inspected_again(*_, **__):
        raise AssertionError("the method's signature was inspected for a call")

    monkeypatch.setattr(inspect, "signature", inspected_again)
    monkeypatch.setattr(inspect, "getcallargs", inspected_again)
    greeting = rpc_client("greeting")
    assert greeting.greet("you") == "hello you!"
    assert greeting.greet(name="you", punctuation=".") == "hello you."
    with pytest.raises(IncorrectSignature, match=r"greet: .*nobody"):
        greeting.greet("you", nobody="there")


def test_a_request_is_answered_without_a_thread_of_its_own_while_workers_are_free(
    rabbit_config, container_factory, rpc_client, monkeypatch
):
    container = container_factory(Greeting)
    container.start()

    def spawned(*_, **__):
        raise AssertionError("a managed thread was spawned for a request")

    monkeypatch.setattr(container, "spawn_managed_thread", spawned)
    assert rpc_client("greeting").greet("you") == "hello you!"


def test_a_request_waits_in_a_thread_of_its_own_while_no_worker_is_free(
    rabbit_config, container_factory, rpc_client, monkeypatch
):
    container = container_factory(Greeting)
    container.start()
    monkeypatch.setattr(container._worker_pool, "free", lambda: 0)
    spawned = []
    spawn = container.spawn_managed_thread

    def recorded(fn, identifier=None):
        spawned.append(identifier)
        return spawn(fn, identifier)

    monkeypatch.setattr(container, "spawn_managed_thread", recorded)
    assert rpc_client("greeting").greet("you") == "hello you!"
    assert any("wait_for_worker_pool" in identifier for identifier in spawned)
