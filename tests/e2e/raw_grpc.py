"""gRPC calls sent frame by frame with the h2 library, for what grpcio will not send or show:
malformed framing, chosen headers, and the raw frames of the answer."""

import socket
import struct

import h2.config
import h2.connection
import h2.events

from tests.e2e.conftest import CALL_TIMEOUT


def raw_grpc_call(
    address: str, path: str, body: bytes, extra: bytes = b"", headers: dict | None = None
) -> list:
    """One call to `path`: gRPC headers (plus `headers`), then `body` as the whole request
    stream, then any `extra` raw bytes. Returns the h2 events received until the stream or the
    connection ends, or "closed" if the gateway hung up."""
    host, port = address.rsplit(":", 1)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    stream = connection.get_next_available_stream_id()
    sent = {":method": "POST", ":scheme": "http", ":path": path, ":authority": host}
    sent |= {"content-type": "application/grpc", "te": "trailers"} | (headers or {})
    connection.send_headers(stream, list(sent.items()))
    connection.send_data(stream, body, end_stream=True)
    received = []
    with socket.create_connection((host, int(port)), timeout=CALL_TIMEOUT) as sock:
        sock.sendall(connection.data_to_send() + extra)
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return [*received, "closed"]
            for event in connection.receive_data(data):
                received.append(event)
                if isinstance(event, h2.events.StreamEnded | h2.events.ConnectionTerminated):
                    return received
            sock.sendall(connection.data_to_send())


def grpc_status(events: list) -> tuple[int, str]:
    trailers = dict(next(e.headers for e in events if isinstance(e, h2.events.TrailersReceived)))
    return int(trailers[b"grpc-status"]), trailers.get(b"grpc-message", b"").decode()


def response_headers(events: list) -> dict[bytes, bytes]:
    return dict(next(e.headers for e in events if isinstance(e, h2.events.ResponseReceived)))


def response_body(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived))


def grpc_frame(payload: bytes, length: int | None = None, compressed: bool = False) -> bytes:
    """A gRPC length-prefixed message, its length field possibly lying."""
    prefix = struct.pack(">?I", compressed, len(payload) if length is None else length)
    return prefix + payload
