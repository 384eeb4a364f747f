"""The gateway's gRPC server socket handling, in process (eventlet)."""

import contextlib
import logging
import socket
from urllib.parse import unquote

import eventlet
import h2.config
import h2.connection
import h2.events
from grpc import StatusCode
from grpc_health.v1.health_pb2 import HealthCheckResponse
from nameko_grpc.errors import GrpcError

from services.common.speedups.grpc_connection import PromptSendStream
from services.gateway import server
from services.gateway.server import ExclusivePortPool, PromptLimitedConnection
from tests.waiting import wait_until

ANSWER = HealthCheckResponse(status=HealthCheckResponse.SERVING)


def test_every_grpc_connection_sends_without_nagles_delay():
    threads = []
    pool = ExclusivePortPool(
        "127.0.0.1",
        0,
        None,
        lambda target, name=None: threads.append(eventlet.spawn(target)),
        lambda *_: None,
    )
    pool.start()
    try:
        with socket.create_connection(pool.listening_socket.getsockname()):
            wait_until(lambda: not pool.connections.empty(), 10, "the connection is accepted")
            accepted = pool.connections.queue[0]().sock
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for thread in threads:  # the accept loop, before its socket closes under it
            thread.kill()
        pool.stop()


class RecordingSocket:
    """A socket whose writes are recorded: what a connection sends is the behaviour tested."""

    def __init__(self, sock):
        self.sock = sock
        self.writes = []

    def sendall(self, data):
        self.writes.append(len(data))
        self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


@contextlib.contextmanager
def served_connection(handle_request, wrap_socket=lambda sock: sock):
    """A PromptLimitedConnection serving one end of a socket pair (wrapped by `wrap_socket`) with
    `handle_request`; yields it and the other end, for an h2 client."""
    server_side, client_side = socket.socketpair()
    client_side.settimeout(10)  # a connection that never answers fails the test, not hangs it
    connection = PromptLimitedConnection(wrap_socket(server_side), handle_request)
    loop = eventlet.spawn(connection.run_forever)
    try:
        yield connection, client_side
    finally:
        client_side.close()
        loop.wait()
        server_side.close()


def test_a_connection_writes_only_when_it_has_something_to_send():
    with served_connection(lambda *_: None, RecordingSocket) as (connection, client_side):
        client = h2.connection.H2Connection()
        client.initiate_connection()
        client_side.sendall(client.data_to_send())
        # The server's SETTINGS, then its ACK of ours; acknowledging its SETTINGS gives it
        # nothing to answer.
        events = []
        while not any(isinstance(e, h2.events.SettingsAcknowledged) for e in events):
            events += client.receive_data(client_side.recv(65535))
        client_side.sendall(client.data_to_send())
    assert connection.sock.writes
    assert 0 not in connection.sock.writes


def send_request(client, stream_id, body=b"\0\0\0\0\0", end_stream=True, *extra_headers):
    """Queues a unary call's request (an empty message by default) on `client`'s stream."""
    headers = {":method": "POST", ":scheme": "http", ":path": "/test.Service/Call"}
    headers |= {":authority": "test", "content-type": "application/grpc", "te": "trailers"}
    client.send_headers(stream_id, [*headers.items(), *extra_headers])
    client.send_data(stream_id, body, end_stream=end_stream)


def open_calls(client_side, *stream_ids) -> h2.connection.H2Connection:
    """A new client that has sent a unary call's request on each of these streams."""
    client = h2.connection.H2Connection()
    client.initiate_connection()
    for stream_id in stream_ids:
        send_request(client, stream_id)
    client_side.sendall(client.data_to_send())
    return client


