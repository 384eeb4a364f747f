"""`make run`: the whole KillrVideo backend on this machine, in the foreground.

    python -m scripts.run [--var-dir DIR] [--log-format plain|json]
    python -m scripts.run --stop          # what `make stop` does

Refuses to start when another site's services already consume this site's RabbitMQ vhost
(scripts/vhosts.py), and migrates the classic queues of an earlier version to quorum queues
(services.common.queue_migration). Starts localcql with its data in `<var>/localcql` (or, when
CASSANDRA_CONTACT_POINTS is set, uses that cluster and starts none), applies the schema, starts
every domain service and then the gateway (`nameko run`, one process each, or N of a service
with <SERVICE>_REPLICAS=N, named `<service>-1` ... `<service>-N`), waits until the
gateway's health service says SERVING, loads the sample data on the first start (through the
public gRPC API), and prints what runs where. Then it keeps the site running: a process that
dies is restarted after a backoff (scripts/supervision.py). Every child's output is one stream,
each line led by the child's name (or, with --log-format json, one JSON object per line).
Ctrl-C, SIGTERM (`make stop`) or SIGHUP (a closed terminal) stops the gateway, then the
services, then localcql; if the launcher itself is killed, its children get SIGTERM from the
kernel (scripts/processes.py). docs/operating.md tells the whole story.

The broker must answer at AMQP_URI (`make run` runs scripts/ensure_rabbitmq.py first). Ports
and addresses come from config.yaml and its environment variables (GRPC_BIND_PORT,
CASSANDRA_PORT, AMQP_URI, ...), so a second site can run beside the first on its own vhost.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from localcql.testing import READY_PREFIX
from scripts import sample_data, vhosts
from scripts.monitoring import ScrapeTargets
from scripts.output import LineWriter, Output
from scripts.processes import ROOT, Child, ChildFailed, nameko_run, stop_together
from scripts.supervision import SiteRecord, Supervisor
from services import DOMAIN_SERVICES
from services.common import config, queue_migration, schema
from services.common.cassandra import CassandraSettings
from services.common.handlers import DEFAULT_RETRY_DELAYS

DEFAULT_VAR_DIR = ROOT / "var"
READY_DEADLINE_SECONDS = 90.0
SAMPLE_DATA_MARKER = "sample-data-loaded"
READY_LINE = "KillrVideo is running"


class Site:
    def __init__(self, var_dir: Path, output: Output):
        self.var_dir = var_dir
        self.output = output
        self.settings = config.load()
        self.env = {**os.environ, "LOG_FORMAT": output.log_format}
        self.children: list[Child] = []
        self.record = SiteRecord(var_dir)
        # The operator's own cluster, rather than a localcql of this site's.
        self.external_database = bool(os.environ.get("CASSANDRA_CONTACT_POINTS"))
        self.scrape_targets = ScrapeTargets(var_dir, self.settings["METRICS_BIND_HOST"])
        self.replicas = replicas(os.environ)

    @property
    def gateway_address(self) -> str:
        return f"{self.settings['GRPC_BIND_HOST']}:{self.settings['GRPC_BIND_PORT']}"

    def start(self, name: str, command: list[str]) -> Child:
        # Started from the launcher's main thread, so they die with it (die_with_parent).
        child = Child(
            name,
            command,
            self.env | self.scrape_targets.env_for(name),
            self.output.line,
            die_with_parent=True,
            stderr_sink=self.output.error_line,
        ).start()
        self.children.append(child)
        self.record.write(self.children)
        return child

    def start_localcql(self) -> None:
        if self.external_database:
            return
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
            for process_name in replica_names(name, self.replicas[name]):
                self.start(process_name, nameko_run(f"services.{name}.service"))
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

    def supervise(self, stopping: threading.Event) -> None:
        """Restarts the children that die, until `stopping` is set. From the main thread: the
        restarted children die with it too."""
        supervisor = Supervisor(
            self.children, self.output.say, lambda: self.record.write(self.children)
        )
        while not stopping.wait(0.2):  # the polling interval
            supervisor.check()

    def stop(self) -> None:
        stop_in_order(self.children)

    def described_services(self) -> list[str]:
        return [
            name if self.replicas[name] == 1 else f"{name} ({self.replicas[name]} replicas)"
            for name in DOMAIN_SERVICES
        ]

    def summary(self) -> str:
        cassandra = CassandraSettings.from_config(self.settings["CASSANDRA"])
        if self.external_database:
            database = f"  Cassandra (CASSANDRA_CONTACT_POINTS): {cassandra.address}"
        else:
            database = f"  localcql (CQL, for cqlsh): {cassandra.address}"
        return "\n".join(
            [
                f"{READY_LINE}:",
                f"  gRPC API (every KillrVideo service but UploadsService): {self.gateway_address}",
                f"{database}, keyspace {cassandra.keyspace}"
                + ("" if self.external_database else f", data in {self.var_dir / 'localcql'}"),
                f"  RabbitMQ: {vhosts.broker_of(self.settings['AMQP_URI'])}",
                f"  services: {', '.join(self.described_services())} (make shell to talk to them)",
                self.scrape_targets.summary(),
                "Stop with Ctrl-C here, or `make stop` from another shell.",
            ]
        )


class BadReplicas(ValueError):
    """A <SERVICE>_REPLICAS variable that is not a whole number from 1."""


def replicas(env) -> dict[str, int]:
    """How many processes of each domain service to run: <SERVICE>_REPLICAS (docker/compose.yaml
    reads the same variables), 1 by default. The gateway has none: it listens on one port."""
    counts = {}
    for name in DOMAIN_SERVICES:
        variable = f"{name.upper()}_REPLICAS"
        value = env.get(variable) or "1"
        if not value.isdigit() or int(value) < 1:
            raise BadReplicas(f"{variable} must be a whole number from 1, not {value!r}")
        counts[name] = int(value)
    return counts


def replica_names(service: str, count: int) -> list[str]:
    """The process names of a service's replicas: its own name when it runs alone, else
    `<service>-1`, `<service>-2`, ..."""
    return [service] if count == 1 else [f"{service}-{n}" for n in range(1, count + 1)]


def service_of(process_name: str) -> str:
    """The service a process runs (`videos-2` → `videos`)."""
    base, _, number = process_name.rpartition("-")
    return base if number.isdigit() and base in DOMAIN_SERVICES else process_name


class Interrupted(BaseException):
    """A signal to stop came while the site was starting (a BaseException, as KeyboardInterrupt:
    no `except Exception` on the way may swallow it)."""


def stop_in_order(processes: list) -> None:
    """The gateway first (no new requests), then the services together, then their database."""
    for names in ({"gateway"}, set(DOMAIN_SERVICES), {"localcql"}):
        stop_together([process for process in processes if service_of(process.name) in names])


def migrate_queues(settings: dict, output: Output) -> bool:
    """Declares again as quorum queues the empty classic queues an earlier version left on the
    vhost (services.common.queue_migration); False, having said why, if one holds messages."""
    delays = settings.get("EVENT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)
    left = queue_migration.migrate(
        settings["AMQP_URI"],
        queue_migration.site_queues(delays),
        lambda line: output.say(f"Queues: {line}"),
    )
    if left:
        print(
            f"make run: {len(left)} classic queue(s) of an earlier version still hold messages; "
            f"`{queue_migration.COMMAND}` moves them into quorum queues (docs/operating.md), "
            "then `make run` again.",
            file=sys.stderr,
        )
    return not left


def run(var_dir: Path, output: Output) -> int:
    var_dir.mkdir(parents=True, exist_ok=True)
    launcher, leftovers = SiteRecord(var_dir).read()
    if launcher is not None:
        running = f"already running (pid {launcher.pid})"
        print(f"make run: {running}; `make stop` stops it.", file=sys.stderr)
        return 1
    if leftovers:
        print(
            "make run: processes of a make run whose launcher is gone still run ("
            + ", ".join(f"{p.name} pid {p.pid}" for p in leftovers)
            + "); `make stop` stops them.",
            file=sys.stderr,
        )
        return 1
    try:
        site = Site(var_dir, output)
    except BadReplicas as bad:
        print(f"make run: {bad}", file=sys.stderr)
        return 1
    try:
        vhosts.check_free(site.settings["AMQP_URI"])
    except vhosts.VhostUnusable as unusable:
        print(f"make run: {unusable}", file=sys.stderr)
        return 1
    if not migrate_queues(site.settings, output):
        return 1
    stopping = threading.Event()
    starting = True

    def stop_signal(*_) -> None:
        stopping.set()
        if starting:  # interrupt the start where it is (a wait, a call), as Ctrl-C would
            raise Interrupted

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_signal)
    site.record.write([])
    try:
        site.start_localcql()
        schema.apply(CassandraSettings.from_config(site.settings["CASSANDRA"]))
        site.start_services()
        site.wait_until_serving()
        site.load_sample_data_once()
        output.say(site.summary())
        starting = False
        site.supervise(stopping)
        output.say("Stopping...")
        return 0
    except Interrupted:
        output.say("Stopping while starting...")
        return 0
    except ChildFailed as failure:
        output.say(f"make run: {failure}", "ERROR")
        return 1
    finally:
        starting = False  # a second signal must not interrupt the stop
        site.stop()
        site.record.remove()
        output.say("Stopped.")


def stop(var_dir: Path) -> int:
    record = SiteRecord(var_dir)
    launcher, children = record.read()
    if launcher is None and not children:
        record.remove()
        print("make stop: nothing is running.")
        return 0
    if launcher is not None:
        os.kill(launcher.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while launcher.running():
            if time.monotonic() > deadline:
                print(f"make stop: pid {launcher.pid} is still running after 60s.", file=sys.stderr)
                return 1
            time.sleep(0.2)  # the polling interval
        _, children = record.read()  # what a launcher that stopped cleanly left: nothing
    if children:
        print(
            "make stop: the launcher is gone; stopping what it started: "
            + ", ".join(f"{p.name} (pid {p.pid})" for p in children)
        )
        stop_in_order(children)
    record.remove()
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
    if args.stop:
        return stop(args.var_dir)
    output = Output(args.log_format)
    if args.log_format == "json":  # the launcher's own errors too, a traceback included
        sys.stderr = LineWriter(lambda line: output.say(line, "ERROR"))
    return run(args.var_dir, output)


if __name__ == "__main__":
    sys.exit(main())
