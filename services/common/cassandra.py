"""Cassandra for nameko services: one Cluster and Session per container, behind a repository.

A service declares ``repository = CassandraRepository(VideosRepository)``. At container start the
provider connects (retrying with backoff while the database is not reachable yet, then failing with
a clear error), builds the repository once, which prepares each of its statements once, and hands
that same repository to every worker. At container stop it shuts the cluster down.

A worker's queries get at most the time left before its request's deadline
(services.common.deadlines) as their timeout, so a database that does not answer is reported to
the caller (BackendUnavailable) before the caller gives up. Once the database has gone, the driver
tries it again every RECONNECT_MAX_DELAY seconds at most, however long it was away.
"""

import logging
import re
import socket
import time
from collections import namedtuple
from dataclasses import dataclass
from functools import lru_cache

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.concurrent import execute_concurrent

# The one place the project names cassandra-driver's eventlet reactor, deprecated in 3.30: what the
# project does the day it goes is in docs/internals.md, "The reactor's runway".
from cassandra.io.eventletreactor import EventletConnection
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    HostStateListener,
    TokenAwarePolicy,
)
from nameko import config
from nameko.extensions import DependencyProvider

from services.common import deadlines

log = logging.getLogger(__name__)

# The driver's default reconnection waits grow to 10 minutes: a database back after a long outage
# went unused for that long. Here they start at RECONNECT_BASE_DELAY and grow to at most
# RECONNECT_MAX_DELAY, forever (the driver's policy gives up after 64 attempts by default): every
# service finds a database that is back within that delay, plus a connection's handshake.
RECONNECT_BASE_DELAY = 0.1
RECONNECT_MAX_DELAY = 2.0
SERIAL_CONSISTENCIES = ("SERIAL", "LOCAL_SERIAL")


class DatabaseUnreachable(Exception):
    pass


@dataclass(frozen=True)
class CassandraSettings:
    contact_points: list[str]
    port: int = 9042
    keyspace: str = "killrvideo"
    local_dc: str = "datacenter1"
    consistency: str = "LOCAL_QUORUM"
    # Lightweight transactions (IF ...): LOCAL_SERIAL keeps their Paxos round in the local data
    # center, as LOCAL_QUORUM does for the rest; SERIAL spans every data center.
    serial_consistency: str = "LOCAL_SERIAL"
    replication_factor: int = 1
    username: str | None = None
    password: str | None = None
    # Above Cassandra's own timeouts (5 s for reads and counter writes), so that the
    # coordinator's answer (which replicas were missing) comes first; config.yaml says more.
    request_timeout: float = 6.0
    connect_timeout: float = 60.0
    # The native protocol version to speak, None to negotiate it (the driver then tries the
    # newest first and logs a warning for every version the server refuses).
    protocol_version: int | None = None

    def __post_init__(self):
        # The keyspace is spliced into DDL (identifiers cannot be bound): accept only a plain name.
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", self.keyspace):
            raise ValueError(f"CASSANDRA.keyspace is not a valid keyspace name: {self.keyspace!r}")
        if self.serial_consistency not in SERIAL_CONSISTENCIES:
            raise ValueError(
                f"CASSANDRA.serial_consistency is {self.serial_consistency!r}, "
                f"not one of {', '.join(SERIAL_CONSISTENCIES)}"
            )

    @classmethod
    def from_config(cls, section: dict) -> "CassandraSettings":
        points = section.get("contact_points") or "127.0.0.1"
        if isinstance(points, str):
            points = [point.strip() for point in points.split(",") if point.strip()]
        known = {name: section[name] for name in cls.__dataclass_fields__ if name in section}
        return cls(
            **{
                **known,
                "contact_points": points,
                "username": section.get("username") or None,
                "password": section.get("password") or None,
                "protocol_version": int(section.get("protocol_version") or 0) or None,
            }
        )

    def build_cluster(self, connection_class=None) -> Cluster:
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=self.local_dc)),
            consistency_level=ConsistencyLevel.name_to_value[self.consistency],
            serial_consistency_level=ConsistencyLevel.name_to_value[self.serial_consistency],
            request_timeout=self.request_timeout,
            row_factory=named_rows,
        )
        auth = PlainTextAuthProvider(self.username, self.password) if self.username else None
        return Cluster(
            contact_points=self.contact_points,
            port=self.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            auth_provider=auth,
            reconnection_policy=ExponentialReconnectionPolicy(
                RECONNECT_BASE_DELAY, RECONNECT_MAX_DELAY, max_attempts=None
            ),
            **({"protocol_version": self.protocol_version} if self.protocol_version else {}),
            # The driver pipelines requests on one connection: without this, Nagle's algorithm
            # holds each request after the first until the server ACKs the one before.
            sockopts=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            **({"connection_class": connection_class} if connection_class else {}),
        )

    def connect(self, keyspace: str | None, connection_class=None):
        """A (cluster, session), retrying with backoff until connect_timeout has passed."""
        deadline = time.monotonic() + self.connect_timeout
        pause = 0.2
        while True:
            cluster = self.build_cluster(connection_class)
            try:
                return cluster, cluster.connect(keyspace)
            except NoHostAvailable as error:
                cluster.shutdown()
                if time.monotonic() + pause > deadline:
                    raise DatabaseUnreachable(
                        f"Cassandra at {self.address} did not answer within "
                        f"{self.connect_timeout:.0f}s: {error}"
                    ) from error
                log.warning(
                    "Cassandra at %s not reachable yet; retrying in %.1fs", self.address, pause
                )
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    @property
    def address(self) -> str:
        return ",".join(f"{point}:{self.port}" for point in self.contact_points)