def grpc_call(
    client_side,
    grpc_timeout: str,
    body: bytes = b"\0\0\0\0\0",
    end_stream: bool = True,
    client: h2.connection.H2Connection | None = None,
) -> dict[bytes, bytes]:
    """One unary call (stream 1 of `client`, or of a new client) with that grpc-timeout header
    and `body` (an empty message by default); returns the call's trailers."""
    client = client or h2.connection.H2Connection()
    client.initiate_connection()
    send_request(client, 1, body, end_stream, ("grpc-timeout", grpc_timeout))
    client_side.sendall(client.data_to_send())
    while True:
        for event in client.receive_data(client_side.recv(65535)):
            if isinstance(event, h2.events.TrailersReceived):
                return dict(event.headers)
        client_side.sendall(client.data_to_send())


def test_a_call_unanswered_at_its_deadline_ends_deadline_exceeded():
    with served_connection(lambda *_: None) as (connection, client_side):
        trailers = grpc_call(client_side, grpc_timeout="50m")
        assert trailers[b"grpc-status"] == b"4"  # DEADLINE_EXCEEDED
        assert connection.deadlines == {}


def test_a_call_whose_deadline_passes_before_its_request_ends_is_never_started():
    started = []
    with served_connection(lambda *_: lambda: started.append(True)) as (_, client_side):
        client = h2.connection.H2Connection()
        trailers = grpc_call(client_side, grpc_timeout="50m", end_stream=False, client=client)
        assert trailers[b"grpc-status"] == b"4"  # DEADLINE_EXCEEDED
        client.end_stream(1)  # the request ends after all
        client.ping(b"in order")  # answered once the server has handled what came before
        client_side.sendall(client.data_to_send())
        while not any(
            isinstance(event, h2.events.PingAckReceived)
            for event in client.receive_data(client_side.recv(65535))
        ):
            pass
    assert started == []


def test_a_call_answered_in_time_lets_go_of_its_deadline():
    def answer(request_stream, response_stream):
        response_stream.populate([ANSWER])

    with served_connection(answer) as (connection, client_side):
        # Its timer, were it kept until the deadline, would keep the call's streams alive.
        assert grpc_call(client_side, grpc_timeout="1H")[b"grpc-status"] == b"0"
        assert connection.deadlines == {}


def test_a_worker_sends_its_answer_itself_without_waiting_for_the_loop():
    sockets, sent_before_yielding = [], []

    def handle_request(request_stream, response_stream):
        def worker():
            writes = len(sockets[0].writes)
            response_stream.populate([ANSWER])
            # Not a yield since: the connection's loop has not run.
            sent_before_yielding.append(len(sockets[0].writes) > writes)

        return lambda: eventlet.spawn(worker)

    with served_connection(handle_request, RecordingSocket) as (connection, client_side):
        sockets.append(connection.sock)
        assert grpc_call(client_side, grpc_timeout="1S")[b"grpc-status"] == b"0"
    assert sent_before_yielding == [True]


def test_answers_of_calls_in_flight_together_are_left_to_the_loop_to_write_together():
    sockets, waiting, sent_before_yielding = [], [], []

    def handle_request(request_stream, response_stream):
        def worker():
            writes = len(sockets[0].writes)
            response_stream.populate([ANSWER])
            sent_before_yielding.append(len(sockets[0].writes) > writes)
            for other in waiting:  # then the first call, alone by now
                other.populate([ANSWER])

        if not waiting:  # the first call waits for the second
            waiting.append(response_stream)
            return lambda: None
        return lambda: eventlet.spawn(worker)

    with served_connection(handle_request, RecordingSocket) as (connection, client_side):
        sockets.append(connection.sock)
        client = open_calls(client_side, 1, 3)
        statuses = {}
        while len(statuses) < 2:
            for event in client.receive_data(client_side.recv(65535)):
                if isinstance(event, h2.events.TrailersReceived):
                    statuses[event.stream_id] = dict(event.headers)[b"grpc-status"]
            client_side.sendall(client.data_to_send())
    assert statuses == {1: b"0", 3: b"0"}
    assert sent_before_yielding == [False]


class BreakingSocket(RecordingSocket):
    """A socket whose writes fail once `broken` is set, as when its client has gone."""

    broken = False

    def sendall(self, data):
        if self.broken:
            raise BrokenPipeError("the client has gone")
        super().sendall(data)


