"""localcql alone, from cassandra-driver: prepared single-row writes and reads at concurrency 1
and 64, durable (commit log, batch sync) against in memory as the baseline of the same run; the
server's memory holding 100,000 KillrVideo `videos` rows, its restart time with them, and a
query on a secondary index over them (its first query builds the index in memory).

Targets on the 2-core development machine (a real Apache Cassandra node measured there with the
same client: about 3,300 writes/s, 1,700-2,200 reads/s, read p50 0.65-0.9 ms): at least 3,500
writes/s and 2,000 reads/s at concurrency 64, read p50 at most 0.8 ms at concurrency 1, at most
200 MB RSS with 100,000 videos rows, restart under 5 s. Printed, never asserted.
"""

import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

from benchmarks import load
from localcql.testing import (
    INSERT_SAMPLE_VIDEO,
    READY_PREFIX,
    SAMPLE_KEYSPACE,
    SAMPLE_VIDEOS_TABLE,
    sample_video,
)
from scripts.processes import rss_mb

SEQUENTIAL = 2000
CONCURRENT = 20_000
CONCURRENCY = 64
VIDEOS = 100_000
TARGETS = (
    "writes >= 3500/s and reads >= 2000/s at c64; read p50 <= 0.8 ms at c1; "
    "<= 200 MB RSS with 100,000 videos; restart < 5 s"
)


class Server:
    def __init__(self, *storage):
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localcql", "--port", "0", *storage],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = self.process.stdout.readline()
        self.start_seconds = time.perf_counter() - started
        host, port = ready[len(READY_PREFIX) :].split()[0].rsplit(":", 1)
        self.cluster = Cluster([host], port=int(port))
        self.session = self.cluster.connect()

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        self.cluster.shutdown()
        self.process.terminate()
        self.process.wait(60)


def single_rows(server: Server) -> dict[str, tuple]:
    s = server.session
    s.execute(
        "CREATE KEYSPACE b WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    s.execute("CREATE TABLE b.kv (k uuid PRIMARY KEY, v text)")
    write = s.prepare("INSERT INTO b.kv (k, v) VALUES (?, ?)")
    read = s.prepare("SELECT v FROM b.kv WHERE k = ?")
    keys = [uuid.uuid4() for _ in range(CONCURRENT)]
    figures = {}
    taken = load.latencies(lambda: s.execute(write, (uuid.uuid4(), "value")), SEQUENTIAL)
    figures["write c1"] = (load.p50_ms(taken), load.p99_ms(taken), SEQUENTIAL / sum(taken))
    started = time.perf_counter()
    execute_concurrent_with_args(s, write, [(k, "value") for k in keys], concurrency=CONCURRENCY)
    figures["write c64"] = (None, None, CONCURRENT / (time.perf_counter() - started))
    taken = load.latencies(lambda: s.execute(read, (keys[0],)), SEQUENTIAL)
    figures["read c1"] = (load.p50_ms(taken), load.p99_ms(taken), SEQUENTIAL / sum(taken))
    started = time.perf_counter()
    execute_concurrent_with_args(s, read, [(k,) for k in keys], concurrency=CONCURRENCY)
    figures["read c64"] = (None, None, CONCURRENT / (time.perf_counter() - started))
    return figures


def fill_videos(server: Server) -> None:
    s = server.session
    s.execute(SAMPLE_KEYSPACE)
    s.execute(SAMPLE_VIDEOS_TABLE)
    insert = s.prepare(INSERT_SAMPLE_VIDEO)
    now = datetime.now(UTC)
    rows = (sample_video(n, now) for n in range(VIDEOS))
    execute_concurrent_with_args(s, insert, rows, concurrency=CONCURRENCY)


def index_query(server: Server) -> tuple[float, float, int]:
    """A secondary index on videos.userid: (seconds of the first query, which builds the index
    after a start, p50 ms of the queries after it, rows each finds)."""
    s = server.session
    s.execute("CREATE INDEX IF NOT EXISTS videos_by_user ON kv.videos (userid)")
    user_id = s.execute("SELECT userid FROM kv.videos LIMIT 1").one()[0]
    by_user = s.prepare("SELECT videoid, name FROM kv.videos WHERE userid = ?")
    started = time.perf_counter()
    found = len(list(s.execute(by_user, (user_id,))))
    first = time.perf_counter() - started
    taken = load.latencies(lambda: s.execute(by_user, (user_id,)), SEQUENTIAL // 10)
    return first, load.p50_ms(taken), found


def fmt(value, spec) -> str:
    return f"{value:{spec}}" if value is not None else f"{'-':>{spec.split('.')[0]}}"


def main() -> None:
    print(f"{'':<22}{'p50 ms':>9}{'p99 ms':>9}{'ops/s':>10}{'vs memory':>11}")
    with tempfile.TemporaryDirectory(prefix="bench-localcql-") as data_dir:
        memory = Server("--in-memory")
        baseline = single_rows(memory)
        memory.stop()
        durable = Server("--data-dir", str(Path(data_dir) / "rows"))
        figures = single_rows(durable)
        durable.stop()
        for name, (p50, p99, rate) in figures.items():
            ratio = rate / baseline[name][2]
            latency = f"{fmt(p50, '9.2f')}{fmt(p99, '9.2f')}"
            print(f"durable {name:<14}{latency}{rate:>10.0f}{ratio:>10.2f}x")
        for name, (p50, p99, rate) in baseline.items():
            print(f"memory  {name:<14}{fmt(p50, '9.2f')}{fmt(p99, '9.2f')}{rate:>10.0f}")

        videos_dir = str(Path(data_dir) / "videos")
        server = Server("--data-dir", videos_dir)
        started = time.perf_counter()
        fill_videos(server)
        fill_seconds = time.perf_counter() - started
        rss = server.rss_mb()
        server.stop()
        restarted = Server("--data-dir", videos_dir)
        count = restarted.session.execute("SELECT count(*) FROM kv.videos").one()[0]
        restart_rss = restarted.rss_mb()
        index_first, index_p50, index_rows = index_query(restarted)
        restarted.stop()
        print(
            f"{VIDEOS:,} videos rows: written in {fill_seconds:.1f}s "
            f"({VIDEOS / fill_seconds:.0f}/s), "
            f"RSS {rss:.0f} MB; restart {restarted.start_seconds:.2f}s, {count:,} rows back, "
            f"RSS {restart_rss:.0f} MB"
        )
        print(
            f"secondary index on videos.userid over those rows: first query {index_first:.2f}s "
            f"(builds the index), then p50 {index_p50:.2f} ms ({index_rows} row each)"
        )
    print(f"Targets: {TARGETS}")
