"""nameko-grpc's server, with the changes that a public gateway needs.

- Latency. nameko-grpc's connection loop polls its socket with a 10 ms timeout and only looks for
  responses that workers have queued between two polls, so every call waits up to 10 ms for
  nothing (and an idle connection wakes 100 times a second). Here the worker of the only call in
  flight on a connection sends its answer itself as soon as it has it, before nameko tidies the
  worker up; anything else that queues data (answers of calls in flight together, a deadline, an
  error, a streamed message) writes a byte to the connection's wakeup pipe, and the loop, which
  blocks on its socket and that pipe together, sends it.
- Deadlines. nameko-grpc checks a call's grpc-timeout in a green thread that wakes every
  millisecond until the call ends. Here the connection sets a timer of the hub for the deadline
  and cancels it when the call ends: no green thread (and its stack) per call, nor a call and
  its buffers kept alive until a distant deadline.
- Message size. nameko-grpc buffers a request of any size; here a request message larger than
  MAX_MESSAGE_BYTES (grpcio's default limit) is refused as INVALID_ARGUMENT, the client's fault
  like any other bad input, before it is parsed. (grpcio servers answer RESOURCE_EXHAUSTED, but
  nothing of the server's is exhausted: the request is too large for the API.)
- Errors. nameko-grpc answers UNKNOWN for any exception but its own GrpcError, and INTERNAL for
  a request that does not parse; here every failure gets its status from errors.py, and a
  request that does not parse is INVALID_ARGUMENT.
- Threads. nameko-grpc starts a green thread per call that waits for the request message and
  then starts the worker. Here the connection starts the worker of a call with a single request
  message itself, once the request has ended (every call but reflection's), and lets the worker
  run before it handles the rest of what the client sent (services.common.handoff).
- Yields. nameko-grpc's response stream yields to the hub after every message it serializes,
  for long streams of large messages; a gateway call answers one bounded message (reflection a
  few), so those yields are only two hub round trips per call on the way to the client.
- Compression. nameko-grpc compresses every response whenever the client accepts deflate, as
  grpcio clients always say they do; grpcio servers compress only when configured to. Deflating
  a message of a few hundred bytes costs both ends more CPU than it saves, so here a response is
  compressed only when the client compressed its request, in the same encoding.
- Nagle. Every connection sends with TCP_NODELAY, as grpcio servers do.
- Logging. h2's debug lines go through nameko-grpc's logger only when its level lets them out.
- Port. eventlet.listen sets SO_REUSEPORT, so a second gateway on a taken port would start
  without error and silently receive half of the connections. Here it fails to start instead.
- Stopping. nameko stops a container's entrypoints first (each unregisters from this server),
  waits for its workers, and stops this server (its connections, its port) last. In between,
  nameko-grpc answers every call UNIMPLEMENTED "Method not found!", which clients take as
  permanent. Here, from the first entrypoint's stop on, a call that arrives, or whose request
  has not ended yet, is answered UNAVAILABLE, which clients retry; calls already started finish.
"""

import contextlib
import logging
import queue
import select
import socket
import struct
import weakref
from functools import partial

import eventlet
from eventlet import hubs
from eventlet.semaphore import Semaphore
from google.protobuf.message import DecodeError
from grpc import StatusCode
from h2.config import DummyLogger
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RemoteSettingsChanged,
    RequestReceived,
    ResponseReceived,
    SettingsAcknowledged,
    StreamEnded,
    StreamReset,
    TrailersReceived,
    WindowUpdated,
)
from nameko import config
from nameko_grpc.channel import ServerConnectionPool
from nameko_grpc.compression import SUPPORTED_ENCODINGS, UnsupportedEncoding, compress
from nameko_grpc.connection import ServerConnectionManager
from nameko_grpc.constants import Cardinality
from nameko_grpc.entrypoint import Grpc, GrpcServer
from nameko_grpc.errors import GrpcError, register_exception_handler
from nameko_grpc.streams import HEADER_LENGTH, STREAM_END, SendStream
from nameko_grpc.timeout import unbucket_timeout

from services.common.handoff import run_it_first
from services.gateway.errors import EXPECTED_ERRORS, to_grpc_error

log = logging.getLogger(__name__)

unpatched_os = eventlet.patcher.original("os")

