"""The site on a RabbitMQ cluster of three nodes of its own (tests/rabbitmq_cluster.py), AMQP_URI
listing all three, while users, videos, comments and ratings are written through the gateway:
the node the gateway is connected to is killed with SIGKILL and started again, then the node it
moved to is stopped gracefully and started again. Every call succeeds or fails cleanly within
its deadline, writes of every kind flow again within 15 s of each loss, not one acknowledged
user, comment or rating is lost, and every acknowledged video's event reaches the search index
(the quorum queues kept them).

The kill comes first, when every process is on the node the site started on, which is where each
queue was declared and has its leader: the gateway's new channel then publishes to queues whose
new leaders are not elected yet, which on RabbitMQ 3.10 leaves a channel unable to reach them
(services.gateway.downstream.CallChannel replaces it).

About three minutes (the three nodes take half a minute to start): `make faults` runs it, not
`make test`. The machine's own broker is not touched."""

import contextlib
import os
import time
from pathlib import Path

import pytest

from services.gateway.downstream import CHANNEL_REPLACED
from tests import rabbitmq_cluster
from tests.e2e.stack import running_stack
from tests.e2e.test_faults import (
    CLEAN_FAILURES,
    CommentLoad,
    assert_nothing_lost_and_only_clean_failures,
)
from tests.e2e.writes import RatingWrites, UserWrites, VideoWrites
from tests.rabbitmq_cluster import Node, running_cluster, wait_for_members
from tests.waiting import wait_until

WRITES_AGAIN_SECONDS = 15

pytestmark = pytest.mark.skipif(
    os.environ.get("KILLRVIDEO_FAULTS") != "1" or not rabbitmq_cluster.available(),
    reason="three RabbitMQ nodes for a few minutes: run by `make faults`",
)


def connected_ports(pid: int) -> set[int]:
    """The remote ports of a process's established TCP connections (Linux's /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and fields[3] == "01":  # 01: ESTABLISHED
            ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def gateway_node(stack, nodes: list[Node]) -> Node:
    """The node the gateway's connections are to; the first of them in AMQP_URI's order when they
    are to several (without the speed-ups, the publisher's pooled connections go their own way:
    kombu moves one to the next node after a nack)."""
    ports = connected_ports(stack.processes["gateway"].pid)
    return next(node for node in nodes if node.port in ports)


def writes_flow_again(comments: CommentLoad, others: list, record_property, what: str):
    """Waits for every kind of write to be acknowledged again: each goes to a queue of its own,
    whose leader may have been on the lost node."""
    lost_at, before = time.monotonic(), comments.succeeded()
    others_before = [len(writes.acknowledged) for writes in others]

    def flowing() -> bool:
        again = [len(writes.acknowledged) for writes in others]
        more = all(now > then for now, then in zip(again, others_before, strict=True))
        return comments.succeeded() > before + 10 and more

    wait_until(flowing, WRITES_AGAIN_SECONDS, f"writes flow again after {what}")
    record_property(f"writes again after {what} (s)", round(time.monotonic() - lost_at, 1))


def test_the_site_rides_out_a_killed_and_a_stopped_broker_node(record_property):
    with (
        running_cluster() as cluster,
        running_stack(rpc_timeout=3.0, amqp_uri=cluster.amqp_uri) as stack,
        CommentLoad(stack.address) as comments,
        VideoWrites(stack.address) as videos,
        UserWrites(stack.address) as users,
        RatingWrites(stack.address) as ratings,
    ):
        others = [videos, users, ratings]
        wait_until(lambda: comments.succeeded() >= 30, 30, "writes are acknowledged")

        killed = gateway_node(stack, cluster.nodes)
        killed.kill()
        writes_flow_again(comments, others, record_property, "kill -9 of its node")
        killed.start()
        wait_for_members(killed, len(cluster.nodes))

        stopped = gateway_node(stack, cluster.nodes)
        stopped.stop()
        writes_flow_again(comments, others, record_property, "a graceful stop of its new node")
        stopped.start()
        wait_for_members(stopped, len(cluster.nodes))
        before = comments.succeeded()
        wait_until(lambda: comments.succeeded() > before + 10, 15, "writes flow")
        for writes in others:
            writes.stop()
        comments.stop()
        assert_nothing_lost_and_only_clean_failures(comments, record_property)
        for name, writes in (("videos", videos), ("users", users), ("ratings", ratings)):
            record_property(f"{name} acknowledged", len(writes.acknowledged))
            assert set(writes.failures) <= CLEAN_FAILURES, (name, writes.failures)
        assert users.lost() == 0, "an acknowledged user was lost"
        assert ratings.lost() == 0, "an acknowledged rating was lost"
        events_lost = videos.events_lost(within=60)
        record_property("events lost", events_lost)
        assert events_lost == 0, "an acknowledged video's event never reached the search index"
        # How often a request channel could not reach a queue and was replaced (RabbitMQ 3.10:
        # services.gateway.downstream.CallChannel), for the record: in about two runs of three.
        record_property("request channels replaced", stack.log("gateway").count(CHANNEL_REPLACED))
