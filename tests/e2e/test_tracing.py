"""Traces across the stack: every process exports its spans over OTLP/HTTP to a receiver in this
test, and a GetVideo is one trace from the gateway through the videos service to its CQL query,
and a SubmitYouTubeVideo's trace goes on through its event into the search handler."""

import http.server
import threading
import time
import uuid
from collections import defaultdict

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog import video_catalog_service_pb2, video_catalog_service_pb2_grpc
from services.common.tracing import FLUSH_SECONDS
from tests.e2e.stack import free_port, running_stack
from tests.waiting import wait_until


class Receiver:
    """An OTLP/HTTP trace receiver: the spans it got, each as (service.name, span)."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.add(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, request) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append((attributes["service.name"], span))

    def trace_of(self, service: str, span_name: str) -> list:
        """Every (service, span) of the trace that has span `span_name` from `service`."""
        with self.lock:
            spans = list(self.spans)
        roots = [s for name, s in spans if name == service and s.name == span_name]
        if not roots:
            return []
        return [(name, s) for name, s in spans if s.trace_id == roots[-1].trace_id]


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def traced_stack(receiver):
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # milliseconds: spans reach the test at once
    }
    with running_stack(env=env) as stack, grpc.insecure_channel(stack.address) as channel:
        yield video_catalog_service_pb2_grpc.VideoCatalogServiceStub(channel)


def by_span_id(spans) -> dict:
    return {span.span_id: (service, span) for service, span in spans}


def parent_of(spans, span):
    return by_span_id(spans).get(span.parent_span_id)


def submit(videos) -> Uuid:
    video_id = Uuid(value=str(uuid.uuid4()))
    videos.SubmitYouTubeVideo(
        video_catalog_service_pb2.SubmitYouTubeVideoRequest(
            video_id=video_id,
            user_id=Uuid(value=str(uuid.uuid4())),
            name="Traced cats",
            description="followed",
            tags=["tracing"],
            you_tube_video_id="dQw4w9WgXcQ",
        ),
        timeout=10,
    )
    return video_id


def test_a_get_video_is_one_trace_from_the_gateway_to_its_query(traced_stack, receiver):
    video_id = submit(traced_stack)
    traced_stack.GetVideo(video_catalog_service_pb2.GetVideoRequest(video_id=video_id), timeout=10)

    def whole_trace():
        spans = receiver.trace_of("gateway", "GetVideo")
        names = {(service, span.name) for service, span in spans}
        return {("videos", "videos.get_video"), ("videos", "select videos")} <= names and spans

    spans = wait_until(whole_trace, 30, "the GetVideo's spans from gateway, videos and its query")
    [(_, root)] = [(s, span) for s, span in spans if span.name == "GetVideo"]
    [(_, service)] = [(s, span) for s, span in spans if span.name == "videos.get_video"]
    [(_, query)] = [(s, span) for s, span in spans if span.name == "select videos"]
    assert not root.parent_span_id, "the gateway's span is the trace's root"
    assert parent_of(spans, service) == ("gateway", root)
    assert parent_of(spans, query) == ("videos", service)


def test_a_submitted_video_s_trace_goes_on_into_its_event_handlers(traced_stack, receiver):
    submit(traced_stack)

    def reached_handlers():
        spans = receiver.trace_of("gateway", "SubmitYouTubeVideo")
        names = {span.name for _, span in spans}
        wanted = {"search.index_video youtube_video_added", "videos.submit_youtube_video"}
        return wanted <= names and spans

    spans = wait_until(reached_handlers, 30, "the SubmitYouTubeVideo's trace reaches search")
    [(_, handler)] = [
        (s, span) for s, span in spans if span.name == "search.index_video youtube_video_added"
    ]
    assert parent_of(spans, handler)[1].name == "videos.submit_youtube_video"
    assert [
        span
        for service, span in spans
        if service == "search" and span.parent_span_id == handler.span_id
    ], "the handler's queries are in its trace"


def test_spans_of_separate_calls_are_separate_traces(traced_stack, receiver):
    first, second = submit(traced_stack), submit(traced_stack)
    for video_id in (first, second):
        traced_stack.GetVideo(
            video_catalog_service_pb2.GetVideoRequest(video_id=video_id), timeout=10
        )
    wait_until(
        lambda: len([s for name, s in receiver.spans if s.name == "GetVideo"]) >= 3,
        30,
        "three GetVideo traces",
    )
    with receiver.lock:
        roots = [s for name, s in receiver.spans if s.name == "GetVideo"]
    traces = defaultdict(int)
    for root in roots:
        traces[root.trace_id] += 1
    assert set(traces.values()) == {1}, "one root span per trace"


def test_a_trace_receiver_that_is_down_neither_fails_calls_nor_holds_a_stop():
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    with running_stack(env=env) as stack, grpc.insecure_channel(stack.address) as channel:
        videos = video_catalog_service_pb2_grpc.VideoCatalogServiceStub(channel)
        request = video_catalog_service_pb2.GetVideoRequest(video_id=submit(videos))
        for _ in range(20):
            videos.GetVideo(request, timeout=10)
        started = time.monotonic()
        stack.stop("videos")
        # Its last spans get FLUSH_SECONDS, not the exporter's 10 s of retries.
        assert time.monotonic() - started < FLUSH_SECONDS + 3