# nameko-grpc parses a request before any entrypoint code runs, and answers INTERNAL when it
# cannot. Through its exception registry, bytes that are not the RPC's message get the table's
# status instead, and a request stream that ends before its message does (StopIteration, from a
# missing or truncated message) or a message flagged compressed that does not decompress is
# INVALID_ARGUMENT. They are registered here, not in the table: only this parsing step gives
# StopIteration that meaning.
register_exception_handler(DecodeError, lambda exc_info, code, message: to_grpc_error(exc_info[1]))
register_exception_handler(
    StopIteration,
    lambda *_: GrpcError(StatusCode.INVALID_ARGUMENT, "the request ended before its message did"),
)
register_exception_handler(
    UnsupportedEncoding,
    lambda *_: GrpcError(StatusCode.INVALID_ARGUMENT, "the request message does not decompress"),
)

SINGLE_REQUEST = (Cardinality.UNARY_UNARY, Cardinality.UNARY_STREAM)

# grpcio's default limit for a received message.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# The loop also wakes this often when nothing happens, so that a wakeup this module does not know
# of (a future nameko-grpc code path that queues data) costs at most this much, never a hang.
IDLE_WAKEUP_SECONDS = 1.0

STOPPING = "the gateway is stopping: retry the call"


class PortUnavailable(Exception):
    pass


class Wakeup:
    """A pipe that a green thread writes to so that another one's select() returns.

    It uses the unpatched os functions on non-blocking ends: eventlet's green read and write
    yield to the hub first, and a switch between checking `pending` and the pipe would lose a
    wakeup. This way set() and clear() never yield, so each is atomic among green threads.
    """

    def __init__(self):
        self.fd, self.write_fd = unpatched_os.pipe()
        unpatched_os.set_blocking(self.fd, False)
        unpatched_os.set_blocking(self.write_fd, False)
        self.pending = False

    def set(self):
        if not self.pending:
            self.pending = True
            unpatched_os.write(self.write_fd, b"!")

    def clear(self):
        if self.pending:
            self.pending = False
            unpatched_os.read(self.fd, 1)

    def close(self):
        # A late set() (a worker finishing after its client left) must not write to a closed,
        # perhaps reused, file descriptor: with `pending` stuck True it writes nothing.
        self.pending = True
        unpatched_os.close(self.fd)
        unpatched_os.close(self.write_fd)


class WakingQueue(queue.Queue):
    """A response stream's queue that wakes its connection's loop on every put."""

    def __init__(self, wake):
        super().__init__()
        self.wake = wake

    def put(self, item, block=True, timeout=None):
        super().put(item, block, timeout)
        self.wake()


class PromptSendStream(SendStream):
    """A response stream that its worker sends as soon as it is populated, and that serializes
    its queued messages without yielding to the hub after each (see the module docstring).
    Its connection gives it `send_now`."""

    def populate(self, iterable):
        super().populate(iterable)  # the whole response, then its end: nameko-grpc's workers
        self.send_now()

    def flush_queue_to_buffer(self):
        while True:
            try:
                message = self.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(message, GrpcError):
                raise message
            if message and message is not STREAM_END:
                compressed, body = compress(self.serialize_message(message), self.encoding)
                self.buffer.write(struct.pack(">?I", compressed, len(body)) + body)


