"""OpenTelemetry traces across the gateway, the services, the message bus and the database.

Configured only by the standard OTEL_* environment variables, and off unless
OTEL_TRACES_EXPORTER names an exporter (``otlp``: OTLP over HTTP/protobuf to
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; ``console``). The sampler
(OTEL_TRACES_SAMPLER), the batching (OTEL_BSP_*) and the service name (OTEL_SERVICE_NAME, else
the nameko service's name) are the SDK's. Off, nothing is loaded or started: no provider, no
exporter thread, and a worker costs one test of a module global.

Every worker of a service gets a span: a gRPC call in the gateway (its trace's root, or a child
of the caller's W3C ``traceparent`` metadata), an RPC request or an event in a domain service.
The W3C trace context travels in nameko's context data, which nameko already carries in the AMQP
headers (``nameko.traceparent``) of every RPC request and every event a worker sends, always in
W3C's format (OTEL_PROPAGATORS chooses only what the gateway reads from its gRPC callers), as
for deadlines (services.common.deadlines): a worker's context data carries its own span's
context, so what it calls and publishes continues its trace. The span is started where the
container spawns the worker (container.py), so that its context is in the worker's context data
before any dependency copies it; the Tracing provider makes it current in the worker's green
thread, and ends it with the worker. Each CQL query gets a client span from the driver's request
listener (a public hook), the maintained cassandra instrumentation being a patch of the driver's
Session (docs/operating.md, "Traces").
"""

import logging
import os

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from opentelemetry import context, propagate, trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.common.metrics import database_clusters, statement_of

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
W3C = TraceContextTextMapPropagator()
FLUSH_SECONDS = 2.0

_tracer = None  # the process's tracer, once configured (None: tracing is off)
_starting = {}  # traceparent of a worker's span -> the span, from its spawn to its setup


def wanted() -> bool:
    return os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() not in ("", "none")


def configure(service_name: str) -> None:
    """Sets the process's tracer up from the environment, once; nothing when tracing is off."""
    global _tracer
    if _tracer is not None or not wanted():
        return
    # The SDK only when tracing is on (the API, above, does nothing on its own).
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when set, wins over this name (the SDK's rule).
    # Not flushed again at exit (the SDK's default): the Tracing provider's stop did, in time.
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}), shutdown_on_exit=False
    )
    for exporter in exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("killrvideo")


def exporters() -> list:
    chosen = []
    for name in os.environ["OTEL_TRACES_EXPORTER"].lower().split(","):
        name = name.strip()
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            if protocol != "http/protobuf":
                log.warning(
                    "OTEL_EXPORTER_OTLP_PROTOCOL %s: only http/protobuf is installed", protocol
                )
            chosen.append(OTLPSpanExporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            chosen.append(ConsoleSpanExporter())
        elif name and name != "none":
            log.warning("OTEL_TRACES_EXPORTER %r is not supported (otlp, console)", name)
    return chosen


def start_worker_span(container, entrypoint, context_data: dict | None) -> dict | None:
    """The context data of a worker about to be spawned, carrying its new span's context (the
    span's parent is the caller's, from `context_data`). Unchanged when tracing is off."""
    if _tracer is None:
        return context_data
    carrier = context_data or {}
    service, method = container.service_name, entrypoint.method_name
    # Over the bus, our own context is always in W3C's format; a gRPC caller's is read in the
    # formats OTEL_PROPAGATORS names (W3C's and baggage by default).
    propagator = W3C
    if isinstance(entrypoint, Rpc):
        name, kind = f"{service}.{method}", trace.SpanKind.SERVER
        attributes = {"rpc.system": "nameko", "rpc.service": service, "rpc.method": method}
    elif hasattr(entrypoint, "event_type"):
        name, kind = f"{service}.{method} {entrypoint.event_type}", trace.SpanKind.CONSUMER
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation": "process",
            "messaging.destination.name": f"{entrypoint.source_service}.events",
            "messaging.rabbitmq.destination.routing_key": entrypoint.event_type,
        }
    else:  # the gateway's gRPC methods
        name, kind = method, trace.SpanKind.SERVER
        attributes = {"rpc.system": "grpc", "rpc.method": method}
        propagator = propagate
    parent = propagator.extract(carrier)
    span = _tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
    carried = {key: value for key, value in carrier.items() if key != TRACEPARENT}
    W3C.inject(carried, context=trace.set_span_in_context(span))
    _starting[carried[TRACEPARENT]] = span
    return carried


def abandon(context_data: dict | None) -> None:
    """Ends the span of a worker that was not spawned after all (its container is stopping)."""
    span = _starting.pop((context_data or {}).get(TRACEPARENT), None)
    if span is not None:
        span.end()


class QueryTrace:
    """A client span per query of a driver Session (Session.add_request_init_listener), a child
    of the span current where the query is made (the worker's), when that span is recorded: in a
    trace the sampler left out (OTEL_TRACES_SAMPLER), or outside any worker, a query costs no span
    object and no callback."""

    def __call__(self, response_future) -> None:
        if not trace.get_current_span().is_recording():
            return
        statement = statement_of(response_future.query)
        span = _tracer.start_span(
            statement,
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": "cassandra", "db.operation": statement.split(" ")[0]},
        )
        response_future.add_callbacks(
            callback=lambda _rows: span.end(), errback=self.failed, errback_args=(span,)
        )

    @staticmethod
    def failed(error, span) -> None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


class Tracing(DependencyProvider):
    """Makes each worker's span current in its green thread, and ends it with the worker."""

    def setup(self):
        configure(self.container.service_name)
        self.current = {}  # worker context -> (span, token of the attached context)

    def start(self):
        if _tracer is None:
            return
        for cluster in database_clusters(self.container):
            for session in cluster.sessions:
                session.add_request_init_listener(QueryTrace())

    def worker_setup(self, worker_ctx):
        if _tracer is None:
            return
        span = _starting.pop(worker_ctx.data.get(TRACEPARENT), None)
        if span is not None:
            self.current[worker_ctx] = (span, context.attach(trace.set_span_in_context(span)))

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if exc_info is None or worker_ctx not in self.current:
            return
        span = self.current[worker_ctx][0]
        span.record_exception(exc_info[1])
        span.set_status(Status(StatusCode.ERROR, type(exc_info[1]).__name__))

    def worker_teardown(self, worker_ctx):
        entry = self.current.pop(worker_ctx, None)
        if entry is not None:
            span, token = entry
            span.end()
            context.detach(token)

    def stop(self):
        """Sends the spans not sent yet, for FLUSH_SECONDS at most: a receiver that is down
        must not hold the service's stop (the exporter would retry it for its whole timeout)."""
        if _tracer is not None:
            with eventlet.Timeout(FLUSH_SECONDS, False):
                trace.get_tracer_provider().force_flush()

    kill = stop
