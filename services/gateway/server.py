"""nameko-grpc's server, with the changes that a public gateway needs.

- Message size. nameko-grpc buffers a request of any size; here a request message larger than
  MAX_MESSAGE_BYTES (grpcio's default limit) is refused as INVALID_ARGUMENT, the client's fault
  like any other bad input, before it is parsed. (grpcio servers answer RESOURCE_EXHAUSTED, but
  nothing of the server's is exhausted: the request is too large for the API.)
- Errors. nameko-grpc answers UNKNOWN for any exception but its own GrpcError, and INTERNAL for
  a request that does not parse; here every failure gets its status from errors.py, and a
  request that does not parse is INVALID_ARGUMENT.
- Nagle. Every connection sends with TCP_NODELAY, as grpcio servers do.
- Port. eventlet.listen sets SO_REUSEPORT, so a second gateway on a taken port would start
  without error and silently receive half of the connections. Here it fails to start instead.
- Stopping. nameko stops a container's entrypoints first (each unregisters from this server),
  waits for its workers, and stops this server (its connections, its port) last. In between,
  nameko-grpc answers every call UNIMPLEMENTED "Method not found!", which clients take as
  permanent. Here, from the first entrypoint's stop on, a call that arrives (with the
  grpc_connection speed-up, also one whose request has not ended yet) is answered UNAVAILABLE,
  which clients retry; calls already started finish.

Speed-up (services.common.speedups, docs/internals.md): grpc_connection, the connection that
answers at once rather than at its loop's next 10 ms poll.
"""

import logging
import socket
import weakref
from functools import partial

import eventlet
from google.protobuf.message import DecodeError
from grpc import StatusCode
from nameko import config
from nameko_grpc.channel import ServerConnectionPool
from nameko_grpc.compression import SUPPORTED_ENCODINGS, UnsupportedEncoding
from nameko_grpc.connection import ServerConnectionManager
from nameko_grpc.constants import Cardinality
from nameko_grpc.entrypoint import Grpc, GrpcServer
from nameko_grpc.errors import GrpcError, register_exception_handler
from nameko_grpc.streams import HEADER_LENGTH

from services.common import speedups
from services.common.speedups.grpc_connection import PromptConnection
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

STOPPING = "the gateway is stopping: retry the call"


class PortUnavailable(Exception):
    pass


class LimitedConnection(ServerConnectionManager):
    """nameko-grpc's server connection, refusing a request message larger than
    MAX_MESSAGE_BYTES."""

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
            self.request_refused(event.stream_id)
        super().data_received(event)

    def request_refused(self, stream_id):
        """The request of `stream_id` was closed with an error: the call's worker, waiting for its
        request, gets that error."""


class PromptLimitedConnection(PromptConnection, LimitedConnection):
    """The connection with the grpc_connection speed-up (services.common.speedups)."""


class ExclusivePortPool(ServerConnectionPool):
    """Accepts plaintext connections on a port no other process may share."""

    connection_class = LimitedConnection

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
        self.prompt = speedups.enabled("grpc_connection")
        if self.prompt:
            self.channel.connection_class = PromptLimitedConnection

    def unregister(self, entrypoint):
        self.stopping = True  # only the container's stop unregisters (see the module docstring)
        super().unregister(entrypoint)

    def handle_request(self, request_stream, response_stream):
        """nameko-grpc's, answering UNAVAILABLE once the gateway is stopping. With the
        grpc_connection speed-up, less its green threads per call: for a call with a single
        request message, returns what starts its worker, for PromptConnection to call once the
        request has ended."""
        if self.stopping:
            raise GrpcError(StatusCode.UNAVAILABLE, STOPPING)
        if not self.prompt:
            return super().handle_request(request_stream, response_stream)
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