class PromptConnection(ServerConnectionManager):
    """A server connection whose loop sleeps until the client sends something or a response to
    send is queued (see the module docstring)."""

    EVENT_HANDLERS = {
        RequestReceived: "request_received",
        ResponseReceived: "response_received",
        DataReceived: "data_received",
        StreamEnded: "stream_ended",
        StreamReset: "stream_reset",
        WindowUpdated: "window_updated",
        RemoteSettingsChanged: "settings_changed",
        SettingsAcknowledged: "settings_acknowledged",
        TrailersReceived: "trailers_received",
        ConnectionTerminated: "connection_terminated",
    }

    def __init__(self, sock, handle_request):
        super().__init__(sock, partial(self.hand_over, handle_request))
        # h2 checks and normalizes every header it sends, through a dozen generators per header:
        # 2% of the gateway's instructions per call, for headers that nameko-grpc and this module
        # write from constants (grpc-message percent-encoded). What clients send is still checked.
        self.conn.config.validate_outbound_headers = False
        self.conn.config.normalize_outbound_headers = False
        # nameko-grpc hands h2 a logger that forwards its debug and trace lines (15 per call)
        # to the logging module, each a call that finds the level disabled; h2's own no-op one
        # instead, unless those lines are wanted.
        if not self.conn.config.logger.logger.isEnabledFor(logging.DEBUG):
            self.conn.config.logger = DummyLogger()
        self.wakeup = Wakeup()
        # One sender at a time, the loop or a worker: each takes the data h2 has ready and writes
        # it whole, so frames never interleave (nor do two green threads wait to write at once,
        # which eventlet refuses).
        self.sending = Semaphore()
        self.deadlines = {}  # stream id → the hub's timer that ends that call at its deadline
        self.calls_to_start = {}  # stream id → what starts that call once its request has ended

    def hand_over(self, handle_request, request_stream, response_stream):
        # Before the application sees the response stream, make its puts wake this loop, its
        # flushes not yield, and its worker send it (nameko-grpc builds it; the subclass adds
        # no state but send_now).
        response_stream.queue = WakingQueue(self.wakeup.set)
        response_stream.__class__ = PromptSendStream
        response_stream.send_now = self.send_from_worker
        if response_stream.encoding != request_stream.headers.get("grpc-encoding"):
            response_stream.headers.set(("grpc-encoding", "identity"))
        timeout = request_stream.headers.get("grpc-timeout")
        if timeout:
            self.deadlines[response_stream.stream_id] = hubs.get_hub().schedule_call_global(
                unbucket_timeout(timeout), self.deadline_passed, request_stream, response_stream
            )
        start = handle_request(request_stream, response_stream)
        if start:
            self.calls_to_start[response_stream.stream_id] = start

    def stream_ended(self, event):
        super().stream_ended(event)
        self.start_call(event.stream_id)

    def start_call(self, stream_id):
        start = self.calls_to_start.pop(stream_id, None)
        if start:
            start()
            run_it_first()  # the call's worker, before the rest of what the client sent

    def deadline_passed(self, request_stream, response_stream):
        del self.deadlines[response_stream.stream_id]
        self.calls_to_start.pop(response_stream.stream_id, None)  # too late to start it
        request_stream.close()
        response_stream.close(GrpcError(StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))

    def forget_deadline(self, stream_id):
        timer = self.deadlines.pop(stream_id, None)
        if timer:
            timer.cancel()  # which also lets go of the call's streams

    def end_stream(self, stream_id):
        self.forget_deadline(stream_id)
        super().end_stream(stream_id)

    def stream_reset(self, event):
        self.forget_deadline(event.stream_id)
        self.calls_to_start.pop(event.stream_id, None)
        super().stream_reset(event)

    def send_pending(self):
        """Sends what every stream has ready, from the calling green thread (never the hub's)."""
        with self.sending:
            if self.stopped.is_set():  # a worker finishing after its client left
                return
            # Cleared before on_iteration looks at the streams, so no queued data is missed.
            self.wakeup.clear()
            self.on_iteration()
            outgoing = self.conn.data_to_send()
            if outgoing:  # most wakeups have nothing to send: no empty write
                self.sock.sendall(outgoing)

    def send_from_worker(self):
        """A worker sends its response without waiting for the loop to wake, which would be a
        hub round trip, after nameko's tidying of the worker, later. Unless other calls are in
        flight on the connection: then the loop, already woken by the response's queue, sends
        the answers that are ready together, in one write (about 13% more calls per second
        with 32 callers on a connection than when each worker writes its own)."""
        if len(self.send_streams) > 1:
            return
        try:
            self.send_pending()
        except Exception:
            # The client is gone, or stalled past the socket's timeout with part of the data
            # unsent, or h2 refused the connection's state: it cannot go on. Its loop sees the
            # socket shut and ends it, as when the loop fails itself. (An exception escaping a
            # worker's result handling would kill the whole service.)
            log.info("gRPC connection failed sending a response", exc_info=True)
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        if not self.run:  # the last stream of a stopping connection: the loop may now end
            self.wakeup.set()

    def run_forever(self):
        """nameko-grpc's ConnectionManager.run_forever, waiting on the wakeup pipe as well."""
        self.conn.initiate_connection()
        try:
            with self.cleanup_on_exit():
                while self.run:
                    self.send_pending()
                    if not self.run:
                        break
                    readable, _, _ = select.select(
                        [self.sock, self.wakeup.fd], [], [], IDLE_WAKEUP_SECONDS
                    )
                    if self.sock not in readable:
                        continue
                    data = self.sock.recv(65535)
                    if not data:
                        break
                    for event in self.conn.receive_data(data):
                        handler = self.EVENT_HANDLERS.get(type(event))
                        if handler:
                            getattr(self, handler)(event)
        finally:
            for stream_id in list(self.deadlines):
                self.forget_deadline(stream_id)
            self.wakeup.close()

    def stop(self):
        if self.stopped.is_set():
            return
        self.conn.close_connection()
        self.terminating = True
        self.wakeup.set()
        self.stopped.wait(5)

    def data_received(self, event):
        request_stream = self.receive_streams.get(event.stream_id)
        limit = HEADER_LENGTH + MAX_MESSAGE_BYTES
        if request_stream and len(request_stream.buffer) + len(event.data) > limit:
            # The call gets the error instead of its request, now rather than when the client has
            # sent it all; the rest is still acknowledged (flow control) and dropped by the closed
            # stream.
            request_stream.close(
                GrpcError(
                    StatusCode.INVALID_ARGUMENT,
                    f"the request message is larger than the limit of {MAX_MESSAGE_BYTES} bytes",
                )
            )
            self.start_call(event.stream_id)
        super().data_received(event)