def test_a_worker_whose_answer_cannot_be_sent_ends_the_connection_not_itself():
    sockets, worker_results = [], []

    def handle_request(request_stream, response_stream):
        def worker():
            sockets[0].broken = True
            response_stream.populate([ANSWER])  # a failure here would kill the whole service
            worker_results.append("returned")

        return lambda: eventlet.spawn(worker)

    with served_connection(handle_request, BreakingSocket) as (connection, client_side):
        sockets.append(connection.sock)
        open_calls(client_side, 1)
        wait_until(connection.stopped.is_set, 10, "the connection ends")
    assert worker_results == ["returned"]


def test_a_call_is_started_by_its_connection_once_its_request_has_ended():
    started = []

    def handle_request(request_stream, response_stream):
        def start():
            started.append(request_stream.closed)  # the whole request has arrived
            response_stream.populate([ANSWER])

        return start

    with served_connection(handle_request) as (_, client_side):
        assert grpc_call(client_side, grpc_timeout="1S")[b"grpc-status"] == b"0"
    assert started == [True]


def test_a_request_over_the_limit_is_refused_before_the_client_has_sent_it_all(monkeypatch):
    monkeypatch.setattr(server, "MAX_MESSAGE_BYTES", 100)

    def handle_request(request_stream, response_stream):
        def start():  # as nameko-grpc's entrypoint does
            try:
                next(request_stream.consume(HealthCheckResponse))
            except GrpcError as error:
                response_stream.close(error)

        return start

    with served_connection(handle_request) as (_, client_side):
        first_part = b"\0" + (1000).to_bytes(4) + b"x" * 200  # of a 1000-byte message
        trailers = grpc_call(client_side, grpc_timeout="10S", body=first_part, end_stream=False)
    assert trailers[b"grpc-status"] == b"3"  # INVALID_ARGUMENT
    assert b"larger than the limit of 100 bytes" in trailers[b"grpc-message"]


def test_headers_sent_unchecked_still_pass_a_checking_client():
    def refuse(request_stream, response_stream):
        response_stream.close(GrpcError(StatusCode.NOT_FOUND, "no such video: caf\u00e9\n"))

    with served_connection(refuse) as (connection, client_side):
        assert not connection.conn.config.validate_outbound_headers
        # The h2 client checks every header it receives (as grpcio does).
        trailers = grpc_call(client_side, grpc_timeout="1S")
        assert trailers[b"grpc-status"] == b"5"
        assert unquote(trailers[b"grpc-message"].decode()) == "no such video: caf\u00e9\n"


def test_a_response_is_serialized_without_letting_other_green_threads_run():
    stream = PromptSendStream(stream_id=1)
    stream.send_now = lambda: None  # no connection: what is tested is the stream's buffer
    stream.headers.set(("grpc-encoding", "identity"))
    stream.populate([ANSWER] * 3)
    others_ran = []
    eventlet.spawn(others_ran.append, True)
    stream.flush_queue_to_buffer()
    assert not others_ran
    message = ANSWER.SerializeToString()
    assert b"".join(stream.read(65535, 16384)) == 3 * (b"\0" + len(message).to_bytes(4) + message)


def test_h2_logs_through_the_logging_module_only_when_its_debug_lines_are_wanted(caplog):
    h2_log = "nameko_grpc.connection.h2"
    with caplog.at_level(logging.INFO, logger=h2_log):
        quiet = PromptLimitedConnection(socket.socket(), handle_request=None)
    with caplog.at_level(logging.DEBUG, logger=h2_log):
        traced = PromptLimitedConnection(socket.socket(), handle_request=None)
    assert type(quiet.conn.config.logger) is h2.config.DummyLogger  # no call per line at all
    assert traced.conn.config.logger.logger.name == h2_log
    for connection in (quiet, traced):
        connection.sock.close()
        connection.wakeup.close()
