"""The native protocol, frame by frame, against a server process serving the fake engine."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel, ProtocolVersion
from cassandra.connection import DefaultEndPoint, ProtocolVersionUnsupported
from cassandra.io.eventletreactor import EventletConnection
from cassandra.protocol import (
    AlreadyExistsException,
    BatchMessage,
    EventMessage,
    ExecuteMessage,
    OptionsMessage,
    PreparedQueryNotFound,
    PrepareMessage,
    ProtocolException,
    QueryMessage,
    ReadyMessage,
    RegisterMessage,
    ResultMessage,
    ServerError,
    SupportedMessage,
    SyntaxException,
    write_int,
    write_longstring,
    write_short,
    write_string,
    write_value,
)
from cassandra.query import UNSET_VALUE, BatchType
from fake_engine import KS, TYPED_VALUES

from localcql.testing import LocalCqlFailed, running_server

FAKE_ENGINE = Path(__file__).with_name("fake_engine.py")

QUERY, EXECUTE = 0x07, 0x0A
ONE = ConsistencyLevel.ONE


def query(text, **kwargs):
    return QueryMessage(text, kwargs.pop("consistency_level", ONE), **kwargs)


def echo(client, message, stream=0):
    """What the fake engine received for an ECHO statement."""
    result = client.request(message, stream)
    assert isinstance(result, ResultMessage), result
    return json.loads(result.parsed_rows[0][0])


def int_value(n):
    return n.to_bytes(4, "big", signed=True)


# --------------------------------------------------------------------------- negotiation
def test_options_announce_cql_3_4_5_no_compression_and_protocols_3_and_4(connect):
    supported = connect().request(OptionsMessage())

    assert isinstance(supported, SupportedMessage)
    assert supported.cql_versions == ["3.4.5"]
    assert supported.options == {"COMPRESSION": [], "PROTOCOL_VERSIONS": ["3/v3", "4/v4"]}


@pytest.mark.parametrize("version", [5, 6, 0x41, 0x42, 0x7F])
def test_newer_versions_get_the_error_that_makes_drivers_downgrade(connect, version):
    client = connect(version)
    client.send(OptionsMessage(), stream=0)

    frame = client.receive()
    error = frame.decode()
    # As Cassandra 4: on stream 0, with the highest version it speaks in the header (the Node.js
    # and Java drivers retry with it), and the text cassandra-driver and the others look for.
    assert (frame.version, frame.stream) == (4, 0)
    assert isinstance(error, ProtocolException)
    assert error.message == (
        f"Invalid or unsupported protocol version ({version}); supported versions are (3/v3, 4/v4)"
    )
    assert client.is_closed_by_server()


@pytest.mark.parametrize("version", [1, 2])
def test_old_versions_are_refused_in_their_own_version(connect, version):
    client = connect(version)
    client.send(OptionsMessage(), stream=0)

    frame = client.receive()
    assert frame.version == version
    assert isinstance(frame.decode(), ProtocolException)
    assert "Invalid or unsupported protocol version" in frame.decode().message


def test_protocol_v3_is_served(connect):
    client = connect(3).startup()

    prepared = client.request(PrepareMessage("ECHO ?"))
    assert prepared.pk_indexes is None  # v3 has none
    assert echo(client, ExecuteMessage(prepared.query_id, [int_value(5)], ONE))["values"] == [
        "00000005"
    ]
    row = client.request(query("TYPES")).parsed_rows[0]
    assert list(row) == [value for _, value in TYPED_VALUES]


def test_a_connection_keeps_the_version_it_started_with(connect):
    client = connect(4).startup()
    client.version = 3
    client.send(query("ECHO"), stream=9)

    frame = client.receive()
    assert frame.version == 4
    assert "Got 3 but previous messages on this connection had version 4" in frame.decode().message
    assert client.is_closed_by_server()


def test_requests_before_startup_are_refused(connect):
    client = connect()

    error = client.request(query("ECHO"), stream=3)

    assert isinstance(error, ProtocolException)
    assert error.message == "Unexpected message QUERY, expecting STARTUP or OPTIONS"


# --------------------------------------------------------------------------- results
def test_rows_carry_every_type_and_decode_to_the_engine_values(connect):
    result = connect().startup().request(query("TYPES"))

    assert result.column_names == [column.name for column, _ in TYPED_VALUES]
    assert list(result.parsed_rows[0]) == [value for _, value in TYPED_VALUES]
    assert {(c[0], c[1]) for c in result.column_metadata} == {(KS, "t")}


def test_columns_of_several_tables_each_carry_their_table(connect):
    result = connect().startup().request(query("MIXED"))

    assert [(c[1], c[2]) for c in result.column_metadata] == [("one", "a"), ("two", "b")]
    assert result.parsed_rows == [(1, 2)]


def test_paging_follows_page_size_and_paging_state(connect):
    client = connect().startup()

    first = client.request(query("NUMBERS", fetch_size=4))
    second = client.request(query("NUMBERS", fetch_size=4, paging_state=first.paging_state))
    last = client.request(query("NUMBERS", fetch_size=4, paging_state=second.paging_state))

    assert [r[0] for r in first.parsed_rows + second.parsed_rows + last.parsed_rows] == list(
        range(10)
    )
    assert (first.paging_state, second.paging_state, last.paging_state) == (b"4", b"8", None)


def test_query_parameters_reach_the_engine(connect):
    client = connect().startup()

    received = echo(
        client,
        query(
            "ECHO",
            consistency_level=ConsistencyLevel.LOCAL_QUORUM,
            serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
            fetch_size=50,
            timestamp=1_700_000_000_000_000,
        ),
    )

    assert received == {
        "values": [],
        "consistency": ConsistencyLevel.LOCAL_QUORUM,
        "page_size": 50,
        "serial_consistency": ConsistencyLevel.LOCAL_SERIAL,
        "default_timestamp": 1_700_000_000_000_000,
        "keyspace": None,
    }


def test_prepare_then_execute_with_null_and_unset_values(connect):
    client = connect().startup()

    prepared = client.request(PrepareMessage("ECHO ? :second ?"))
    assert [c.name for c in prepared.bind_metadata] == ["v0", "second", "v2"]
    assert prepared.pk_indexes == [0]
    assert [c[2] for c in prepared.column_metadata] == ["echo"]

    message = ExecuteMessage(prepared.query_id, [int_value(1), None, UNSET_VALUE], ONE)
    assert echo(client, message)["values"] == ["00000001", None, "UNSET"]


def test_execute_of_an_unknown_id_answers_unprepared_with_the_id(connect):
    client = connect().startup()

    error = client.request(ExecuteMessage(b"\xde\xad", [], ONE))

    assert isinstance(error, PreparedQueryNotFound)
    assert error.info == b"\xde\xad"


def _query_params(values, names=None, skip_metadata=False):
    body = io.BytesIO()
    write_short(body, ONE)
    body.write(bytes([0x01 | (0x40 if names else 0) | (0x02 if skip_metadata else 0)]))
    write_short(body, len(values))
    for index, value in enumerate(values):
        if names:
            write_string(body, names[index])
        write_value(body, value)
    return body.getvalue()


def test_named_values_are_bound_by_marker_name(connect):
    client = connect().startup()
    body = io.BytesIO()
    write_longstring(body, "ECHO :b ? :A")  # ? is v1; unquoted names match ignoring case
    body.write(_query_params([int_value(1), int_value(2), int_value(3)], names=["a", "b", "v1"]))

    client.send_body(QUERY, body.getvalue(), stream=5)

    frame = client.receive()
    assert frame.stream == 5
    assert json.loads(frame.decode().parsed_rows[0][0])["values"] == [
        "00000002",
        "00000003",
        "00000001",
    ]


def test_a_missing_named_value_is_an_invalid_request(connect):
    client = connect().startup()
    body = io.BytesIO()
    write_longstring(body, "ECHO :a :b")
    body.write(_query_params([int_value(1)], names=["a"]))

    client.send_body(QUERY, body.getvalue())

    error = client.receive().decode()
    assert error.code == 0x2200
    assert "b" in error.message


def test_skip_metadata_leaves_the_columns_out(connect):
    client = connect().startup()
    prepared = client.request(PrepareMessage("ECHO ?"))
    body = io.BytesIO()
    write_string(body, prepared.query_id)
    body.write(_query_params([int_value(1)], skip_metadata=True))

    client.send_body(EXECUTE, body.getvalue())

    frame = client.receive()
    with_metadata = frame.decode(result_metadata=prepared.column_metadata)
    assert json.loads(with_metadata.parsed_rows[0][0])["values"] == ["00000001"]
    flags = int.from_bytes(frame.body[4:8], "big")  # after the [int] result kind
    assert flags & 0x0004  # No_metadata


def test_batch_runs_prepared_and_unprepared_statements(connect):
    client = connect().startup()
    prepared = client.request(PrepareMessage("INSERT ?"))
    message = BatchMessage(
        BatchType.UNLOGGED,
        [(True, prepared.query_id, [int_value(1)]), (False, "INSERT 2", [])],
        ONE,
        timestamp=42,
    )

    received = echo(client, message)

    assert received["batch_type"] == BatchType.UNLOGGED.value
    assert received["statements"] == [["INSERT ?", ["00000001"]], ["INSERT 2", []]]
    assert received["default_timestamp"] == 42


def test_use_switches_the_keyspace_of_this_connection_only(connect):
    client, other = connect().startup(), connect().startup()

    result = client.request(query("USE killrvideo"))

    assert result.new_keyspace == "killrvideo"
    assert echo(client, query("ECHO"))["keyspace"] == "killrvideo"
    assert echo(other, query("ECHO"))["keyspace"] is None


# --------------------------------------------------------------------------- errors
def test_engine_errors_become_error_frames_and_the_connection_lives_on(connect):
    client = connect().startup()

    syntax = client.request(query("FAIL syntax"))
    exists = client.request(query("FAIL exists"))
    crash = client.request(query("FAIL crash"))

    assert isinstance(syntax, SyntaxException)
    assert isinstance(exists, AlreadyExistsException)
    assert exists.info == {"keyspace": "ks", "table": "t"}
    assert isinstance(crash, ServerError)
    assert crash.message == "ZeroDivisionError: the fake engine crashed"
    assert echo(client, query("ECHO"))["values"] == []


# --------------------------------------------------------------------------- events
def test_schema_changes_are_pushed_to_connections_registered_for_them(connect):
    listener, bystander, writer = connect().startup(), connect().startup(), connect().startup()
    assert isinstance(listener.request(RegisterMessage(["SCHEMA_CHANGE"])), ReadyMessage)
    assert isinstance(bystander.request(RegisterMessage(["STATUS_CHANGE"])), ReadyMessage)

    result = writer.request(query("CREATE TABLE ks.videos"))

    assert result.schema_change_event == {
        "change_type": "CREATED",
        "target_type": "TABLE",
        "keyspace": "ks",
        "table": "videos",
    }
    event_frame = listener.receive()
    assert event_frame.stream == -1
    event = event_frame.decode()
    assert isinstance(event, EventMessage)
    assert event.event_type == "SCHEMA_CHANGE"
    assert event.event_args == result.schema_change_event
    # Had the bystander been sent the event, it would come before this answer.
    assert echo(bystander, query("ECHO"))["values"] == []


def test_registering_an_unknown_event_type_is_refused(connect):
    error = connect().startup().request(RegisterMessage(["NEW_MOON"]))

    assert isinstance(error, ProtocolException)


# --------------------------------------------------------------------------- concurrency
def test_many_pipelined_streams_each_get_their_answer(connect):
    client = connect().startup()
    prepared = client.request(PrepareMessage("ECHO ?"))
    streams = range(1, 501)

    for stream in streams:
        client.send(ExecuteMessage(prepared.query_id, [int_value(stream)], ONE), stream)

    answers = {}
    for _ in streams:
        frame = client.receive()
        answers[frame.stream] = json.loads(frame.decode().parsed_rows[0][0])["values"]
    assert answers == {stream: [int_value(stream).hex()] for stream in streams}


def test_many_connections_at_once(connect):
    clients = [connect().startup() for _ in range(50)]
    results = {}

    def ask(index, client):
        results[index] = echo(client, query(f"ECHO {index}"), stream=index)

    threads = [threading.Thread(target=ask, args=item) for item in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == list(range(50))


# --------------------------------------------------------------------------- malformed frames
def _assert_still_serving(connect):
    assert echo(connect().startup(), query("ECHO"))["values"] == []


def test_garbage_bytes_get_a_protocol_error_and_the_connection_closes(connect):
    client = connect()
    client.sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

    error = client.receive().decode()

    assert isinstance(error, ProtocolException)
    assert error.message.startswith("Invalid or unsupported protocol version (71)")
    assert client.is_closed_by_server()
    _assert_still_serving(connect)


def test_a_body_shorter_than_its_message_is_a_protocol_error(connect):
    client = connect().startup()
    body = io.BytesIO()
    write_int(body, 100)  # a [long string] of 100 bytes...
    body.write(b"SELECT")  # ...that ends after 6

    client.send_body(QUERY, body.getvalue(), stream=12)

    frame = client.receive()
    assert frame.stream == 12
    assert isinstance(frame.decode(), ProtocolException)
    assert "truncated" in frame.decode().message
    assert client.is_closed_by_server()
    _assert_still_serving(connect)


def test_a_value_length_below_minus_two_is_a_protocol_error(connect):
    client = connect().startup()
    body = io.BytesIO()
    write_longstring(body, "ECHO ?")
    write_short(body, ONE)
    body.write(b"\x01")  # values
    write_short(body, 1)
    write_int(body, -3)

    client.send_body(QUERY, body.getvalue(), stream=4)

    frame = client.receive()
    assert frame.stream == 4
    assert frame.decode().message == "Invalid value length -3"
    assert client.is_closed_by_server()


def test_a_client_leaving_in_the_middle_of_a_frame_harms_no_one(connect):
    client = connect().startup()
    frame = b"\x04\x00\x00\x01\x07\x00\x00\x01\x00" + b"half a body"
    client.sock.sendall(frame)
    client.close()

    _assert_still_serving(connect)


def test_an_oversized_frame_is_refused_without_reading_it(connect):
    client = connect().startup()
    client.sock.sendall(b"\x04\x00\x00\x07\x07" + (1 << 30).to_bytes(4, "big"))  # 1 GiB body

    frame = client.receive()
    assert frame.stream == 7
    assert frame.decode().message.startswith("Request is too big: length 1073741833 exceeds")
    assert client.is_closed_by_server()
    _assert_still_serving(connect)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"\x04\x00\x00\x02\x42\x00\x00\x00\x00", "Unknown opcode 66"),
        (b"\x04\x00\x00\x02\x08\x00\x00\x00\x00", "Unknown opcode 8"),  # RESULT is a response
        (b"\x84\x00\x00\x02\x05\x00\x00\x00\x00", "Wrong protocol direction"),
        (b"\x04\x00\x00\x02\x05\xff\xff\xff\xff", "Invalid value for envelope header body length"),
        (b"\x04\x01\x00\x02\x05\x00\x00\x00\x00", "no compression was negotiated"),
    ],
)
def test_a_bad_header_is_a_protocol_error_on_its_stream(connect, header, message):
    client = connect()
    client.sock.sendall(header)

    frame = client.receive()
    assert frame.stream == 2
    assert message in frame.decode().message
    assert client.is_closed_by_server()
    _assert_still_serving(connect)


# --------------------------------------------------------------------------- the process
def test_help_explains_the_options():
    result = subprocess.run(
        [sys.executable, "-m", "localcql", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for option in ("--host", "--port", "--data-dir", "--in-memory", "--log-level"):
        assert option in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(signum):
    command = [sys.executable, str(FAKE_ENGINE), "--port", "0", "--in-memory"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline()
        assert ready.startswith("localcql ready on 127.0.0.1:")
        assert "in-memory" in ready
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "fake engine closed" in stderr


def test_running_server_stops_the_server_with_sigterm(connect):
    command = [sys.executable, str(FAKE_ENGINE), "--port", "0", "--in-memory"]
    with running_server(command) as address:
        connect(address=address).startup()
    # running_server raises when the server does not exit 0 within its deadline.


# --------------------------------------------------------------------------- the driver's handshake
def test_the_drivers_connection_downgrades_to_v4(fake_server):
    """cassandra-driver's own connection class, walking down its versions as Cluster does."""
    endpoint = DefaultEndPoint(*fake_server)
    tried = []
    version = ProtocolVersion.MAX_SUPPORTED
    while True:
        tried.append(version)
        try:
            connection = EventletConnection.factory(endpoint, 10, protocol_version=version)
            break
        except ProtocolVersionUnsupported:
            version = ProtocolVersion.get_lower_supported(version)
    try:
        assert tried == [0x42, 0x41, 5, 4]
        result = connection.wait_for_response(QueryMessage("ECHO", ONE), timeout=10)
        assert json.loads(result.parsed_rows[0][0])["consistency"] == ONE
    finally:
        connection.close()


def test_a_port_in_use_is_a_clear_error(fake_server):
    host, port = fake_server
    command = [sys.executable, str(FAKE_ENGINE), "--port", str(port), "--in-memory"]

    result = subprocess.run(command, capture_output=True, text=True, timeout=30)

    assert result.returncode == 1
    assert f"localcql: cannot listen on {host}:{port}" in result.stderr


def test_running_server_reports_a_server_that_fails_to_start():
    command = [sys.executable, "-c", "import sys; sys.exit('cannot start: no engine')"]

    with pytest.raises(LocalCqlFailed, match="cannot start: no engine"), running_server(command):
        pytest.fail("the block must not run")