class ExclusivePortPool(ServerConnectionPool):
    """Accepts plaintext connections on a port no other process may share."""

    connection_class = PromptConnection

    def listen(self):
        try:
            return eventlet.listen((self.host, self.port), reuse_port=False)
        except OSError as error:
            raise PortUnavailable(
                f"cannot serve gRPC on {self.host}:{self.port}: {error.strerror} "
                "(is another gateway running? set GRPC_BIND_PORT)"
            ) from error

    def run(self):
        while self.is_accepting:
            sock, _ = self.listening_socket.accept()
            sock.settimeout(60)  # as nameko-grpc does: a stalled send fails instead of hanging
            # A response is several small HTTP/2 frames, and calls share a connection: with
            # Nagle's algorithm each write after the first could wait for the client's delayed
            # ACK (about 40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = self.connection_class(sock, self.handle_request)
            self.connections.put(weakref.ref(connection))
            self.spawn_thread(target=connection.run_forever, name=f"grpc connection [{sock}]")


class GatewayGrpcServer(GrpcServer):
    def setup(self):
        self.stopping = False
        host = config.get("GRPC_BIND_HOST", "127.0.0.1")
        port = int(config.get("GRPC_BIND_PORT", 50101))

        def spawn_thread(target, args=(), kwargs=None, name=None):
            self.container.spawn_managed_thread(
                lambda: target(*args, **kwargs or {}), identifier=name
            )

        self.channel = ExclusivePortPool(host, port, None, spawn_thread, self.handle_request)

    def unregister(self, entrypoint):
        self.stopping = True  # only the container's stop unregisters (see the module docstring)
        super().unregister(entrypoint)

    def handle_request(self, request_stream, response_stream):
        """nameko-grpc's, less its green threads per call (see the module docstring): for a call
        with a single request message, returns what starts its worker, for PromptConnection to
        call once the request has ended."""
        if self.stopping:
            raise GrpcError(StatusCode.UNAVAILABLE, STOPPING)
        entrypoint = self.entrypoints.get(request_stream.headers.get(":path"))
        if entrypoint is None:
            raise GrpcError(StatusCode.UNIMPLEMENTED, "Method not found!")
        encoding = request_stream.headers.get("grpc-encoding", "identity")
        if encoding not in SUPPORTED_ENCODINGS:
            raise GrpcError(StatusCode.UNIMPLEMENTED, f"Algorithm not supported: {encoding}")
        start = partial(entrypoint.handle_request, request_stream, response_stream)
        if entrypoint.cardinality not in SINGLE_REQUEST:
            self.container.spawn_managed_thread(start)
            return None

        def start_unless_stopping():
            if self.stopping:
                response_stream.close(GrpcError(StatusCode.UNAVAILABLE, STOPPING))
                return
            try:
                start()  # parses the request (it has all arrived) and spawns the worker
            except GrpcError as error:  # the container is stopping
                response_stream.close(error)

        return start_unless_stopping


class GatewayGrpc(Grpc):
    """nameko-grpc's entrypoint on the server above, answering every failure with a status
    from the gateway's error table (nameko-grpc would answer UNKNOWN)."""

    grpc_server = GatewayGrpcServer()

    def __init__(self, stub, **kwargs):
        super().__init__(stub, expected_exceptions=EXPECTED_ERRORS, **kwargs)

    def handle_result(self, response_stream, worker_ctx, result, exc_info):
        if exc_info is not None:
            exc_info = (GrpcError, to_grpc_error(exc_info[1]), exc_info[2])
        return super().handle_result(response_stream, worker_ctx, result, exc_info)


grpc = GatewayGrpc.implementing
