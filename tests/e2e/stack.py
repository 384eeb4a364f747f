"""The whole backend in subprocesses, for end-to-end tests and benchmarks driven by grpcio.

`running_stack()` starts localcql (in memory), makes a throwaway RabbitMQ vhost and a fresh
keyspace with every service's schema, then runs each domain service and the gateway as its own
`nameko run` process (as in production, so one can be stopped alone), and returns once the
gateway's health service says SERVING. Everything is stopped and removed at the end.

grpcio must not run in an eventlet-monkey-patched process: use this from one that is not (see
tests/e2e/conftest.py).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import kombu
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nameko.testing.rabbit import Client as RabbitManagement

from localcql.testing import running_localcql
from services import DOMAIN_SERVICES
from services.common import config, schema
from services.common.cassandra import CassandraSettings

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = "gateway"
START_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 15.0


class StackFailed(RuntimeError):
    """A process of the stack did not start or died; the message carries its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nameko_run(module: str) -> list[str]:
    return [str(Path(sys.executable).with_name("nameko")), "run", module, "--config", "config.yaml"]


@dataclass
class Process:
    command: list[str]
    env: dict
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(STOP_DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    @property
    def exit_code(self) -> int | None:
        return self.popen.poll()

    def describe(self) -> str:
        tail = self.log.read_text(errors="replace")[-4000:]
        return f"{' '.join(self.command)} (exit code {self.exit_code}); its log ends with:\n{tail}"


@dataclass
class Stack:
    env: dict
    grpc_port: int
    logs: Path
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rpc_timeout(self) -> float:
        return float(self.env["RPC_TIMEOUT"])

    def start(self, name: str, command: list[str] | None = None, **env) -> Process:
        """Runs `nameko run services.<name>.service` (or `command`), with extra env vars."""
        process = Process(
            command or nameko_run(f"services.{name}.service"),
            {**self.env, **env},
            self.logs / f"{name}.log",
        )
        process.start()
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        self.processes[name].stop()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()

    def queued_requests(self, service_name: str) -> int:
        """How many RPC requests wait in a domain service's queue."""
        with kombu.Connection(self.env["AMQP_URI"]) as connection:
            declared = connection.default_channel.queue_declare(f"rpc-{service_name}", passive=True)
            return declared.message_count

    def wait_until_serving(self, address: str | None = None, service: str = "") -> None:
        """Polls the gateway's health service until SERVING, failing at once if a process
        died and after START_DEADLINE_SECONDS otherwise."""
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        with grpc.insecure_channel(address or self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass  # the gateway is not listening yet
                for process in self.processes.values():
                    if process.exit_code is not None:
                        raise StackFailed(process.describe())
                if time.monotonic() > deadline:
                    logs = "\n\n".join(p.describe() for p in self.processes.values())
                    raise StackFailed(f"not SERVING after {START_DEADLINE_SECONDS}s\n{logs}")
                time.sleep(0.05)  # the polling interval


@contextlib.contextmanager
def throwaway_vhost() -> Iterator[str]:
    """A new RabbitMQ vhost (via the management API) and its AMQP URI; deleted at the end."""
    base = urlsplit(config.load()["AMQP_URI"])
    credentials = f"{base.username or 'guest'}:{base.password or 'guest'}"
    management = RabbitManagement(f"http://{credentials}@{base.hostname}:15672")
    vhost = f"kv_e2e_{uuid.uuid4().hex[:12]}"
    management.create_vhost(vhost)
    management.set_vhost_permissions(vhost, base.username or "guest", ".*", ".*", ".*")
    try:
        yield f"{base.scheme}://{credentials}@{base.netloc.rpartition('@')[2]}/{vhost}"
    finally:
        management.delete_vhost(vhost)


@contextlib.contextmanager
def running_stack(domain_services=DOMAIN_SERVICES, rpc_timeout: float = 2.0) -> Iterator[Stack]:
    with (
        running_localcql(in_memory=True) as (cql_host, cql_port),
        throwaway_vhost() as amqp_uri,
        tempfile.TemporaryDirectory(prefix="kv-e2e-") as logs,
    ):
        keyspace = f"kv_e2e_{uuid.uuid4().hex[:12]}"
        cassandra = {
            **config.load()["CASSANDRA"],
            "contact_points": cql_host,
            "port": cql_port,
            "keyspace": keyspace,
        }
        schema.apply(CassandraSettings.from_config(cassandra))
        grpc_port = free_port()
        env = {
            **os.environ,
            "AMQP_URI": amqp_uri,
            "CASSANDRA_CONTACT_POINTS": cql_host,
            "CASSANDRA_PORT": str(cql_port),
            "CASSANDRA_KEYSPACE": keyspace,
            "GRPC_BIND_PORT": str(grpc_port),
            "RPC_TIMEOUT": str(rpc_timeout),
            "LOG_LEVEL": "WARNING",
        }
        stack = Stack(env, grpc_port, Path(logs))
        try:
            for name in (*domain_services, GATEWAY):
                stack.start(name)
            stack.wait_until_serving()
            yield stack
        finally:
            stack.stop_all()
