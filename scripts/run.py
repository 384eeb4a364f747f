"""`make run`: the whole KillrVideo backend on this machine, in the foreground.

    python -m scripts.run [--var-dir DIR] [--log-format plain|json]
    python -m scripts.run --stop          # what `make stop` does

Starts localcql with its data in `<var>/localcql`, applies the schema, starts every domain
service and then the gateway (`nameko run`, one process each), waits until the gateway's health
service says SERVING, loads the sample data on the first start (through the public gRPC API),
and prints what runs where. Every child's output is one stream, each line led by the child's
name (or, with --log-format json, one JSON object per line). Ctrl-C or SIGTERM (`make stop`)
stops the gateway, then the services, then localcql; nothing is left running.

The broker must answer at AMQP_URI (`make run` runs scripts/ensure_rabbitmq.py first). Ports
and addresses come from config.yaml and its environment variables (GRPC_BIND_PORT,
CASSANDRA_PORT, AMQP_URI, ...), so a second site can run beside the first.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from localcql.testing import READY_PREFIX
from scripts import sample_data
from scripts.processes import ROOT, Child, ChildFailed, nameko_run
from services import DOMAIN_SERVICES
from services.common import config, schema
from services.common.cassandra import CassandraSettings

DEFAULT_VAR_DIR = ROOT / "var"
READY_DEADLINE_SECONDS = 90.0
SAMPLE_DATA_MARKER = "sample-data-loaded"
READY_LINE = "KillrVideo is running"


class Output:
    """The one stream all children write to, a line at a time."""

    def __init__(self, log_format: str):
        self.log_format = log_format
        self.lock = threading.Lock()
        self.width = max(len(name) for name in (*DOMAIN_SERVICES, "localcql", "gateway"))

    def line(self, name: str, text: str) -> None:
        if self.log_format == "json":
            try:
                record = json.loads(text)
                if not isinstance(record, dict):
                    raise ValueError
            except ValueError:  # not a JSON log line (localcql's, a traceback): wrap it
                record = {"message": text}
            text = json.dumps({"service": name, **record})
        else:
            text = f"{name:<{self.width}} | {text}"
        with self.lock:
            print(text, flush=True)

    def say(self, text: str) -> None:
        self.line("run", text) if self.log_format == "json" else print(text, flush=True)


class Site:
    def __init__(self, var_dir: Path, output: Output):
        self.var_dir = var_dir
        self.output = output
        self.settings = config.load()
        self.env = {**os.environ, "LOG_FORMAT": output.log_format}
        self.children: list[Child] = []

    @property
    def gateway_address(self) -> str:
        return f"{self.settings['GRPC_BIND_HOST']}:{self.settings['GRPC_BIND_PORT']}"

    def start(self, name: str, command: list[str]) -> Child:
        child = Child(name, command, self.env, self.output.line).start()
        self.children.append(child)
        return child

    def start_localcql(self) -> None:
        cassandra = self.settings["CASSANDRA"]
        data_dir = self.var_dir / "localcql"
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = CassandraSettings.from_config(cassandra)
        command = [sys.executable, "-m", "localcql", "--host", settings.contact_points[0]]
        command += ["--port", str(settings.port), "--data-dir", str(data_dir)]
        if settings.username:
            # The services' credentials (CASSANDRA_USERNAME/PASSWORD) are localcql's to require.
            command.append("--require-auth")
            self.env |= {"LOCALCQL_USERNAME": settings.username}
            self.env |= {"LOCALCQL_PASSWORD": settings.password or ""}
        self.start("localcql", command).wait_for_line(READY_PREFIX, READY_DEADLINE_SECONDS)

    def start_services(self) -> None:
        for name in DOMAIN_SERVICES:
            self.start(name, nameko_run(f"services.{name}.service"))
        self.start("gateway", nameko_run("services.gateway.service"))

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        with grpc.insecure_channel(self.gateway_address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                self.check_children()
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise ChildFailed(f"not SERVING after {READY_DEADLINE_SECONDS:g}s")
                time.sleep(0.2)  # the polling interval

    def check_children(self) -> None:
        for child in self.children:
            if child.exit_code is not None:
                raise ChildFailed(child.describe("stopped unexpectedly"))

    def load_sample_data_once(self) -> None:
        marker = self.var_dir / SAMPLE_DATA_MARKER
        if marker.exists():
            self.output.say("Sample data: already loaded (delete var/ to start afresh).")
            return
        self.output.say("Loading the sample data through the gRPC API...")
        with grpc.insecure_channel(self.gateway_address) as channel:
            counts = sample_data.load(channel, self.output.say, self.var_dir)
        marker.write_text(json.dumps(counts) + "\n")
        self.output.say("Sample data loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))

    def stop(self) -> None:
        # The gateway first (no new requests), then the services, then their database.
        for child in reversed(self.children):
            child.stop()

    def summary(self) -> str:
        broker = urlsplit(self.settings["AMQP_URI"])
        cassandra = CassandraSettings.from_config(self.settings["CASSANDRA"])
        return "\n".join(
            [
                f"{READY_LINE}:",
                f"  gRPC API (every KillrVideo service): {self.gateway_address}",
                f"  localcql (CQL, for cqlsh): {cassandra.address}, "
                f"keyspace {cassandra.keyspace}, data in {self.var_dir / 'localcql'}",
                f"  RabbitMQ: {broker.hostname}:{broker.port or 5672}{broker.path or '/'}",
                f"  services: {', '.join(DOMAIN_SERVICES)} (make shell to talk to them)",
                "Stop with Ctrl-C here, or `make stop` from another shell.",
            ]
        )


def pid_file(var_dir: Path) -> Path:
    return var_dir / "run.pid"


def running_pid(var_dir: Path) -> int | None:
    try:
        pid = int(pid_file(var_dir).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def run(var_dir: Path, log_format: str) -> int:
    var_dir.mkdir(parents=True, exist_ok=True)
    other = running_pid(var_dir)
    if other is not None:
        print(f"make run: already running (pid {other}); `make stop` stops it.", file=sys.stderr)
        return 1
    pid_file(var_dir).write_text(f"{os.getpid()}\n")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    output = Output(log_format)
    site = Site(var_dir, output)
    try:
        site.start_localcql()
        schema.apply(CassandraSettings.from_config(site.settings["CASSANDRA"]))
        site.start_services()
        site.wait_until_serving()
        site.load_sample_data_once()
        output.say(site.summary())
        while not stopping.wait(0.5):
            site.check_children()
        output.say("Stopping...")
        return 0
    except ChildFailed as failure:
        output.say(f"make run: {failure}")
        return 1
    finally:
        site.stop()
        pid_file(var_dir).unlink(missing_ok=True)
        output.say("Stopped.")


def stop(var_dir: Path) -> int:
    pid = running_pid(var_dir)
    if pid is None:
        print("make stop: nothing is running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while running_pid(var_dir) == pid:
        if time.monotonic() > deadline:
            print(f"make stop: pid {pid} is still running after 60s.", file=sys.stderr)
            return 1
        time.sleep(0.2)  # the polling interval
    print("make stop: stopped.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--var-dir",
        type=Path,
        default=Path(os.environ.get("KILLRVIDEO_VAR_DIR") or DEFAULT_VAR_DIR),
    )
    parser.add_argument(
        "--log-format", choices=("plain", "json"), default=os.environ.get("LOG_FORMAT") or "plain"
    )
    parser.add_argument(
        "--stop", action="store_true", help="stop the site running from this var dir"
    )
    args = parser.parse_args()
    return stop(args.var_dir) if args.stop else run(args.var_dir, args.log_format)


if __name__ == "__main__":
    sys.exit(main())
