"""The gateway's RPC clients (services/gateway/downstream.py), on the real broker."""

import socket
import time

import pytest
from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener, rpc
from nameko.testing.utils import get_container, get_extension

from services.common.deadlines import deadline_of
from services.gateway.downstream import CallChannel, DomainHealth, DomainServices


class Echo:
    name = "echo"

    @rpc
    def echo(self, value):
        return value


class Caller:
    name = "caller"
    domain = DomainServices(timeout=5)

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
