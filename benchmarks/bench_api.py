"""The KillrVideo API through the whole stack, and the cost of each hop alone, in one run.

The stack is the end-to-end one (tests/e2e/stack.py): localcql in memory, RabbitMQ, each domain
service and the gateway in its own `nameko run` process. A grpcio client measures GetVideo,
GetLatestVideoPreviews (page of 10), SubmitYouTubeVideo and the home page's fan-out (latest
previews, then one batched GetUserProfile and one batched GetNumberOfPlays, concurrently), and
each hop alone: gRPC (an RPC the gateway answers itself), nameko RPC (videos.get_video from a bare
kombu client: the broker and the service) and CQL (the videos service's point read, from
cassandra-driver). Latency is of sequential calls, taken in ROUNDS rounds in which every call
takes its turn, each once the services have caught up with their queues (the events of the
writes before): on a shared 2-core machine a call's p50 moves by 10-30% from one second to the
next, and a single batch would give whichever moment it fell in to one call and not the others.
Each row prints the p50 and p99 of all its rounds, and its lowest and highest round p50, which
show how much the machine moved. The client runs without grpcio's EventEngine client (see
benchmarks/__main__.py); GetVideo from a client as grpcio configures it by default, in another
process, takes its turn in the same rounds, so that what that configuration adds is printed too,
and so does a fixed piece of pure-Python work, which tells a slow minute of the machine's CPU from
a slow call.
Then the throughput and errors of 32 callers per API call, and the time each process spends on
one GetVideo call, on a CPU and runnable waiting for one: on two cores, that is where the latency
goes. Last, the architecture's cost: GetVideo's p50, throughput at 32 callers and CPU per call as
ratios to a direct baseline measured in the same rounds (a plain grpcio server answering GetVideo
straight from cassandra-driver on the same localcql: benchmarks/direct_server.py), and every
process's resident memory.
The project's targets for the 2-core machine are printed beside the figures; nothing fails on them.
"""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import grpc
import kombu
from cassandra.cluster import Cluster

from benchmarks import load
from benchmarks.bench_signup import sign_up
from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.statistics import statistics_service_pb2 as statistics_pb2
from killrvideo.statistics import statistics_service_pb2_grpc as statistics_grpc
from killrvideo.uploads import uploads_service_pb2, uploads_service_pb2_grpc
from killrvideo.user_management import user_management_service_pb2 as users_pb2
from killrvideo.user_management import user_management_service_pb2_grpc as users_grpc
from killrvideo.video_catalog import video_catalog_service_pb2 as videos_pb2
from killrvideo.video_catalog import video_catalog_service_pb2_grpc as videos_grpc
from scripts.processes import rss_mb, scheduler_seconds
from tests.e2e.stack import running_stack

SEQUENTIAL_CALLS = 1000  # per call, over all rounds
ROUNDS = 5
WARMUP_CALLS = 20
CONCURRENT_CALLERS = 32
CONCURRENT_SECONDS = 5.0
SEED_USERS = 10
SEED_VIDEOS = 50
DEFAULT_CLIENT_ROW = "GetVideo, default client"
DIRECT_ROW = "GetVideo, direct baseline"
DIRECT_SERVER = "direct baseline (grpcio + driver)"
MACHINE_ROW = "pure-Python work, no I/O"
MACHINE_WORK_STEPS = 20_000  # about 1 ms
MACHINE_SAMPLES = 50
TARGETS = "GetVideo p50 <= 3 ms and >= 600 calls/s at 32 callers; home fan-out p50 <= 10 ms"


def seed(channel) -> tuple[list[str], list[str]]:
    users = users_grpc.UserManagementServiceStub(channel)
    videos = videos_grpc.VideoCatalogServiceStub(channel)
    user_ids = [sign_up(users) for _ in range(SEED_USERS)]
    video_ids = [submit(videos, user_ids[i % SEED_USERS]) for i in range(SEED_VIDEOS)]
    return user_ids, video_ids


