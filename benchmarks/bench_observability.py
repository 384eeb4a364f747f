"""What observability costs: GetVideo's p50 and the CPU per call of the gateway and the videos
service with metrics on, and with metrics and tracing (100% sampled, and 10%) on, against both
off.

Four stacks run side by side on one broker, and each round calls each stack in turn, so that
the machine's drift falls on all of them alike; the CPU counted is the gateway's and the videos
service's, the two processes a GetVideo runs in (besides the database). Tracing exports
over OTLP/HTTP to a receiver in this process that drops what it gets. Targets (issue 25): metrics
cost at most 3% CPU per call, tracing at most 10%. Printed, never a failure: the figures depend
on the machine.
"""

import contextlib
import http.server
import math
import statistics
import threading
import uuid

import grpc

from benchmarks import load
from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog import video_catalog_service_pb2, video_catalog_service_pb2_grpc
from scripts.processes import scheduler_seconds
from tests.e2e.stack import running_stack

SEQUENTIAL_CALLS = 50
WARMUP_CALLS = 100
ROUNDS = 100
TARGETS = {"metrics": 0.03, "metrics + tracing": 0.10}


class DroppingReceiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts every export and keeps nothing."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def configurations(receiver: str) -> dict[str, tuple[bool, dict]]:
    """(metrics on, tracing environment) of each configuration."""
    tracing = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver,
    }
    # What most sites run: one trace in ten recorded, decided at the gateway, the others
    # carried through the services unrecorded.
    sampled = {
        **tracing,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    return {
        "off": (False, {}),
        "metrics": (True, {}),
        "metrics + tracing": (True, tracing),
        "metrics + 10% traced": (True, sampled),
    }


@contextlib.contextmanager
def stack_with(metrics: bool, env: dict):
    """A stack (every service: the gateway's health check wants them all): a call of GetVideo
    on a video it holds, and the pids of the gateway and the videos service."""
    stack = running_stack(rpc_timeout=5.0, env=env, metrics=metrics)
    with stack as running, grpc.insecure_channel(running.address) as channel:
        videos = video_catalog_service_pb2_grpc.VideoCatalogServiceStub(channel)
        video_id = Uuid(value=str(uuid.uuid4()))
        videos.SubmitYouTubeVideo(
            video_catalog_service_pb2.SubmitYouTubeVideoRequest(
                video_id=video_id,
                user_id=Uuid(value=str(uuid.uuid4())),
                name="Benchmarked",
                you_tube_video_id="dQw4w9WgXcQ",
            ),
            timeout=10,
        )
        request = video_catalog_service_pb2.GetVideoRequest(video_id=video_id)
        pids = [running.processes[name].pid for name in ("videos", "gateway")]
        yield (lambda: videos.GetVideo(request, timeout=10)), pids


def cpu_seconds(pids) -> float:
    return sum(scheduler_seconds(pid)[0] for pid in pids)


def run() -> dict[str, dict]:
    """Per configuration: the p50 (ms) and the servers' CPU per call (ms), medians of rounds."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DroppingReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver = f"http://127.0.0.1:{server.server_address[1]}"
    figures = {}
    try:
        with contextlib.ExitStack() as stacks:
            calls = {
                name: stacks.enter_context(stack_with(*configuration))
                for name, configuration in configurations(receiver).items()
            }
            for call, _ in calls.values():
                load.latencies(call, WARMUP_CALLS)
            rounds = {name: {"p50": [], "cpu": []} for name in calls}
            for _ in range(ROUNDS):
                for name, (call, pids) in calls.items():
                    before = cpu_seconds(pids)
                    taken = load.latencies(call, SEQUENTIAL_CALLS)
                    spent = cpu_seconds(pids) - before
                    rounds[name]["p50"].append(load.p50_ms(taken))
                    rounds[name]["cpu"].append(spent * 1000 / SEQUENTIAL_CALLS)
            off = rounds["off"]["cpu"]
            for name, measured in rounds.items():
                # Each round's CPU against off's in the same round: the machine's speed, which
                # drifts by half over minutes here (docs/performance.md), cancels out.
                paired = zip(measured["cpu"], off, strict=True)
                extra = [cpu / baseline - 1 for cpu, baseline in paired]
                figures[name] = {
                    "p50": statistics.median(measured["p50"]),
                    "cpu": statistics.median(measured["cpu"]),
                    "extra": statistics.median(extra),
                    "interval": median_interval(extra),
                }
    finally:
        server.shutdown()
    return figures


def median_interval(values: list[float]) -> tuple[float, float]:
    """A 95% confidence interval for the median of `values`, free of any assumption on their
    distribution: the values of ranks n/2 - 0.98 sqrt(n) and 1 + n/2 + 0.98 sqrt(n), rounded
    outwards (the binomial's normal approximation, good from some 20 values). One value: itself."""
    ordered = sorted(values)
    n, half_width = len(ordered), 0.98 * math.sqrt(len(ordered))
    low_rank = max(1, math.floor(n / 2 - half_width))
    high_rank = min(n, math.ceil(1 + n / 2 + half_width))
    return ordered[low_rank - 1], ordered[high_rank - 1]


def verdict(interval: tuple[float, float], target: float) -> str:
    low, high = interval
    if high <= target:
        return "met"
    if low > target:
        return "MISSED"
    return "unclear"


def main() -> None:
    figures = run()
    print(f"GetVideo, {ROUNDS} rounds of {SEQUENTIAL_CALLS} sequential calls (medians):")
    print(
        f"{'':20} {'p50 ms':>8} {'CPU ms/call':>12} {'CPU vs off':>11} {'95% interval':>15} "
        f"{'target':>12}"
    )
    for name, measured in figures.items():
        extra, (low, high) = measured["extra"], measured["interval"]
        target = TARGETS.get(name)
        judged = "" if target is None else f"{target:.0%} {verdict((low, high), target)}"
        print(
            f"{name:20} {measured['p50']:8.3f} {measured['cpu']:12.3f} {extra:+11.1%} "
            f"{f'{low:+.1%}..{high:+.1%}':>15} {judged:>12}"
        )
