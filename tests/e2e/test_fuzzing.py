"""Hostile input through the gateway: every RPC of every KillrVideo service with random and
adversarial field values (hypothesis, driven by each request's protobuf descriptor), and raw
bytes that are not HTTP/2. Never UNKNOWN or INTERNAL, never a hang, and the gateway serves on."""

import contextlib
import socket
import uuid

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nameko_grpc.inspection import Inspector

from services.gateway.routes import ROUTES
from tests.e2e.conftest import CALL_TIMEOUT

# Clean answers to bad input; UNKNOWN and INTERNAL would be bugs.
CLEAN = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
RPCS = [(stub, name) for stub, calls in ROUTES.items() for name in calls]
EXAMPLES_PER_RPC = 25

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
def test_random_requests_get_clean_answers(channel, stub, rpc_name):
    inspector = Inspector(stub)
    call = channel.unary_unary(
        inspector.path_for_method(rpc_name),
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=inspector.output_type_for_method(rpc_name).FromString,
    )

    @settings(
        max_examples=EXAMPLES_PER_RPC,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request_strategy(inspector.input_type_for_method(rpc_name)))
    def answers_cleanly(request):
        try:
            call(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as error:
            assert error.code() in CLEAN, (error.code(), error.details(), request)

    answers_cleanly()


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
    reply = api.health.Check(HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert reply.status == HealthCheckResponse.SERVING
