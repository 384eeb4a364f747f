"""The gateway's request channel on a RabbitMQ cluster of three nodes of its own
(tests/rabbitmq_cluster.py), where RabbitMQ 3.10 leaves a channel unable to reach a quorum queue:
its first publish to the queue came while the queue's leader was down and no new one elected.
Here that moment is made certain rather than raced: the queue's leader is on the gateway's node
A, and its two other members, on B and C, are suspended (their Erlang processes, sys:suspend)
before A is killed, so that no new leader is elected until they are resumed; the rest of the
nodes works on (freezing node B whole would block every queue declaration, the gateway's reply
queue's among them). The gateway's new channel on C (on probation:
services.gateway.downstream.CallChannel) is nacked, replaced, and the calls are answered once the
new leader is elected; without the replacement they never would be, until A came back.

About a minute (the three nodes take half a minute to start): `make faults` runs it."""

import logging
import os
import time

import kombu
import pytest
from nameko.exceptions import RpcTimeout
from nameko.rpc import get_rpc_exchange
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_container, get_extension

from services.common import speedups
from services.common.queues import RPC_QUEUE_ARGUMENTS
from services.common.rpc import rpc
from services.gateway.downstream import CHANNEL_REPLACED, CallChannel, DomainServices
from services.gateway.errors import BROKER_FAILURES
from tests import rabbitmq_cluster
from tests.rabbitmq_cluster import running_cluster
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("KILLRVIDEO_FAULTS") != "1" or not rabbitmq_cluster.available(),
        reason="three RabbitMQ nodes for a minute: run by `make faults`",
    ),
    pytest.mark.skipif(
        speedups.stock_requested(),
        reason="direct_requests': stock requests go out through nameko, whose retry reconnects",
    ),
]


class Echo:
    name = "echo"

    @rpc
    def echo(self, value):
        return value


class Caller:
    name = "caller"
    domain = DomainServices(timeout=1)

    @rpc
    def call_echo(self, value):
        return self.domain["echo"]["echo"](value=value)


def answered(container) -> bool:
    with entrypoint_hook(container, "call_echo") as call_echo:
        try:
            return call_echo(value="answered") == "answered"
        except (RpcTimeout, *BROKER_FAILURES):
            return False


RA_SERVER = "whereis('%2F_rpc-echo')"  # rpc-echo's member on a node: its Raft server's process


def leader(node) -> str:
    """rpc-echo's leader, as `node` knows it."""
    listing = node.ctl("list_queues", "-q", "--no-table-headers", "name", "leader")
    return dict(line.split() for line in listing.splitlines() if line.startswith("rpc-echo"))[
        "rpc-echo"
    ]


def test_a_channel_that_cannot_reach_a_quorum_queue_is_replaced_once_it_has_a_leader(
    runner_factory, caplog, record_property
):
    caplog.set_level(logging.WARNING, logger="services.gateway.downstream")
    with running_cluster() as cluster:
        a, b, c = cluster.nodes
        # A quorum queue's first leader is the node it is declared on.
        with kombu.Connection(a.amqp_uri) as connection:
            kombu.Queue(
                "rpc-echo",
                exchange=get_rpc_exchange(),
                routing_key="echo.*",
                queue_arguments=RPC_QUEUE_ARGUMENTS,
            )(connection.default_channel).declare()
        assert leader(c) == a.name
        runner_factory({"AMQP_URI": c.amqp_uri}, Echo).start()
        gateway = runner_factory({"AMQP_URI": f"{a.amqp_uri};{c.amqp_uri}"}, Caller)
        gateway.start()
        container = get_container(gateway, Caller)
        listener = get_extension(container, CallChannel)
        on_a = listener.channel
        assert on_a.connection.transport.sock.getpeername()[1] == a.port

        for node in (b, c):
            node.ctl("eval", f"sys:suspend({RA_SERVER}).")
        try:
            a.kill()
            wait_until(lambda: listener.channel is not on_a, 10, "the gateway on C")
            # No leader to be elected yet. The gateway's first request to the queue is refused,
            # and its channel with it.
            assert not answered(container)
        finally:
            for node in (b, c):
                node.ctl("eval", f"sys:resume({RA_SERVER}).")
        wait_until(lambda: leader(c) in (b.name, c.name), 30, "a new leader elected")
        elected_at = time.monotonic()

        wait_until(lambda: answered(container), 10, "calls answered again")
        record_property(
            "answered again after the election (s)", round(time.monotonic() - elected_at, 2)
        )
        assert CHANNEL_REPLACED in caplog.text
