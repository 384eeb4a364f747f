"""GetVideo and SubmitYouTubeVideo throughput at 32 callers with 1 and 2 videos replicas, on this
machine's single broker and on a 3-node RabbitMQ cluster of the benchmark's own
(tests/rabbitmq_cluster.py), with the CPU that each part of the site took per call: where the
time goes when a service gets a second replica, and what the cluster's quorum queues cost (every
message replicated to a majority of three nodes, on disk, before it is delivered).

The cluster part runs where Debian's rabbitmq-server is installed (as `make bench` installs it);
the figures are docs/deploying.md's "Sizing". Figures only; nothing fails on them.
"""

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import grpc

from benchmarks import load
from benchmarks.bench_api import get_video_call, seed, submit
from killrvideo.video_catalog import video_catalog_service_pb2_grpc as videos_grpc
from tests import rabbitmq_cluster
from tests.e2e.stack import running_stack

CALLERS = 32
SECONDS = 8.0
WARMUP_SECONDS = 1.0
CLUSTER = rabbitmq_cluster.available()
TICKS = os.sysconf("SC_CLK_TCK")
MACHINE_BROKER_HOME = (b"-home", b"/var/lib/rabbitmq")


def cpu_seconds(pid: int) -> float:
    """The CPU a process and its waited-for children have taken so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / TICKS


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (a broker node: the script and its Erlang VM)."""
    tree, frontier = [], [pid]
    while frontier:
        tree += frontier
        frontier = [
            int(child)
            for parent in frontier
            for task in Path(f"/proc/{parent}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    return tree


def machine_broker_pids() -> list[int]:
    """This machine's RabbitMQ (its Erlang VM), read-only through /proc: the beam process whose
    home is the Debian package's (the test clusters' nodes have homes of their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")
                home = MACHINE_BROKER_HOME in itertools.pairwise(command)
                if command[0].endswith(b"beam.smp") and home:
                    found.append(int(entry.name))
    return found


def measured(calls: dict, parts: dict[str, list[int]]) -> dict[str, tuple[float, dict]]:
    """Per call: (calls per second at CALLERS callers, CPU ms per call of each part)."""
    results = {}
    for name, call in calls.items():
        load.throughput(call, CALLERS, WARMUP_SECONDS)
        before = {part: sum(map(cpu_seconds, pids)) for part, pids in parts.items()}
        done, failed = load.throughput(call, CALLERS, SECONDS)
        spent = {part: sum(map(cpu_seconds, pids)) - before[part] for part, pids in parts.items()}
        per_call = {part: 1000 * seconds / max(done, 1) for part, seconds in spent.items()}
        results[name] = (done / SECONDS, failed, per_call)
    return results


def site_calls(channel) -> dict:
    user_ids, video_ids = seed(channel)
    videos = videos_grpc.VideoCatalogServiceStub(channel)
    return {
        "GetVideo": get_video_call(channel, video_ids[0]),
        "SubmitYouTubeVideo": lambda: submit(videos, user_ids[0]),
    }


@contextlib.contextmanager
def brokers(kind: str) -> Iterator[tuple[str | None, list[int]]]:
    """(AMQP_URI, the broker's pids): the machine's broker (a throwaway vhost) or a cluster."""
    if kind == "single broker":
        yield None, machine_broker_pids()
        return
    with rabbitmq_cluster.running_cluster() as cluster:
        pids = [pid for node in cluster.nodes for pid in process_tree(node.popen.pid)]
        yield cluster.amqp_uri, pids


def run() -> dict[tuple[str, int], dict]:
    results = {}
    for kind in ("single broker", "3-node cluster") if CLUSTER else ("single broker",):
        with (
            brokers(kind) as (amqp_uri, broker_pids),
            running_stack(rpc_timeout=5.0, amqp_uri=amqp_uri) as stack,
            grpc.insecure_channel(stack.address) as channel,
        ):
            calls = site_calls(channel)
            for replicas in (1, 2):
                if replicas == 2:
                    stack.start("videos-2", stack.processes["videos"].command)
                    stack.wait_until_serving()
                    # the second replica consumes: its requests are counted from here
                    load.throughput(calls["GetVideo"], CALLERS, WARMUP_SECONDS)
                videos = [p.pid for n, p in stack.processes.items() if n.startswith("videos")]
                parts = {
                    "gateway": [stack.processes["gateway"].pid],
                    "videos": videos,
                    "search+suggestions": [
                        stack.processes[name].pid for name in ("search", "suggestions")
                    ],
                    "broker": broker_pids,
                }
                results[(kind, replicas)] = measured(calls, parts)
    return results


def main() -> None:
    results = run()
    print(f"{CALLERS} callers, {SECONDS:g} s each; CPU ms per call of each part")
    header = f"{'':<56}{'calls/s':>9}{'failed':>8}"
    parts = next(iter(next(iter(results.values())).values()))[2]
    print(header + "".join(f"{part:>20}" for part in parts))
    for (kind, replicas), calls in results.items():
        for name, (rate, failed, per_call) in calls.items():
            label = f"{name}, {replicas} videos replica(s), {kind}"
            cpu = "".join(f"{ms:>20.2f}" for ms in per_call.values())
            print(f"{label:<56}{rate:>9.0f}{failed:>8}{cpu}")
