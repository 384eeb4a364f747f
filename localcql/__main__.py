"""``python -m localcql``: run the embedded Cassandra-compatible CQL server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import time

from localcql.commitlog import DEFAULT_SNAPSHOT_THRESHOLD, SYNC_POLICIES, CommitLog
from localcql.server import DEFAULT_MAX_FRAME_SIZE, DEFAULT_SLOW_REQUEST_MS, LocalCqlServer

log = logging.getLogger("localcql")

READY_PREFIX = "localcql ready on "  # localcql.testing waits for the line that starts with this


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localcql",
        description=(
            "A single-node, Apache Cassandra 4 compatible CQL server for development and tests. "
            "It speaks the native protocol v4 (and v3), so cassandra-driver, cqlsh and the "
            "DataStax drivers connect to it as to Cassandra. When it is listening it prints one "
            f"line, '{READY_PREFIX}HOST:PORT (...)', on stdout. SIGTERM or Ctrl-C stops it."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument(
        "--port", type=int, default=9042, help="port to listen on; 0 picks a free one (%(default)s)"
    )
    storage = parser.add_mutually_exclusive_group(required=True)
    storage.add_argument(
        "--data-dir", metavar="DIR", help="directory for the commit log and snapshots"
    )
    storage.add_argument(
        "--in-memory", action="store_true", help="keep everything in memory (tests); lost on exit"
    )
    parser.add_argument(
        "--max-frame-size-mb",
        type=int,
        default=DEFAULT_MAX_FRAME_SIZE // (1024 * 1024),
        help="largest request frame accepted, in MiB; larger ones are refused unread "
        "(%(default)s, as Cassandra's native_transport_max_frame_size)",
    )
    parser.add_argument(
        "--commitlog-sync",
        choices=SYNC_POLICIES,
        default="batch",
        help="batch: a write is acknowledged once fsynced, concurrent writes sharing an fsync; "
        "periodic: acknowledged at once, fsynced every --commitlog-sync-period-ms "
        "(as Cassandra's commitlog_sync; %(default)s)",
    )
    parser.add_argument(
        "--commitlog-sync-period-ms",
        type=int,
        default=1000,
        help="the periodic policy's fsync interval (%(default)s)",
    )
    parser.add_argument(
        "--snapshot-threshold-mb",
        type=int,
        default=DEFAULT_SNAPSHOT_THRESHOLD // (1024 * 1024),
        help="commit log size that triggers a snapshot and the deletion of the log before it "
        "(%(default)s)",
    )
    parser.add_argument(
        "--require-auth",
        action="store_true",
        help="require a username and password (SASL PLAIN, as Cassandra's "
        "PasswordAuthenticator), taken from the environment variables LOCALCQL_USERNAME and "
        "LOCALCQL_PASSWORD (not the command line, where other users could read them)",
    )
    parser.add_argument(
        "--slow-request-ms",
        type=float,
        default=DEFAULT_SLOW_REQUEST_MS,
        help="requests slower than this are logged with their statement (%(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("METRICS_PORT") or 0),
        help="serve its counters in Prometheus form at http://HOST:PORT/metrics; 0: not "
        "(the environment variable METRICS_PORT, as `make run` sets for each process, or 0)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of the messages written to stderr (%(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, engine_factory=None) -> int:
    """Runs the server until SIGTERM or SIGINT. ``engine_factory`` lets tests serve a fake."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if engine_factory is None:
        from localcql.engine import Engine as engine_factory
    try:
        listening_socket = socket.create_server((args.host, args.port))
    except OSError as exc:
        raise SystemExit(f"localcql: cannot listen on {args.host}:{args.port}: {exc}") from None
    # Bound first, so that system.local tells the port actually chosen when --port is 0.
    host, port = listening_socket.getsockname()[:2]
    credentials = None
    if args.require_auth:
        credentials = (os.environ.get("LOCALCQL_USERNAME"), os.environ.get("LOCALCQL_PASSWORD"))
        if not all(credentials):
            raise SystemExit(
                "localcql: --require-auth needs LOCALCQL_USERNAME and LOCALCQL_PASSWORD"
            )
    engine = engine_factory(address=host, port=port)
    if args.metrics_port:
        serve_metrics(args.host, args.metrics_port)
    commitlog = None
    if args.data_dir:
        commitlog = CommitLog(
            args.data_dir,
            args.commitlog_sync,
            args.commitlog_sync_period_ms,
            args.snapshot_threshold_mb * 1024 * 1024,
        )
        started = time.monotonic()
        commitlog.open(engine.store)
        log.info("data in %s loaded in %.2fs", args.data_dir, time.monotonic() - started)
    try:
        asyncio.run(_serve(engine, listening_socket, args, commitlog, credentials))
    finally:
        if commitlog is not None:
            commitlog.close()
    return 0


def serve_metrics(host: str, port: int) -> None:
    """The counters (localcql/metrics.py) for Prometheus, from a thread of their own."""
    from prometheus_client import REGISTRY, start_http_server

    from localcql.metrics import METRICS, PrometheusCounters

    REGISTRY.register(PrometheusCounters(METRICS))
    start_http_server(port, host)


async def _serve(engine, listening_socket: socket.socket, args, commitlog, credentials) -> None:
    server = LocalCqlServer(
        engine,
        args.max_frame_size_mb * 1024 * 1024,
        commitlog,
        credentials,
        args.slow_request_ms,
    )
    await server.start(listening_socket)
    if commitlog is not None and commitlog.sync == "periodic":
        flusher = asyncio.ensure_future(commitlog.sync_periodically())
    host, port = listening_socket.getsockname()[:2]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    storage = (
        "in-memory"
        if args.in_memory
        else f"data in {args.data_dir}, commitlog sync {args.commitlog_sync}"
    )
    print(f"{READY_PREFIX}{host}:{port} (protocol v4, {storage})", flush=True)
    await stop.wait()
    log.info("stopping")
    await server.close()
    if commitlog is not None and commitlog.sync == "periodic":
        flusher.cancel()
    close_engine = getattr(engine, "close", None)
    if close_engine is not None:
        close_engine()


if __name__ == "__main__":
    sys.exit(main())