def submit(videos, user_id: str) -> str:
    video_id = str(uuid.uuid4())
    videos.SubmitYouTubeVideo(
        videos_pb2.SubmitYouTubeVideoRequest(
            video_id=Uuid(value=video_id),
            user_id=Uuid(value=user_id),
            name="A benchmark video",
            description="Measured, not guessed.",
            tags=["benchmark", "killrvideo"],
            you_tube_video_id="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        ),
        timeout=10,
    )
    return video_id


def get_video_call(channel, video_id: str) -> Callable[[], object]:
    videos = videos_grpc.VideoCatalogServiceStub(channel)
    request = videos_pb2.GetVideoRequest(video_id=Uuid(value=video_id))
    return lambda: videos.GetVideo(request, timeout=10)


def api_calls(channel, user_ids, video_ids) -> dict:
    users = users_grpc.UserManagementServiceStub(channel)
    videos = videos_grpc.VideoCatalogServiceStub(channel)
    statistics = statistics_grpc.StatisticsServiceStub(channel)
    latest = videos_pb2.GetLatestVideoPreviewsRequest(page_size=10)

    def home_page():
        # The latest previews, then their authors and play counts, both at once.
        previews = videos.GetLatestVideoPreviews(latest, timeout=10).video_previews
        authors = {preview.user_id.value for preview in previews}
        profiles = users.GetUserProfile.future(
            users_pb2.GetUserProfileRequest(user_ids=[Uuid(value=a) for a in authors]),
            timeout=10,
        )
        plays = statistics.GetNumberOfPlays.future(
            statistics_pb2.GetNumberOfPlaysRequest(video_ids=[p.video_id for p in previews]),
            timeout=10,
        )
        profiles.result()
        plays.result()

    return {
        "GetVideo": get_video_call(channel, video_ids[0]),
        "GetLatestVideoPreviews(10)": lambda: videos.GetLatestVideoPreviews(latest, timeout=10),
        "SubmitYouTubeVideo": lambda: submit(videos, user_ids[0]),
        "home fan-out": home_page,
    }


def machine_work() -> int:
    """A fixed piece of CPU work in this process, no I/O: it takes its turn in the rounds, so
    that a round in which every call was slow shows whether the machine's CPU was slow too."""
    total = 0
    for step in range(MACHINE_WORK_STEPS):
        total += step * step % 7
    return total


def grpc_hop(channel):
    """An RPC the gateway answers itself (UNIMPLEMENTED): gRPC and the gateway, no downstream."""
    uploads = uploads_service_pb2_grpc.UploadsServiceStub(channel)
    request = uploads_service_pb2.GetUploadDestinationRequest(file_name="x")

    def call():
        try:
            uploads.GetUploadDestination(request, timeout=10)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    return call


@contextlib.contextmanager
def rpc_hop(env: dict, video_id: str) -> Iterator[Callable[[], None]]:
    """videos.get_video from a bare kombu client on one connection, its reply queue declared
    once: the broker's and the service's share of a call, without any client's own overhead."""
    exchange = kombu.Exchange("nameko-rpc", type="topic")
    reply_key = f"bench-{uuid.uuid4().hex}"
    replies = kombu.Queue(reply_key, exchange=exchange, routing_key=reply_key, exclusive=True)
    received = []

    def on_reply(body, message):
        message.ack()
        received.append(body)

    with (
        kombu.Connection(env["AMQP_URI"]) as connection,
        connection.Consumer(replies, callbacks=[on_reply], accept=["json"]),
    ):
        producer = connection.Producer(serializer="json")

        def call():
            received.clear()
            producer.publish(
                {"args": [], "kwargs": {"video_id": video_id}},
                exchange=exchange,
                routing_key="videos.get_video",
                reply_to=reply_key,
                correlation_id=str(uuid.uuid4()),
            )
            while not received:
                connection.drain_events(timeout=10)
            assert received[0]["error"] is None, received[0]["error"]

        yield call


@contextlib.contextmanager
def cql_hop(env: dict, video_id: str) -> Iterator[Callable[[], object]]:
    cluster = Cluster([env["CASSANDRA_CONTACT_POINTS"]], port=int(env["CASSANDRA_PORT"]))
    try:
        session = cluster.connect(env["CASSANDRA_KEYSPACE"])
        read = session.prepare("SELECT * FROM videos WHERE videoid = ?")
        key = (uuid.UUID(video_id),)
        yield lambda: session.execute(read, key)
    finally:
        cluster.shutdown()


def started_processes() -> dict[str, int]:
    """Every process this benchmark started (each service, the gateway, localcql), and
    RabbitMQ's Erlang VM when it runs on this machine, by name."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    named = {}
    for pid in map(int, children):
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        service = next((word for word in words if word.startswith("services.")), None)
        if "localcql" in words:
            named["localcql"] = pid
        elif "benchmarks.direct_server" in words:
            named[DIRECT_SERVER] = pid
        elif service:
            named[service.split(".")[1]] = pid
    broker = subprocess.run(["pgrep", "-x", "beam.smp"], capture_output=True, text=True).stdout
    if broker:
        named["RabbitMQ (beam.smp)"] = int(broker.split()[0])
    return named


def scheduler_time_per_call(call, calls: int) -> dict[str, tuple[float, float]]:
    """Milliseconds each process spends per call on a CPU, and runnable but waiting for one,
    over `calls` sequential calls: where the time of a call goes, which latency alone does not
    show on a machine with two cores."""
    processes = {**started_processes(), "the grpcio client (this process)": os.getpid()}
    before = {name: scheduler_seconds(pid) for name, pid in processes.items()}
    load.latencies(call, calls)
    per_call = {}
    for name, pid in processes.items():
        spent = [now - then for now, then in zip(scheduler_seconds(pid), before[name], strict=True)]
        if spent[0] * 1000 / calls >= 0.01:  # the services a GetVideo does not involve
            per_call[name] = tuple(1000 * seconds / calls for seconds in spent)
    return per_call


def in_rounds(stack, measures: dict[str, Callable[[int], list[float]]]) -> dict[str, list[list]]:
    """The latencies of SEQUENTIAL_CALLS calls of each, in ROUNDS rounds in which each takes its
    turn once the services have caught up with their queues: per call, per round. A measure
    makes the calls it is given and returns their latencies in seconds."""
    for measure in measures.values():
        stack.wait_until_idle()
        measure(WARMUP_CALLS)
    taken = {name: [] for name in measures}
    for _ in range(ROUNDS):
        for name, measure in measures.items():
            stack.wait_until_idle()
            taken[name].append(measure(SEQUENTIAL_CALLS // ROUNDS))
    return taken


@contextlib.contextmanager
def direct_baseline(env: dict, video_id: str) -> Iterator[Callable[[], object]]:
    """GetVideo from benchmarks/direct_server.py, in a process of its own, on the stack's
    localcql: the call with nothing of the architecture in between."""
    command = [sys.executable, "-m", "benchmarks.direct_server"]
    command += [env[name] for name in ("CASSANDRA_CONTACT_POINTS", "CASSANDRA_PORT")]
    command.append(env["CASSANDRA_KEYSPACE"])
    with subprocess.Popen(
        command, cwd=Path(__file__).parent.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as server:
        try:
            ready = server.stdout.readline().decode().split()
            if ready[:1] != ["ready"]:
                raise RuntimeError(f"{' '.join(command)} did not start")
            with grpc.insecure_channel(f"127.0.0.1:{ready[1]}") as channel:
                yield get_video_call(channel, video_id)
        finally:
            server.stdin.close()


@contextlib.contextmanager
def default_grpc_client(address: str, video_id: str) -> Iterator[Callable[[int], list[float]]]:
    """GetVideo from a process whose grpcio client runs as configured by default (this one's
    does not: see benchmarks/__main__.py), as a measure for in_rounds."""
    env = {name: value for name, value in os.environ.items() if name != "GRPC_EXPERIMENTS"}
    command = [sys.executable, "-m", "benchmarks.default_client", address, video_id]
    with subprocess.Popen(
        command,
        env=env,
        cwd=Path(__file__).parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:

        def measure(calls: int) -> list[float]:
            child.stdin.write(f"{calls}\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        try:
            yield measure
        finally:
            child.stdin.close()


def pooled(rounds: list[list[float]]) -> list[float]:
    return [seconds for each in rounds for seconds in each]


def row(name: str, rounds: list[list[float]], throughput: tuple[int, int] | None = None) -> None:
    taken = pooled(rounds)
    round_p50s = [load.p50_ms(each) for each in rounds]
    spread = f"{min(round_p50s):.2f}-{max(round_p50s):.2f}"
    calls, errors = throughput or (None, None)
    rate = f"{calls / CONCURRENT_SECONDS:>10.0f}{errors:>8}" if throughput else f"{'-':>10}{'-':>8}"
    print(f"{name:<30}{load.p50_ms(taken):>9.2f}{load.p99_ms(taken):>9.2f}{spread:>13}{rate}")


def main() -> None:
    with (
        running_stack(rpc_timeout=5.0) as stack,
        grpc.insecure_channel(stack.address) as channel,
    ):
        user_ids, video_ids = seed(channel)
        with direct_baseline(stack.env, video_ids[0]) as direct_call:
            measure(stack, channel, user_ids, video_ids, direct_call)


def measure(stack, channel, user_ids, video_ids, direct_call) -> None:
    calls = api_calls(channel, user_ids, video_ids)
    with (
        rpc_hop(stack.env, video_ids[0]) as rpc_call,
        cql_hop(stack.env, video_ids[0]) as cql_call,
        default_grpc_client(stack.address, video_ids[0]) as default_client,
    ):
        hops = {
            "gRPC (gateway, no downstream)": grpc_hop(channel),
            "nameko RPC videos.get_video": rpc_call,
            "CQL videos point read": cql_call,
        }
        measures = {name: partial(load.latencies, call) for name, call in {**calls, **hops}.items()}
        measures[DEFAULT_CLIENT_ROW] = default_client
        measures[MACHINE_ROW] = partial(load.latencies, machine_work)
        measures[DIRECT_ROW] = partial(load.latencies, direct_call)
        taken = in_rounds(stack, measures)
    print(
        f"Through the gateway: {SEQUENTIAL_CALLS} sequential calls in {ROUNDS} rounds taking "
        f"turns (p50, p99, lowest-highest round p50), then {CONCURRENT_CALLERS} callers for "
        f"{CONCURRENT_SECONDS:g}s (calls/s, errors)"
    )
    print(f"{'call':<30}{'p50 ms':>9}{'p99 ms':>9}{'rounds p50':>13}{'calls/s':>10}{'errors':>8}")
    machine_before = {}
    for name, call in calls.items():
        # Each alone: a write's events keep search and suggestions busy for seconds after
        # the writes, and that backlog would land on the next call's figures.
        stack.wait_until_idle()
        machine_before[name] = load.p50_ms(load.latencies(machine_work, MACHINE_SAMPLES))
        row(name, taken[name], load.throughput(call, CONCURRENT_CALLERS, CONCURRENT_SECONDS))
    print("Each hop alone, sequential calls, in the same rounds:")
    for name in hops:
        row(name, taken[name])
    print(
        "GetVideo from a grpcio client as configured by default "
        "(GRPC_EXPERIMENTS unset), in the same rounds:"
    )
    row(DEFAULT_CLIENT_ROW, taken[DEFAULT_CLIENT_ROW])
    print("The machine's CPU in the same rounds: a fixed loop of Python, no I/O:")
    row(MACHINE_ROW, taken[MACHINE_ROW])
    by_round = zip(
        *(taken[name] for name in (MACHINE_ROW, "GetVideo", "home fan-out")), strict=True
    )
    print(
        "  round by round, its p50 / GetVideo's / home fan-out's (ms): "
        + ", ".join("/".join(f"{load.p50_ms(each):.2f}" for each in r) for r in by_round)
    )
    print(
        "  just before each call's 32 callers (ms): "
        + ", ".join(f"{name} {p50:.2f}" for name, p50 in machine_before.items())
    )
    p50 = {name: load.p50_ms(pooled(rounds)) for name, rounds in taken.items()}
    hop_sum = sum(p50[name] for name in hops)
    print(
        f"GetVideo p50 {p50['GetVideo']:.2f} ms against the sum of the hops' p50s "
        f"{hop_sum:.2f} ms (ratio {p50['GetVideo'] / hop_sum:.2f})"
    )
    stack.wait_until_idle()
    print(
        f"Per GetVideo call, by process ({SEQUENTIAL_CALLS // 2} sequential calls): "
        "time on a CPU, and runnable waiting for one"
    )
    spent = scheduler_time_per_call(calls["GetVideo"], SEQUENTIAL_CALLS // 2)
    for name, (running, waiting) in sorted(spent.items(), key=lambda item: -item[1][0]):
        print(f"  {name:<34}{running:>6.2f} ms {waiting:>6.2f} ms")
    print(f"Targets: {TARGETS}")
    architecture_cost(stack, calls["GetVideo"], direct_call, taken, spent)
    print("Resident memory of each process (MB):")
    for name, pid in sorted(started_processes().items()):
        print(f"  {name:<34}{rss_mb(pid):>6.0f}")


def server_cpu_ms(spent: dict[str, tuple[float, float]]) -> float:
    """CPU per call of every process but the client's."""
    return sum(running for name, (running, _) in spent.items() if "client" not in name)


def architecture_cost(stack, get_video, direct_call, taken, spent) -> None:
    """GetVideo through the architecture as ratios to the direct baseline: p50 in the same
    rounds, throughput at CONCURRENT_CALLERS, and the servers' CPU per call."""
    stack.wait_until_idle()
    direct_rate = load.throughput(direct_call, CONCURRENT_CALLERS, CONCURRENT_SECONDS)
    stack.wait_until_idle()
    our_rate = load.throughput(get_video, CONCURRENT_CALLERS, CONCURRENT_SECONDS)
    direct_spent = scheduler_time_per_call(direct_call, SEQUENTIAL_CALLS // 2)
    print(
        "The architecture's cost: GetVideo against a grpcio server answering it straight from "
        "cassandra-driver (benchmarks/direct_server.py), same localcql, same rounds"
    )
    print(f"{'call':<30}{'p50 ms':>9}{'p99 ms':>9}{'rounds p50':>13}{'calls/s':>10}{'errors':>8}")
    row("GetVideo", taken["GetVideo"], our_rate)
    row(DIRECT_ROW, taken[DIRECT_ROW], direct_rate)
    ours_p50, direct_p50 = (load.p50_ms(pooled(taken[n])) for n in ("GetVideo", DIRECT_ROW))
    ours_cpu, direct_cpu = server_cpu_ms(spent), server_cpu_ms(direct_spent)
    print(
        f"  ratios, ours to the baseline: p50 {ours_p50 / direct_p50:.2f}, calls/s at "
        f"{CONCURRENT_CALLERS} callers {our_rate[0] / max(direct_rate[0], 1):.2f}, server CPU "
        f"per call {ours_cpu / direct_cpu:.2f} ({ours_cpu:.2f} ms against {direct_cpu:.2f} ms, "
        "RabbitMQ included)"
    )
