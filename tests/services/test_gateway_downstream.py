"""The gateway's RPC clients (services/gateway/downstream.py), on the real broker."""

import socket
import time

import kombu
import pytest
from nameko import config
from nameko.amqp.publish import get_producer
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener, get_rpc_exchange, rpc
from nameko.testing.utils import get_container, get_extension

from services.common import speedups
from services.common.deadlines import deadline_of
from services.gateway import downstream
from services.gateway.downstream import CallChannel, DomainHealth, DomainServices
from services.gateway.errors import BROKER_FAILURES
from tests.waiting import wait_until

# Tests of the direct_requests speed-up's own ways (requests on the listener's connection).
direct_requests_only = pytest.mark.skipif(
    speedups.stock_requested(), reason="direct_requests': stock requests go out through nameko"
)


class Echo:
    name = "echo"

    @rpc
    def echo(self, value):
        return value


class Caller:
    name = "caller"
    domain = DomainServices(timeout=5)
    hasty = DomainServices(timeout=0.5)

    @rpc
    def call_echo(self, value):
        return self.domain["echo"]["echo"](value=value)

    @rpc
    def call_a_service_that_never_ran(self):
        started = time.monotonic()
        try:
            self.domain["never_ran"]["anything"]()
        except UnknownService as error:
            return str(error), time.monotonic() - started
        return None

    @rpc
    def call_refusing(self):
        """A call to a service whose queue the broker refuses every request for."""
        try:
            self.hasty[REFUSING]["anything"]()
        except RpcTimeout:
            return "timed out"
        except BROKER_FAILURES:
            return "the broker failed"
        return None


# A queue that takes no message: the broker drops a request unconfirmed and nacks a confirmed one,
# as it does for a channel that cannot reach a quorum queue (docs/internals.md). The gateway
# cannot tell the two apart, which is the point.
REFUSING = "refusing"


def declare_refusing_queue():
    refusing = kombu.Queue(
        f"rpc-{REFUSING}",
        exchange=get_rpc_exchange(),
        routing_key=f"{REFUSING}.*",
        queue_arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
    )
    with kombu.Connection(config["AMQP_URI"]) as connection:
        refusing(connection.default_channel).declare()


def the_call_channel(runner) -> CallChannel:
    return get_extension(get_container(runner, Caller), CallChannel)


# Without the fix the dead container leaves the start or the call waiting: fail fast instead.
@pytest.mark.timeout(30)
def test_a_call_made_while_the_reply_queue_is_missing_does_not_kill_the_gateway(
    rabbit_config, runner_factory, rpc_client, monkeypatch
):
    # The race, made certain: a call (a health probe arriving as the gateway starts) waits for a
    # reply before the reply consumer has connected and declared its queue. nameko's listener
    # kills the container as that consumer connects.
    def start_after_an_early_call(listener):
        listener.register_for_reply("a-call-made-while-starting")
        ReplyListener.start(listener)

    monkeypatch.setattr(CallChannel, "start", start_after_an_early_call)
    runner_factory(Echo, Caller).start()

    assert rpc_client("caller", timeout=10).call_echo(value="still serving") == "still serving"


class HealthChecking:
    name = "health_checking"
    domain_answers = DomainHealth(timeout=5)

    @rpc
    def answer_without_checking(self):
        return "answered"

    @rpc
    def echo_answers(self):
        return self.domain_answers(["echo"])


def test_only_a_worker_that_checks_health_builds_a_client_for_it(
    rabbit_config, runner_factory, rpc_client, monkeypatch
):
    runner_factory(Echo, HealthChecking).start()
    built = []
    build = DomainServices.get_dependency
    monkeypatch.setattr(
        DomainServices, "get_dependency", lambda self, ctx: built.append(ctx) or build(self, ctx)
    )
    checking = rpc_client("health_checking")
    assert checking.answer_without_checking() == "answered"
    assert built == []
    assert checking.echo_answers() is True
    assert len(built) == 1


@direct_requests_only
def test_requests_go_out_on_the_connection_their_replies_come_back_on(
    rabbit_config, runner_factory, rpc_client
):
    runner = runner_factory(Echo, Caller)
    runner.start()
    connection = the_call_channel(runner).channel.connection
    frames_sent = connection.bytes_sent  # py-amqp counts frames written, not bytes

    assert rpc_client("caller").call_echo(value="there and back") == "there and back"

    assert connection.bytes_sent > frames_sent  # the request (replies take no ack)


def test_a_call_to_a_service_that_never_ran_fails_at_once_and_the_channel_serves_on(
    rabbit_config, runner_factory, rpc_client
):
    runner_factory(Echo, Caller).start()
    caller = rpc_client("caller")

    message, seconds = caller.call_a_service_that_never_ran()

    assert "never_ran" in message
    assert seconds < 1  # the broker's return, not the 5 s deadline
    assert caller.call_echo(value="still answered") == "still answered"


@direct_requests_only
def test_a_call_made_as_the_broker_connection_drops_goes_out_on_the_next_one(
    rabbit_config, runner_factory, rpc_client
):
    runner = runner_factory(Echo, Caller)
    runner.start()
    channel = the_call_channel(runner)
    dropped = channel.channel
    # The link dies with no AMQP close, as in a broker restart: the request's write fails, or
    # finds the channel closed, and waits for the consumer's next connection.
    dropped.connection.transport.sock.shutdown(socket.SHUT_RDWR)

    assert rpc_client("caller").call_echo(value="after the drop") == "after the drop"
    assert channel.channel is not dropped


