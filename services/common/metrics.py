"""Prometheus metrics of a KillrVideo process, served at ``http://METRICS_BIND_HOST:METRICS_PORT/metrics``.

Every service class declares ``metrics = Metrics()``: a nameko DependencyProvider, whose worker
hooks see every worker of its service (gRPC calls in the gateway, RPC requests and event handlers
in a domain service) without touching an entrypoint. At container start it also watches the
service's Cassandra session (through the driver's request listener, a public hook) and the
service's broker connections (through the consumers' own log lines: nameko offers no other
signal of a lost connection). With METRICS_PORT empty (the default outside `make run`) it does
nothing at all: no server, no thread, no bookkeeping per call.

Names and labels follow Prometheus's conventions (docs/operating.md lists them). Every label has
a bounded set of values: methods, handlers, events and statements are the code's own, outcomes
are exception class names or gRPC status names; no id ever becomes a label.
"""

import logging
import re
import sys
import time
from functools import lru_cache

from nameko import config
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from services.common import deadlines, health

log = logging.getLogger(__name__)

# From a millisecond (a cached read) to the RPC timeout and beyond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)

GRPC_REQUESTS = Counter(
    "killrvideo_grpc_requests",
    "gRPC calls the gateway answered, by method and status code",
    ["method", "code"],
)
GRPC_DURATION = Histogram(
    "killrvideo_grpc_request_duration_seconds",
    "Time from a gRPC call's start to its answer, by method",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_IN_FLIGHT = Gauge("killrvideo_grpc_requests_in_flight", "gRPC calls being answered now")
GRPC_REQUEST_SIZE = Histogram(
    "killrvideo_grpc_request_size_bytes",
    "Size of a gRPC call's request message, by method",
    ["method"],
    buckets=SIZE_BUCKETS,
)
RPC_REQUESTS = Counter(
    "killrvideo_rpc_requests",
    "RPC requests a domain service ran, by method and outcome (ok, or the error's class)",
    ["service", "method", "outcome"],
)
RPC_DURATION = Histogram(
    "killrvideo_rpc_request_duration_seconds",
    "Time a domain service's worker took on an RPC request, its answer included",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_HANDLED = Counter(
    "killrvideo_events_handled",
    "Events a handler ran, by outcome (ok, or the error's class: it will be retried)",
    ["service", "handler", "event", "outcome"],
)
EVENT_DURATION = Histogram(
    "killrvideo_event_handling_duration_seconds",
    "Time a handler took on an event",
    ["service", "handler", "event"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_HANDED_ON = Counter(
    "killrvideo_events_failed",
    "Failed events handed on, by where to: retry (a delay queue) or dead (the dead letters)",
    ["service", "handler", "event", "to"],
)
WORKERS_BUSY = Gauge("killrvideo_workers_busy", "Workers running now", ["service"])
WORKERS_MAX = Gauge("killrvideo_workers_max", "Size of the worker pool (max_workers)", ["service"])
CQL_QUERIES = Counter(
    "killrvideo_cql_queries",
    "CQL queries, by statement (verb and table) and outcome (ok, or the error's class)",
    ["service", "statement", "outcome"],
)
CQL_DURATION = Histogram(
    "killrvideo_cql_query_duration_seconds",
    "Time from a CQL query's send to its answer, by statement",
    ["service", "statement"],
    buckets=LATENCY_BUCKETS,
)
CQL_HOSTS_UP = Gauge("killrvideo_cql_hosts_up", "Database hosts the driver sees up", ["service"])
BROKER_CONNECTION_ERRORS = Counter(
    "killrvideo_broker_connection_errors",
    "Broker connections a consumer lost or failed to make (each followed by a reconnect attempt)",
    ["service"],
)

_serving_port: int | None = None


def serve(port: int, host: str) -> None:
    """Serves /metrics (and the process's health: services.common.health) on `port`, once per
    process (a second call is a no-op)."""
    global _serving_port
    if _serving_port is None:
        health.serve(port, host)
        _serving_port = port
        log.info("metrics at http://%s:%d/metrics", host, port)


def configured_port() -> int | None:
    port = config.get("METRICS_PORT")
    return int(port) if port not in (None, "", 0, "0") else None


class ExpiredRequests(Collector):
    """services.common.deadlines.dropped, in Prometheus form."""

    def collect(self):
        family = CounterMetricFamily(
            "killrvideo_rpc_requests_expired",
            "RPC requests dropped unrun: their caller's deadline had passed",
            labels=["service", "method"],
        )
        for what, count in deadlines.dropped.items():
            service, _, method = what.partition(".")
            family.add_metric([service, method], count)
        yield family


REGISTRY.register(ExpiredRequests())


# The verb and table of a CQL statement: "select videos", "insert user_credentials".
STATEMENT = re.compile(
    r"^\s*(?:(select)\b.*?\bfrom|(insert)\s+into|(update)|(delete)\b.*?\bfrom|(begin)\b)"
    r"\s*([\w.\"]*)",
    re.IGNORECASE | re.DOTALL,
)


@lru_cache(maxsize=512)
def statement_label(query_string: str) -> str:
    match = STATEMENT.match(query_string)
    if match is None:
        return query_string.split(None, 1)[0].lower() if query_string.strip() else "other"
    verb = next(group for group in match.groups()[:5] if group).lower()
    if verb == "begin":
        return "batch"
    return f"{verb} {match.group(6).rsplit('.', 1)[-1].strip(chr(34)).lower()}"


def statement_of(query) -> str:
    """The label of a driver statement (bound, simple or batch), never its values."""
    prepared = getattr(query, "prepared_statement", None)
    if prepared is not None:
        return statement_label(prepared.query_string)
    if hasattr(query, "_statements_and_parameters"):  # a BatchStatement
        return "batch"
    return statement_label(getattr(query, "query_string", None) or str(query))


class QueryWatch:
    """Counts and times every query of a driver Session (Session.add_request_init_listener)."""

    def __init__(self, service: str):
        self.service = service

    def __call__(self, response_future) -> None:
        statement = statement_of(response_future.query)
        started = time.perf_counter()
        response_future.add_callbacks(
            callback=self.done,
            callback_args=(statement, started, "ok"),
            errback=self.failed,
            errback_args=(statement, started),
        )

    def done(self, _rows, statement, started, outcome) -> None:
        CQL_QUERIES.labels(self.service, statement, outcome).inc()
        CQL_DURATION.labels(self.service, statement).observe(time.perf_counter() - started)

    def failed(self, error, statement, started) -> None:
        self.done(None, statement, started, type(error).__name__)


class BrokerLinkLog(logging.Handler):
    """Counts the consumers' lines saying a broker connection was lost or could not be made."""

    LOGGERS = ("kombu.mixins", "nameko.amqp.consume")
    SIGNS = ("Connection to broker lost", "Error connecting to broker")

    def __init__(self, service: str):
        super().__init__(logging.WARNING)
        self.errors = BROKER_CONNECTION_ERRORS.labels(service)

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(self.SIGNS):
            self.errors.inc()


class Metrics(DependencyProvider):
    """The metrics of the service it is declared on (every service class has one)."""

    def setup(self):
        self.port = configured_port()
        self.service = self.container.service_name
        self.started = {}  # worker context -> perf_counter at its setup

    def start(self):
        if self.port is None:
            return
        serve(self.port, config.get("METRICS_BIND_HOST") or "127.0.0.1")
        WORKERS_MAX.labels(self.service).set(self.container.max_workers)
        self.busy = WORKERS_BUSY.labels(self.service)
        self.watch_database()
        handler = BrokerLinkLog(self.service)
        for name in BrokerLinkLog.LOGGERS:
            logging.getLogger(name).addHandler(handler)

    def watch_database(self):
        for cluster in database_clusters(self.container):
            for session in cluster.sessions:
                session.add_request_init_listener(QueryWatch(self.service))
            CQL_HOSTS_UP.labels(self.service).set_function(
                lambda cluster=cluster: sum(h.is_up for h in cluster.metadata.all_hosts())
            )

    def worker_setup(self, worker_ctx):
        if self.port is None:
            return
        self.started[worker_ctx] = time.perf_counter()
        self.busy.inc()
        if self.service == "gateway":
            GRPC_IN_FLIGHT.inc()
            size = getattr(worker_ctx.args[0], "ByteSize", None) if worker_ctx.args else None
            if size is not None:  # a unary call's request (reflection streams its own)
                GRPC_REQUEST_SIZE.labels(worker_ctx.entrypoint.method_name).observe(size())

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self.started.pop(worker_ctx, None)
        if started is None:
            return
        seconds = time.perf_counter() - started
        self.busy.dec()
        entrypoint = worker_ctx.entrypoint
        method = entrypoint.method_name
        failure = None if exc_info is None else exc_info[1]
        if self.service == "gateway":
            GRPC_IN_FLIGHT.dec()
            GRPC_REQUESTS.labels(method, grpc_code_of(failure)).inc()
            GRPC_DURATION.labels(method).observe(seconds)
        elif isinstance(entrypoint, Rpc):
            RPC_REQUESTS.labels(self.service, method, outcome_of(failure)).inc()
            RPC_DURATION.labels(self.service, method).observe(seconds)
        else:  # an event handler
            event = entrypoint.event_type
            EVENTS_HANDLED.labels(self.service, method, event, outcome_of(failure)).inc()
            EVENT_DURATION.labels(self.service, method, event).observe(seconds)


def database_clusters(container) -> list:
    """The driver Clusters of a container's repositories (services.common.cassandra). The
    gateway has none, and does not load the driver: no module, no repository."""
    cassandra = sys.modules.get("services.common.cassandra")
    if cassandra is None:
        return []
    return [
        provider.cluster
        for provider in container.dependencies
        if isinstance(provider, cassandra.CassandraRepository) and provider.cluster is not None
    ]


def outcome_of(failure: BaseException | None) -> str:
    return "ok" if failure is None else type(failure).__name__


def grpc_code_of(failure: BaseException | None) -> str:
    if failure is None:
        return "OK"
    from services.gateway.errors import status_code_of  # the gateway's table of statuses

    return status_code_of(failure).name


def count_handed_on(handler, dead: bool) -> None:
    """A failed event handed on to a retry queue or to the dead letters (handlers.py)."""
    if configured_port() is None:
        return
    service = handler.container.service_name
    to = "dead" if dead else "retry"
    EVENTS_HANDED_ON.labels(service, handler.method_name, handler.event_type, to).inc()
