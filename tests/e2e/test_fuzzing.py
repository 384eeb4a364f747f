"""Hostile input through the gateway: every RPC of every KillrVideo service with random and
adversarial field values (hypothesis, driven by each request's protobuf descriptor), raw
bytes that are not HTTP/2, and malformed HTTP/2 and gRPC framing. Never UNKNOWN or INTERNAL,
never a hang, memory that stays bounded, and the gateway serves on."""

import contextlib
import socket
import uuid

import grpc
import h2.events
import pytest
from google.protobuf.descriptor import FieldDescriptor
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from hyperframe.frame import DataFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nameko_grpc.inspection import Inspector

from scripts.processes import rss_mb
from services.gateway.routes import ROUTES
from tests.e2e.conftest import CALL_TIMEOUT
from tests.e2e.raw_grpc import grpc_frame, grpc_status, raw_grpc_call

# Clean answers to bad input; UNKNOWN and INTERNAL would be bugs.
CLEAN = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.UNIMPLEMENTED,
}
SERVING = HealthCheckResponse.SERVING
RPCS = [(stub, name) for stub, calls in ROUTES.items() for name in calls]
EXAMPLES_PER_RPC = 25
HUGE_STRING_BYTES = 512 * 1024
HUGE_LIST_LENGTH = 9  # 4.5 MiB of strings: over the gateway's 4 MiB limit
WARM_UP_ROUNDS = 20
MEASURED_ROUNDS = 10
MEMORY_GROWTH_LIMIT_MB = 64  # against some 150 MiB for a leak of the requests

adversarial_text = st.one_of(
    st.text(max_size=50),
    st.sampled_from(
        ["", " ", "\x00", "' OR 1=1 --", "%s%s%n", "\u202e\ufeff", "\U0001d518\U0001d52b"]
    ),
    st.text(min_size=5000, max_size=6000),
    st.builds(lambda: str(uuid.uuid4())),
    st.builds(lambda: str(uuid.uuid1())),
)
integers = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0, -1, 1, 100, 101, 2**31 - 1, -(2**31)]),
)


def value_for(field: FieldDescriptor):
    """A strategy for one field's value (ids: any text, valid UUIDs among them)."""
    if field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return st.builds(
                dict, seconds=st.integers(-(2**40), 2**40), nanos=st.integers(0, 999_999_999)
            )
        return st.builds(dict, **{f.name: value_for(f) for f in field.message_type.fields})
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return adversarial_text
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values])
    return integers


def request_strategy(message_class):
    fields = {}
    for field in message_class.DESCRIPTOR.fields:
        value = value_for(field)
        if field.is_repeated:
            value = st.lists(value, max_size=25)
        fields[field.name] = st.one_of(st.none(), value)
    return st.fixed_dictionaries(fields).map(
        lambda values: message_class(**{k: v for k, v in values.items() if v is not None})
    )


@pytest.mark.parametrize(("stub", "rpc_name"), RPCS, ids=[name for _, name in RPCS])
def test_random_requests_get_clean_answers(channel, stub, rpc_name, record_property):
    inspector = Inspector(stub)
    call = raw_call(channel, inspector, rpc_name)
    tried = 0

    @settings(
        max_examples=EXAMPLES_PER_RPC,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request_strategy(inspector.input_type_for_method(rpc_name)))
    def answers_cleanly(request):
        nonlocal tried
        tried += 1
        try:
            call(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as error:
            assert error.code() in CLEAN, (error.code(), error.details(), request)

    answers_cleanly()
    record_property("fuzz cases", tried)


def raw_call(channel, inspector, rpc_name):
    return channel.unary_unary(
        inspector.path_for_method(rpc_name),
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=inspector.output_type_for_method(rpc_name).FromString,
    )


def huge_request(message_class):
    """Every string half a MiB long (the ids too), every number -1, every list nine long: refused
    for its sizes or ids, or, with a list, for being over the 4 MiB limit."""

    def value(field: FieldDescriptor):
        if field.message_type is not None:
            return {f.name: value(f) for f in field.message_type.fields}
        if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            return "\u00e9" * (HUGE_STRING_BYTES // 2)
        if field.type == FieldDescriptor.TYPE_BOOL:
            return True
        if field.type == FieldDescriptor.TYPE_ENUM:
            return field.enum_type.values[-1].number
        return -1

    return message_class(
        **{
            f.name: [value(f)] * HUGE_LIST_LENGTH if f.is_repeated else value(f)
            for f in message_class.DESCRIPTOR.fields
        }
    )


def test_the_gateway_s_memory_stays_bounded_under_hostile_requests(stack, channel, record_property):
    """Rounds of huge requests to every RPC. The gateway's memory grows over the first rounds
    (buffers, the allocator's high-water mark: some 380 MB here), then stays flat: keeping any
    part of the requests it has answered (half a MiB and more each) would add some 150 MiB over
    the measured rounds."""
    calls = []
    for stub, rpc_name in RPCS:
        inspector = Inspector(stub)
        request = huge_request(inspector.input_type_for_method(rpc_name))
        calls.append((raw_call(channel, inspector, rpc_name), request))

    gateway = stack.processes["gateway"].pid

    def highest_rss_over(rounds: int) -> float:
        highest = 0.0
        for _ in range(rounds):
            for call, request in calls:
                try:
                    call(request, timeout=CALL_TIMEOUT)
                except grpc.RpcError as error:
                    assert error.code() in CLEAN, (error.code(), error.details())
            highest = max(highest, rss_mb(gateway))
        return highest

    before = highest_rss_over(WARM_UP_ROUNDS)
    after = highest_rss_over(MEASURED_ROUNDS)
    record_property("hostile requests", (WARM_UP_ROUNDS + MEASURED_ROUNDS) * len(calls))
    record_property("gateway MB, highest in warm-up", round(before))
    record_property("gateway MB, highest after", round(after))
    assert after - before < MEMORY_GROWTH_LIMIT_MB


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00" * 64,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 100,
    ],
    ids=["zeros", "http1", "broken-http2"],
)
def test_bytes_that_are_not_http2_do_not_hurt_the_gateway(stack, api, garbage):
    host, port = stack.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(garbage)
        raw.settimeout(5)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            raw.recv(1024)  # whatever it answers, or a close
    assert api.health.Check(HealthCheckRequest(), timeout=CALL_TIMEOUT).status == SERVING


GET_VIDEO_PATH = "/killrvideo.video_catalog.VideoCatalogService/GetVideo"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (grpc_frame(b"abc", length=1_000_000), "ended before its message"),
        (grpc_frame(b"")[:2], "ended before its message"),
        (grpc_frame(b"not deflate, not gzip", compressed=True), "does not decompress"),
    ],
    ids=["length-beyond-the-stream", "half-a-prefix", "compressed-garbage"],
)
def test_malformed_grpc_messages_are_invalid_arguments(stack, api, body, message):
    status, details = grpc_status(raw_grpc_call(stack.address, GET_VIDEO_PATH, body))
    assert status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert message in details
    assert api.health.Check(HealthCheckRequest(), timeout=CALL_TIMEOUT).status == SERVING


def test_an_http2_protocol_error_closes_that_connection_only(stack, api):
    # DATA on a stream the client never opened is a connection error in HTTP/2.
    events = raw_grpc_call(
        stack.address, GET_VIDEO_PATH, grpc_frame(b""), extra=DataFrame(99, data=b"x").serialize()
    )
    assert events[-1] in ("closed",) or isinstance(events[-1], h2.events.ConnectionTerminated)
    assert api.health.Check(HealthCheckRequest(), timeout=CALL_TIMEOUT).status == SERVING
