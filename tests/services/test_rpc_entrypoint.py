"""The KillrVideo RPC entrypoint (services.common.rpc) on the real broker: a broker connection
that dies under a worker costs that worker's ack, not the service."""

import inspect
import socket

import kombu
import pytest
from marshmallow import Schema, fields, validate
from nameko import config as nameko_config
from nameko.exceptions import IncorrectSignature, RemoteError
from nameko.rpc import get_rpc_exchange

from services.common.errors import InvalidArgument
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


class GreetRequest(Schema):
    # A subclass's fields would come after its parent's: an optional field may come first.
    punctuation = fields.String(load_default="!")
    name = fields.String(required=True, validate=validate.Length(min=1))


class SchemaGreeting:
    name = "schema_greeting"

    @rpc(GreetRequest)
    def greet(self, request):
        """Greets by name."""
        return f"hello {request['name']}{request['punctuation']}"


def test_an_rpc_declared_by_its_schema_takes_its_fields_as_keyword_arguments(
    rabbit_config, container_factory, rpc_client
):
    container_factory(SchemaGreeting).start()
    greeting = rpc_client("schema_greeting")

    assert greeting.greet(name="you") == "hello you!"  # the schema's load_default
    assert greeting.greet(name="you", punctuation=".") == "hello you."
    with pytest.raises(IncorrectSignature, match=r"greet: .*'nobody'"):
        greeting.greet(name="you", nobody="there")
    with pytest.raises(IncorrectSignature, match=r"greet: .*required argument: 'name'"):
        greeting.greet(punctuation=".")
    with pytest.raises(IncorrectSignature, match=r"greet: too many positional arguments"):
        greeting.greet("you")
    with pytest.raises(InvalidArgument) as malformed:
        greeting.greet(name="")
    assert malformed.value.field == "name"


def test_an_rpc_declared_by_its_schema_shows_the_schema_s_fields_and_keeps_its_docstring():
    assert str(inspect.signature(SchemaGreeting.greet)) == "(self, *, punctuation='!', name)"
    assert SchemaGreeting.greet.__doc__ == "Greets by name."


def test_a_request_waits_for_a_worker_in_a_thread_of_its_own(
    rabbit_config, container_factory, rpc_client, monkeypatch
):
    container = container_factory(Greeting)
    container.start()
    spawned = []
    spawn = container.spawn_managed_thread

    def recorded(fn, identifier=None):
        spawned.append(identifier)
        return spawn(fn, identifier)

    monkeypatch.setattr(container, "spawn_managed_thread", recorded)
    assert rpc_client("greeting").greet("you") == "hello you!"
    assert any("wait_for_worker_pool" in identifier for identifier in spawned)


class Recording:
    name = "recording"
    calls = []

    @rpc
    def record(self, value):
        self.calls.append(value)
        return value

    @rpc
    def unanswerable(self):
        return object()


def test_a_request_without_a_reply_address_is_run_and_the_service_goes_on(
    rabbit_config, container_factory, rpc_client
):
    """Anyone may publish to the RPC exchange: a request that names nowhere to reply to is run
    and acknowledged, unanswered (nameko's responder failed on it, killing the service)."""
    container_factory(Recording).start()
    with kombu.Connection(nameko_config["AMQP_URI"]) as connection:
        kombu.Producer(connection.default_channel).publish(
            {"args": ["told"], "kwargs": {}},
            exchange=get_rpc_exchange(),
            routing_key="recording.record",
            serializer="json",
        )
    wait_until(lambda: "told" in Recording.calls, 5, "the request without reply-to run")
    assert rpc_client("recording").record("asked") == "asked"


def test_a_result_that_does_not_serialize_is_answered_as_the_workers_error(
    rabbit_config, container_factory, rpc_client
):
    container_factory(Recording).start()
    with pytest.raises(RemoteError) as raised:
        rpc_client("recording").unanswerable()
    assert raised.value.exc_type == "UnserializableValueError"