class DeadlineSession:
    """A driver Session whose queries time out before the deadline of the request that makes
    them (services.common.deadlines.query_timeout), or after request_timeout without one. A
    query given its own timeout keeps it."""

    def __init__(self, session, request_timeout: float):
        self.session = session
        self.request_timeout = request_timeout

    def __getattr__(self, name):
        return getattr(self.session, name)

    def execute(self, query, parameters=None, **options):
        options.setdefault("timeout", deadlines.query_timeout(self.request_timeout))
        return self.session.execute(query, parameters, **options)

    def execute_async(self, query, parameters=None, **options):
        options.setdefault("timeout", deadlines.query_timeout(self.request_timeout))
        return self.session.execute_async(query, parameters, **options)


class RecoveryLog(HostStateListener):
    """Logs once that a database host that was down is back. The driver logs once that it went
    down ("Host ... has been marked down"), and each call failing meanwhile logs its own line;
    the driver's line for every attempt to reconnect is silenced in config.yaml (LOGGING)."""

    def __init__(self):
        self.hosts_down = set()

    def on_down(self, host):
        self.hosts_down.add(host)

    def on_up(self, host):
        if host in self.hosts_down:
            self.hosts_down.discard(host)
            log.warning("Cassandra host %s is back", host)

    def on_add(self, host):
        pass

    def on_remove(self, host):
        self.hosts_down.discard(host)


class CassandraRepository(DependencyProvider):
    """Injects a service's repository, built once per container on a shared Session."""

    def __init__(self, repository_class):
        self.repository_class = repository_class
        self.cluster = None  # until setup() connects

    def setup(self):
        # Connect in setup, not start: nameko finishes every extension's setup before any starts,
        # whereas starts run concurrently and an entrypoint may hand a queued request to a worker
        # before a start-time connection exists.
        settings = CassandraSettings.from_config(config["CASSANDRA"])
        # nameko runs on eventlet: the driver's I/O must cooperate with its green threads.
        self.cluster, session = settings.connect(settings.keyspace, EventletConnection)
        self.cluster.register_listener(RecoveryLog())
        self.repository = self.repository_class(DeadlineSession(session, settings.request_timeout))

    def stop(self):
        # A container killed while another extension's setup failed never connected this one.
        if self.cluster is not None:
            self.cluster.shutdown()

    kill = stop

    def worker_setup(self, worker_ctx):
        # In the worker's own green thread, before its method, so its queries see its deadline
        # (the thread ends with the worker: nothing to undo).
        deadlines.enter(worker_ctx.data)

    def get_dependency(self, worker_ctx):
        return self.repository


@lru_cache(maxsize=1024)
def row_class(column_names: tuple[str, ...]) -> type:
    # rename: a column name that is not an identifier ("[applied]") becomes positional ("_0").
    return namedtuple("Row", column_names, rename=True)


def named_rows(column_names, rows) -> list:
    """Rows as named tuples, like the driver's default row factory, which builds a new namedtuple
    class for every result: that took a tenth of a service's CPU on a point read, and a batched
    lookup pays it once per key. Here each result shape gets its class once.

    The driver's ResultSet.was_applied refuses any row factory but its own: use applied()."""
    make = row_class(tuple(column_names))._make
    return [make(row) for row in rows]


def applied(result) -> bool:
    """Whether a lightweight transaction (IF ...) took effect: the first column of its row."""
    return result.one()[0]


def multi_get(session, statement, keys: list, key_of) -> list:
    """The rows of one `... WHERE <partition key> IN ?` read of `keys`, in the order of `keys`
    (keys without a row are left out; `key_of(row)` names a row's key).

    For the API's multi-gets, of at most 20 ids, one request costs the cluster little more than
    20 point reads would, and the service a fraction: measured on a home page's profile and
    play-count lookups, the 10 point reads were half of each service's CPU. Unbounded key sets
    take point_reads instead: an IN over many partitions loads its coordinator."""
    found = {key_of(row): row for row in session.execute(statement, (keys,))}
    return [found[key] for key in keys if key in found]


def point_reads(session, statement, keys) -> list:
    """The rows found by one single-partition read per key, run concurrently, in key order.

    Cassandra prefers this to a multi-partition IN: each read goes straight to its replicas.
    """
    return [row for rows in reads(session, statement, [(key,) for key in keys]) for row in rows]


def reads(session, statement, params_list) -> list[list]:
    """The rows of each execution of `statement` with each params, run concurrently, in order."""
    return run_all(session, [(statement, params) for params in params_list])


def run_all(session, statements_and_params) -> list[list]:
    """Every (statement, params) run concurrently; the rows of each, in order. The first
    failure is raised."""
    results = execute_concurrent(session, statements_and_params, raise_on_first_error=True)
    return [list(result) for _, result in results]


def read_page(session, statement, params, room: int, driver_state: bytes | None, skip_head=None):
    """Up to `room` rows of a query in clustering order, resuming at `driver_state`, and the
    driver's paging state after them (None once the query is exhausted).

    Each fetch asks for exactly the room left, so the driver's paging state points right after
    the last row returned. `skip_head(rows) -> (kept, keep_skipping)`, when given, drops rows at
    the head of the first page (a listing's rows before its inclusive starting point).
    """
    rows = []
    skipping = skip_head is not None and driver_state is None
    while True:
        bound = statement.bind(params)
        bound.fetch_size = room - len(rows)
        result = session.execute(bound, paging_state=driver_state)
        page = result.current_rows
        if skipping:
            page, skipping = skip_head(page)
        rows += page
        driver_state = result.paging_state
        if len(rows) == room or driver_state is None:
            return rows, driver_state
