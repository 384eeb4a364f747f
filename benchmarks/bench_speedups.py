"""What each speed-up (services.common.speedups) is worth: GetVideo with every patch on, against
GetVideo with one patch off, in alternating rounds on one stack.

The stack runs with every patch on. For each patch, a second gateway and the domain services behind
GetVideo start on a vhost of their own (the same localcql and keyspace) with that patch off
(KILLRVIDEO_SPEEDUPS_OFF); the two take turns, ROUNDS times, each turn SEQUENTIAL_CALLS calls.
Per patch it prints the p50 of each side (the median of its rounds' p50s) and the CPU that the
gateway and the services behind GetVideo spend per call (the median of its rounds'), and for each
whether the gain is outside the run's noise: every round with the patch off worse than every round
with it on. On a shared machine latency is the noisier of the two (it waits for a core), CPU per
call the steadier. A benchmark, never a test failure.
"""

import statistics
from collections.abc import Callable

import grpc

from benchmarks import bench_api, load
from killrvideo.video_catalog import video_catalog_service_pb2_grpc as videos_grpc
from scripts.processes import scheduler_seconds
from services.common import speedups
from services.gateway import routes
from tests.e2e.stack import free_port, nameko_run, running_stack, throwaway_vhost

ROUNDS = 6
SEQUENTIAL_CALLS = 300
WARMUP_CALLS = 100
# Not on a call's way: what it gains shows when the broker restarts (make faults).
NOT_PER_CALL = ("reconnect_waits",)
BEHIND_GET_VIDEO = sorted(routes.domain_services_behind(videos_grpc.VideoCatalogServiceStub))
HEALTH_SERVICE = "killrvideo.video_catalog.VideoCatalogService"


class Side:
    """A gateway and the services behind GetVideo, measured in turns."""

    def __init__(self, call: Callable[[], object], pids: list[int]):
        self.call = call
        self.pids = pids
        self.round_p50s: list[float] = []
        self.round_cpu_ms: list[float] = []  # per call

    def turn(self, calls: int) -> None:
        before = self.cpu()
        taken = load.latencies(self.call, calls)
        self.round_cpu_ms.append(1000 * (self.cpu() - before) / calls)
        self.round_p50s.append(load.p50_ms(taken))

    def cpu(self) -> float:
        return sum(scheduler_seconds(pid)[0] for pid in self.pids)

    @property
    def p50(self) -> float:
        return statistics.median(self.round_p50s)

    @property
    def cpu_ms_per_call(self) -> float:
        return statistics.median(self.round_cpu_ms)


def compare(stack, on: Side, off: Side) -> None:
    for side in (on, off):
        load.latencies(side.call, WARMUP_CALLS)
    for _ in range(ROUNDS):
        for side in (on, off):
            stack.wait_until_idle()
            side.turn(SEQUENTIAL_CALLS)


def verdict(on_rounds: list[float], off_rounds: list[float]) -> str:
    if min(off_rounds) > max(on_rounds):
        return "pays"
    if max(off_rounds) < min(on_rounds):
        return "costs"
    return "noise"


def with_patch_off(stack, patch: str, video_id: str, on: Side) -> Side:
    with throwaway_vhost() as amqp_uri:
        port = free_port()
        env = {"AMQP_URI": amqp_uri, "GRPC_BIND_PORT": str(port), speedups.OFF_SWITCH: patch}
        names = [f"{name} ({patch} off)" for name in (*BEHIND_GET_VIDEO, "gateway")]
        modules = [f"services.{name}.service" for name in (*BEHIND_GET_VIDEO, "gateway")]
        children = [
            stack.start(name, nameko_run(module), **env)
            for name, module in zip(names, modules, strict=True)
        ]
        try:
            address = f"127.0.0.1:{port}"
            stack.wait_until_serving(address, HEALTH_SERVICE)
            with grpc.insecure_channel(address) as channel:
                off = Side(bench_api.get_video_call(channel, video_id), [c.pid for c in children])
                compare(stack, on, off)
        finally:
            for name in names:
                stack.stop(name)
                del stack.processes[name]
    return off


def main() -> None:
    with running_stack(rpc_timeout=5.0) as stack, grpc.insecure_channel(stack.address) as channel:
        _, video_ids = bench_api.seed(channel)
        stack.wait_until_idle()
        pids = [stack.processes[name].pid for name in (*BEHIND_GET_VIDEO, "gateway")]
        print(
            f"GetVideo, {ROUNDS} alternating rounds of {SEQUENTIAL_CALLS} calls per side; "
            "CPU: the gateway's and the services' behind it, per call"
        )
        print(
            f"{'patch off':<18}{'p50 on':>9}{'p50 off':>9}{'gain':>8}{'CPU on':>9}{'CPU off':>9}"
            f"{'gain':>8}   outside the noise? (p50, CPU)"
        )
        for patch in speedups.NAMES:
            if patch in NOT_PER_CALL:
                print(f"{patch:<18} not on a call's way (make faults measures it)")
                continue
            on = Side(bench_api.get_video_call(channel, video_ids[0]), pids)
            off = with_patch_off(stack, patch, video_ids[0], on)
            p50_gain = 100 * (off.p50 - on.p50) / off.p50
            cpu_gain = 100 * (off.cpu_ms_per_call - on.cpu_ms_per_call) / off.cpu_ms_per_call
            print(
                f"{patch:<18}{on.p50:>8.2f} {off.p50:>8.2f} {p50_gain:>6.1f}% "
                f"{on.cpu_ms_per_call:>8.2f} {off.cpu_ms_per_call:>8.2f} {cpu_gain:>6.1f}%   "
                f"{verdict(on.round_p50s, off.round_p50s)}, "
                f"{verdict(on.round_cpu_ms, off.round_cpu_ms)}"
            )
            print(f"{'':<18}round p50s on {fmt(on.round_p50s)}; off {fmt(off.round_p50s)}")
            print(
                f"{'':<18}round CPU on {fmt(on.round_cpu_ms)}; off {fmt(off.round_cpu_ms)}",
                flush=True,
            )


def fmt(values: list[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)