class DeadlineEcho:
    name = "echo"

    @rpc
    def echo(self, value):
        return value

    class Seen(DependencyProvider):
        def worker_setup(self, worker_ctx):
            DeadlineEcho.deadlines.append(deadline_of(worker_ctx.data))

    deadlines = []
    seen = Seen()


def test_a_request_carries_the_gateways_deadline(rabbit_config, runner_factory, rpc_client):
    runner_factory(DeadlineEcho, Caller).start()
    asked = time.time()
    assert rpc_client("caller").call_echo(value="timed") == "timed"
    [deadline] = DeadlineEcho.deadlines
    assert asked + 5 <= deadline <= time.time() + 5  # Caller's DomainServices(timeout=5)


@direct_requests_only
def test_a_channel_whose_requests_vanish_is_found_out_by_a_timeout_and_replaced(
    rabbit_config, runner_factory, rpc_client
):
    runner = runner_factory(Echo, Caller)
    runner.start()
    listener = the_call_channel(runner)
    declare_refusing_queue()
    caller = rpc_client("caller")
    unconfirmed = listener.channel
    assert listener.probation_ends is None  # the first connection's channel: unconfirmed

    # Dropped without a word (unconfirmed), as by a channel that cannot reach a quorum queue:
    # the call times out, and the channel goes on probation (confirm mode) ...
    assert caller.call_refusing() == "timed out"
    assert listener.channel is unconfirmed and listener.probation_ends is not None
    # ... where the broker nacks the next request to that queue, and the channel is replaced.
    assert caller.call_refusing() == "timed out"
    wait_until(lambda: listener.channel is not unconfirmed, 5, "the request channel replaced")

    assert not unconfirmed.is_open
    assert listener.probation_ends is not None  # the new one on probation too
    assert caller.call_echo(value="still answered") == "still answered"


@direct_requests_only
def test_a_channel_opened_on_a_reconnection_is_on_probation_then_unconfirmed(
    rabbit_config, runner_factory, rpc_client, monkeypatch
):
    monkeypatch.setattr(downstream, "PROBATION_SECONDS", 0.5)
    runner = runner_factory(Echo, Caller)
    runner.start()
    listener = the_call_channel(runner)
    dropped = listener.channel
    dropped.connection.transport.sock.shutdown(socket.SHUT_RDWR)
    caller = rpc_client("caller")
    assert caller.call_echo(value="after the drop") == "after the drop"
    on_probation = listener.channel
    assert on_probation is not dropped and listener.probation_ends is not None

    # No nack: once its probation is over, requests go out on an unconfirmed channel.
    wait_until(lambda: listener.channel is not on_probation, 5, "the probation over")
    assert listener.probation_ends is None
    assert not on_probation.is_open
    assert caller.call_echo(value="unconfirmed") == "unconfirmed"


@pytest.mark.skipif(not speedups.stock_requested(), reason="nameko's confirmed requests")
def test_a_nacked_request_goes_out_again_on_a_new_connection_then_fails_at_once(
    rabbit_config, runner_factory, rpc_client
):
    # Why nameko's publisher needs nothing more: kombu takes a nack (py-amqp's MessageNacked) for
    # a connection error, and its retry publishes again on a new connection and channel, which
    # reaches a quorum queue once its new leader is elected.
    runner = runner_factory(Echo, Caller)
    runner.start()
    declare_refusing_queue()
    caller = rpc_client("caller")
    publisher = get_extension(get_container(runner, Caller), DomainServices).publisher

    def broker_connection():
        """The broker connection of the pool's next producer (the last one used)."""
        options = (publisher.use_confirms, publisher.ssl, publisher.login_method)
        with get_producer(publisher.amqp_uri, *options, publisher.transport_options) as producer:
            return producer.connection.connection

    assert caller.call_echo(value="pooled") == "pooled"
    used = broker_connection()

    assert caller.call_refusing() == "the broker failed"  # its retries spent

    assert broker_connection() is not used
    assert caller.call_echo(value="still answered") == "still answered"


@pytest.mark.skipif(not speedups.stock_requested(), reason="nameko's publisher sends the requests")
def test_a_request_to_a_broker_that_is_down_fails_within_its_publish_retries(
    rabbit_config, runner_factory, rpc_client
):
    runner = runner_factory(Caller)
    runner.start()
    clients = [d for d in get_container(runner, Caller).dependencies if type(d) is DomainServices]
    with socket.socket() as unused:  # a port where nothing listens: each connection is refused
        unused.bind(("127.0.0.1", 0))
        for client in clients:
            client.publisher.amqp_uri = (
                f"pyamqp://guest:guest@127.0.0.1:{unused.getsockname()[1]}//"
            )
        caller = rpc_client("caller")

        started = time.monotonic()
        assert caller.call_refusing() == "the broker failed"
    # PUBLISH_RETRY_POLICY's three tries, 0.1 and 0.3 s apart: not nameko's connection retries,
    # seconds apart, nor the call's 0.5 s deadline (which would answer "timed out").
    assert time.monotonic() - started < 2
