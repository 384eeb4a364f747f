"""The gateway's latency and throughput, with its two fixes and without them.

Four gateways run side by side on one broker: ours, and ours with either fix undone or both:
- "stock loop": nameko-grpc's connection loop, which polls its socket every 10 ms before it
  sends the responses that workers queued, with nameko-grpc's request handling that goes with
  it (the grpc_connection speed-up off);
- "stock publish": nameko's RPC publish, which declares the reply queue, its exchange and its
  binding before every request and publishes it confirmed, on a connection of its own (the
  direct_requests speed-up off).
All call a users service that answers GetUserProfile from memory, so the figures are the
gateway's own cost plus the RabbitMQ round trips, not the database's. A grpcio client measures,
per gateway, the latency of sequential calls (p50, p99) and the throughput of 32 callers.
"""

import functools
import os
import tempfile
import uuid
from pathlib import Path

import grpc

from benchmarks import load
from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.user_management import (
    user_management_service_pb2,
    user_management_service_pb2_grpc,
)
from services.common import speedups
from services.common.rpc import rpc
from tests.e2e.stack import Stack, free_port, nameko_run, throwaway_vhost

SEQUENTIAL_CALLS = 2000
CONCURRENT_CALLERS = 32
CONCURRENT_SECONDS = 10.0
WARMUP_CALLS = 200
ROUNDS = 5

USER_ID = str(uuid.uuid4())
HEALTH_SERVICE = "killrvideo.user_management.UserManagementService"

# Each baseline: ours with these speed-ups off (services.common.speedups, docs/internals.md).
BASELINES = {
    "stock publish": ["direct_requests"],
    "stock loop": ["grpc_connection"],
    "stock loop + publish": ["grpc_connection", "direct_requests"],
}


class InMemoryUsers:
    """Stands in for the users service: GetUserProfile with no database behind it."""

    name = "users"

    @rpc
    def get_user_profiles(self, user_ids):
        return [
            {"user_id": user_id, "first_name": "Ada", "last_name": "Lovelace", "email": "a@b.c"}
            for user_id in user_ids
        ]


def request():
    return user_management_service_pb2.GetUserProfileRequest(user_ids=[Uuid(value=USER_ID)])


def measure(addresses: dict[str, str]) -> dict:
    """Figures per gateway, measured in ROUNDS that take turns, so that a change in the
    machine's load during the run weighs on every gateway alike."""
    channels = {name: grpc.insecure_channel(address) for name, address in addresses.items()}
    stubs = {
        name: user_management_service_pb2_grpc.UserManagementServiceStub(channel)
        for name, channel in channels.items()
    }
    latencies = {name: [] for name in stubs}
    calls = dict.fromkeys(stubs, 0)
    errors = dict.fromkeys(stubs, 0)
    calls_of = {
        name: functools.partial(stub.GetUserProfile, request(), timeout=10)
        for name, stub in stubs.items()
    }
    try:
        for call in calls_of.values():
            load.latencies(call, WARMUP_CALLS)
        for _ in range(ROUNDS):
            for name, call in calls_of.items():
                latencies[name] += load.latencies(call, SEQUENTIAL_CALLS // ROUNDS)
                done, failed = load.throughput(
                    call, CONCURRENT_CALLERS, CONCURRENT_SECONDS / ROUNDS
                )
                calls[name] += done
                errors[name] += failed
    finally:
        for channel in channels.values():
            channel.close()
    return {
        name: {
            "p50_ms": load.p50_ms(latencies[name]),
            "p99_ms": load.p99_ms(latencies[name]),
            "calls_per_s": calls[name] / CONCURRENT_SECONDS,
            "errors": errors[name],
        }
        for name in stubs
    }


def main() -> None:
    report(run())


def run() -> dict:
    """Starts the users service and the four gateways, and returns their figures."""
    with throwaway_vhost() as amqp_uri, tempfile.TemporaryDirectory() as logs:
        ports = {name: free_port() for name in ("ours", *BASELINES)}
        env = {**os.environ, "AMQP_URI": amqp_uri, "LOG_LEVEL": "WARNING"}
        stack = Stack(env, ports["ours"], Path(logs))
        try:
            stack.start("users", nameko_run("benchmarks.bench_gateway:InMemoryUsers"))
            stack.start(
                "ours", nameko_run("services.gateway.service"), GRPC_BIND_PORT=str(ports["ours"])
            )
            for name, patches_off in BASELINES.items():
                stack.start(
                    name,
                    nameko_run("services.gateway.service"),
                    GRPC_BIND_PORT=str(ports[name]),
                    **{speedups.OFF_SWITCH: ",".join(patches_off)},
                )
            for port in ports.values():
                stack.wait_until_serving(f"127.0.0.1:{port}", HEALTH_SERVICE)
            return measure({name: f"127.0.0.1:{port}" for name, port in ports.items()})
        finally:
            stack.stop_all()


def report(results: dict) -> None:
    print(
        f"GetUserProfile through each gateway to an in-memory users service: "
        f"{SEQUENTIAL_CALLS} sequential calls (latency) and {CONCURRENT_CALLERS} callers for "
        f"{CONCURRENT_SECONDS:g}s (throughput), in {ROUNDS} rounds taking turns"
    )
    print(
        f"{'gateway':<22}{'p50 ms':>9}{'p99 ms':>9}{'calls/s':>9}{'errors':>8}"
        "   ours: p50, p99, calls/s"
    )
    ours = results["ours"]
    for name, figures in results.items():
        comparison = (
            f"x{figures['p50_ms'] / ours['p50_ms']:.1f} faster, "
            f"x{figures['p99_ms'] / ours['p99_ms']:.1f} faster, "
            f"x{ours['calls_per_s'] / figures['calls_per_s']:.2f}"
        )
        print(
            f"{name:<22}{figures['p50_ms']:>9.2f}{figures['p99_ms']:>9.2f}"
            f"{figures['calls_per_s']:>9.0f}{figures['errors']:>8}"
            f"   {comparison if figures is not ours else ''}"
        )
