"""The gateway's RPC clients (services/gateway/downstream.py), on the real broker."""

from types import SimpleNamespace

import eventlet
import pytest
from nameko.rpc import ReplyListener, rpc

from services.gateway.downstream import DomainHealth, DomainServices, UnackedReplyListener


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

    monkeypatch.setattr(UnackedReplyListener, "start", start_after_an_early_call)
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


def test_a_reply_wakes_its_call_before_the_listener_goes_on():
    listener = UnackedReplyListener()
    listener.consumer = SimpleNamespace(ack_message=lambda message: None)  # as its own: no ack
    wait_for_reply = listener.register_for_reply("1")
    replies = []
    eventlet.spawn(lambda: replies.append(wait_for_reply()))
    eventlet.sleep(0)  # the call is waiting for its reply
    reply = {"result": "pong", "error": None}

    listener.handle_message(reply, SimpleNamespace(properties={"correlation_id": "1"}))

    assert replies == [reply]
