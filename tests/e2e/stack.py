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
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import grpc
import kombu
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nameko.testing.rabbit import Client as RabbitManagement

from localcql.testing import READY_PREFIX, running_localcql
from scripts.processes import Child, ChildFailed, file_sink, nameko_run
from services import DOMAIN_SERVICES
from services.common import brokers, config, schema
from services.common.cassandra import CassandraSettings
from tests.waiting import wait_until

GATEWAY = "gateway"
START_DEADLINE_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    env: dict
    grpc_port: int
    logs: Path
    processes: dict[str, Child] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def vhost(self) -> str:
        return brokers.vhost_of(self.env["AMQP_URI"])

    @property
    def rpc_timeout(self) -> float:
        return float(self.env["RPC_TIMEOUT"])

    def start(self, name: str, command: list[str] | None = None, **env) -> Child:
        """Runs `nameko run services.<name>.service` (or `command`), with extra env vars."""
        child = Child(
            name,
            command or nameko_run(f"services.{name}.service"),
            {**self.env, **env},
            file_sink(self.logs),
        )
        self.processes[name] = child.start()
        return child

    def stop(self, name: str) -> None:
        self.processes[name].stop()

    def log(self, name: str) -> str:
        """What a process has written so far ("" until its first line: a quiet process may
        write none)."""
        path = self.logs / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):  # the database last
            process.stop()

    def queued_requests(self, service_name: str) -> int:
        """How many RPC requests wait in a domain service's queue."""
        with kombu.Connection(self.env["AMQP_URI"]) as connection:
            declared = connection.default_channel.queue_declare(f"rpc-{service_name}", passive=True)
            return declared.message_count

    def wait_until_idle(self, seconds: float = 120.0) -> None:
        """Returns once no queue of the stack's vhost holds a message waiting for a consumer:
        the services have caught up with the requests and events published so far. A client's
        exclusive reply queue is its own business (and another connection may not look at it)."""
        queues = rabbit_management().get_queues(self.vhost)
        names = [queue["name"] for queue in queues if not queue.get("exclusive")]
        with kombu.Connection(self.env["AMQP_URI"]) as connection:
            channel = connection.default_channel

            def waiting() -> int:
                return sum(channel.queue_declare(n, passive=True).message_count for n in names)

            wait_until(lambda: waiting() == 0, seconds, "the services caught up with their queues")

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
                        raise ChildFailed(process.describe())
                if time.monotonic() > deadline:
                    logs = "\n\n".join(p.describe() for p in self.processes.values())
                    raise ChildFailed(f"not SERVING after {START_DEADLINE_SECONDS}s\n{logs}")
                time.sleep(0.05)  # the polling interval


def broker_credentials() -> tuple[SplitResult, str]:
    base = urlsplit(config.load()["AMQP_URI"])
    return base, f"{base.username or 'guest'}:{base.password or 'guest'}"


def rabbit_management() -> RabbitManagement:
    """The configured broker's management API."""
    base, credentials = broker_credentials()
    return RabbitManagement(f"http://{credentials}@{base.hostname}:15672")


@contextlib.contextmanager
def throwaway_vhost() -> Iterator[str]:
    """A new RabbitMQ vhost (via the management API) and its AMQP URI; deleted at the end, unless
    the test did."""
    base, credentials = broker_credentials()
    management = rabbit_management()
    vhost = f"kv_e2e_{uuid.uuid4().hex[:12]}"
    management.create_vhost(vhost)
    management.set_vhost_permissions(vhost, base.username or "guest", ".*", ".*", ".*")
    try:
        yield f"{base.scheme}://{credentials}@{base.netloc.rpartition('@')[2]}/{vhost}"
    finally:
        if vhost in (each["name"] for each in management.get_all_vhosts()):
            management.delete_vhost(vhost)


@contextlib.contextmanager
def running_stack(
    domain_services=DOMAIN_SERVICES,
    rpc_timeout: float = 2.0,
    localcql_data_dir=None,
    env=None,
    metrics=False,
    amqp_uri: str | None = None,
) -> Iterator[Stack]:
    """The stack. With `localcql_data_dir`, localcql is durable there and is one of the stack's
    processes ("localcql"), so a test can kill it and start it again on the same port. `env`:
    more environment variables for every process (OTEL_* to trace it). `metrics`: each process
    serves its metrics on a free port (METRICS_PORT). With `amqp_uri`, on that broker (or nodes)
    rather than a throwaway vhost of the machine's."""
    with (
        contextlib.ExitStack() as resources,
        tempfile.TemporaryDirectory(prefix="kv-e2e-") as logs,
    ):
        amqp_uri = amqp_uri or resources.enter_context(throwaway_vhost())
        stack = Stack({**os.environ, **(env or {}), "AMQP_URI": amqp_uri}, free_port(), Path(logs))
        if localcql_data_dir is None:
            cql_host, cql_port = resources.enter_context(running_localcql(in_memory=True))
        else:
            cql_host, cql_port = "127.0.0.1", free_port()
            stack.start("localcql", localcql_command(cql_port, localcql_data_dir))
            stack.processes["localcql"].wait_for_line(READY_PREFIX, START_DEADLINE_SECONDS)
        keyspace = f"kv_e2e_{uuid.uuid4().hex[:12]}"
        cassandra = {
            **config.load()["CASSANDRA"],
            "contact_points": cql_host,
            "port": cql_port,
            "keyspace": keyspace,
        }
        schema.apply(CassandraSettings.from_config(cassandra))
        stack.env |= {
            "CASSANDRA_CONTACT_POINTS": cql_host,
            "CASSANDRA_PORT": str(cql_port),
            "CASSANDRA_KEYSPACE": keyspace,
            "GRPC_BIND_PORT": str(stack.grpc_port),
            "RPC_TIMEOUT": str(rpc_timeout),
            "LOG_LEVEL": "WARNING",
        }
        try:
            for name in (*domain_services, GATEWAY):
                stack.start(name, **({"METRICS_PORT": str(free_port())} if metrics else {}))
            stack.wait_until_serving()
            yield stack
        except BaseException:
            # The logs directory goes with the stack: keep what each process said last in the
            # failing test's captured output.
            print("\n\n".join(p.describe("at the failure") for p in stack.processes.values()))
            raise
        finally:
            stack.stop_all()


def localcql_command(port: int, data_dir) -> list[str]:
    return [
        sys.executable,
        "-m",
        "localcql",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
