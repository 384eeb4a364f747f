"""The span of a CQL query (services.common.tracing.QueryTrace), with the driver's ResponseFuture
played by a stand-in: what the listener registers on it, and the span it ends."""

import pytest
from opentelemetry import context, trace
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
