"""services.common.tracing's own logic, on the OpenTelemetry SDK with an in-memory exporter: the
trace context a worker's span carries over the bus, and the span of a CQL query (with the
driver's ResponseFuture played by a stand-in: what the listener registers on it, and the span it
ends). tests/e2e/test_tracing.py follows whole traces through the running services."""

from types import SimpleNamespace

import pytest
from nameko.rpc import Rpc
from opentelemetry import context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

from services.common import tracing


class Query:
    query_string = "SELECT * FROM videos WHERE videoid = ?"


class ResponseFuture:
    """What the listener uses of the driver's: the query, and the callbacks it adds."""

    def __init__(self):
        self.query = Query()
        self.callbacks = []

    def add_callbacks(self, callback, errback, callback_args=(), errback_args=()):
        self.callbacks.append((callback, errback, errback_args))

    def answer(self):
        for callback, _, _ in self.callbacks:
            callback([])


@pytest.fixture
def exported(monkeypatch):
    def tracer_sampled_by(sampler):
        spans = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(spans))
        monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
        return spans

    return tracer_sampled_by


def in_a_worker_span(work):
    worker = tracing._tracer.start_span("videos.get_video")
    token = context.attach(trace.set_span_in_context(worker))
    try:
        return work()
    finally:
        context.detach(token)
        worker.end()


def test_a_query_in_a_recorded_trace_gets_a_child_span_ended_with_its_answer(exported):
    spans = exported(ALWAYS_ON)
    future = ResponseFuture()

    in_a_worker_span(lambda: tracing.QueryTrace()(future))
    future.answer()

    (worker,) = [span for span in spans.get_finished_spans() if span.name == "videos.get_video"]
    (query,) = [span for span in spans.get_finished_spans() if span is not worker]
    assert query.name == "select videos" and query.kind == trace.SpanKind.CLIENT
    assert query.parent.span_id == worker.context.span_id
    assert query.attributes["db.operation"] == "select"


@pytest.mark.parametrize("where", ["an unsampled trace", "no worker"])
def test_a_query_outside_a_recorded_trace_costs_no_span_and_no_callback(exported, where):
    spans = exported(ALWAYS_OFF if where == "an unsampled trace" else ALWAYS_ON)
    future = ResponseFuture()

    if where == "an unsampled trace":
        in_a_worker_span(lambda: tracing.QueryTrace()(future))
    else:
        tracing.QueryTrace()(future)

    assert future.callbacks == []
    assert spans.get_finished_spans() == ()


def test_over_the_bus_the_trace_context_is_w3c_s_whatever_otel_propagators_names(exported):
    spans = exported(ALWAYS_ON)
    configured = propagate.get_global_textmap()
    propagate.set_global_textmap(W3CBaggagePropagator())  # OTEL_PROPAGATORS=baggage
    try:
        grpc_method = SimpleNamespace(method_name="GetVideo")
        gateway = tracing.start_worker_span(
            SimpleNamespace(service_name="gateway"), grpc_method, {}
        )
        get_video = Rpc()
        get_video.method_name = "get_video"
        videos = tracing.start_worker_span(
            SimpleNamespace(service_name="videos"), get_video, gateway
        )
    finally:
        propagate.set_global_textmap(configured)
    tracing.abandon(videos)
    tracing.abandon(gateway)

    (root,) = [span for span in spans.get_finished_spans() if span.name == "GetVideo"]
    (child,) = [span for span in spans.get_finished_spans() if span.name == "videos.get_video"]
    assert gateway[tracing.TRACEPARENT].startswith(f"00-{root.context.trace_id:032x}-")
    assert child.parent.span_id == root.context.span_id
    assert child.context.trace_id == root.context.trace_id
