"""nameko-grpc's server connection, answering as soon as an answer is ready instead of at its
loop's next 10 ms poll, with a hub timer per deadline instead of a green thread, no green thread
per call, no yield per message, compression only when the client compressed, and h2's outbound
header checks and debug lines off (docs/internals.md, "grpc_connection").
services.gateway.server uses it while the patch is on."""

import contextlib
import logging
import queue
import select
import socket
import struct
from functools import partial

import eventlet
from eventlet import hubs
from eventlet.semaphore import Semaphore
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
from nameko_grpc.compression import compress
from nameko_grpc.connection import ServerConnectionManager
from nameko_grpc.errors import GrpcError
from nameko_grpc.streams import STREAM_END, SendStream
from nameko_grpc.timeout import unbucket_timeout

VERSIONS = {"nameko-grpc": "1.3.0", "h2": "4.4.1", "eventlet": "0.41.3"}
UPSTREAM = {
    "nameko_grpc.connection.ConnectionManager.run_forever": "debdc517bb245589",
    "nameko_grpc.connection.ConnectionManager.stop": "629cca4a6dcb9a98",
    "nameko_grpc.connection.ServerConnectionManager.request_received": "288870cd312863cc",
    "nameko_grpc.entrypoint.GrpcServer.handle_request": "18120d544f90741a",
    "nameko_grpc.entrypoint.GrpcServer.timeout": "9e05fe3dc884ba30",
    "nameko_grpc.streams.SendStream.flush_queue_to_buffer": "fe1891be6fc2b2cb",
    "nameko_grpc.streams.SendStream.populate": "f081bc9dd9015ecf",
}

log = logging.getLogger(__name__)

unpatched_os = eventlet.patcher.original("os")

# The loop also wakes this often when nothing happens, so that a wakeup this module does not know
# of (a future nameko-grpc code path that queues data) costs at most this much, never a hang.
IDLE_WAKEUP_SECONDS = 1.0


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
    its queued messages without yielding to the hub after each. Its connection gives it
    `send_now`."""

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
    send is queued."""

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
        # h2 checks and normalizes every header it sends, through a dozen generators per header,
        # for headers that nameko-grpc and this module write from constants (grpc-message
        # percent-encoded). What clients send is still checked.
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
        the answers that are ready together, in one write."""
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

    def request_refused(self, stream_id):
        self.start_call(stream_id)  # the call gets the error now
