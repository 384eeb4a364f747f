"""Fixtures of the server tests: a server process serving the fake engine, and a raw-socket
client that encodes requests and decodes responses with the driver's own codecs."""

from __future__ import annotations

import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cassandra.protocol import ProtocolHandler, ReadyMessage, StartupMessage

from localcql.testing import running_server

FAKE_ENGINE = Path(__file__).with_name("fake_engine.py")
V3_HEADER = struct.Struct(">BBhBi")
V2_HEADER = struct.Struct(">BBbBi")


@dataclass
class Frame:
    version: int
    flags: int
    stream: int
    opcode: int
    body: bytes

    def decode(self, result_metadata=None):
        return ProtocolHandler.decode_message(
            self.version, {}, self.stream, self.flags, self.opcode, self.body, None, result_metadata
        )


class FrameClient:
    """A native-protocol client on a plain socket: what a driver sends, byte for byte."""

    def __init__(self, address, version=4):
        self.version = version
        self.sock = socket.create_connection(address, timeout=10)

    def send(self, message, stream=0):
        frame = ProtocolHandler.encode_message(message, stream, self.version, None, False)
        self.sock.sendall(frame)

    def send_body(self, opcode, body, stream=0, flags=0):
        """A frame with a hand-written body, for what the driver never sends."""
        self.sock.sendall(V3_HEADER.pack(self.version, flags, stream, opcode, len(body)) + body)

    def receive(self) -> Frame:
        first = self._read(1)
        version = first[0] & 0x7F
        assert first[0] & 0x80, "a response frame has the direction bit set"
        header = V3_HEADER if version >= 3 else V2_HEADER
        _, flags, stream, opcode, length = header.unpack(first + self._read(header.size - 1))
        return Frame(version, flags, stream, opcode, self._read(length))

    def request(self, message, stream=0, result_metadata=None):
        self.send(message, stream)
        frame = self.receive()
        assert frame.stream == stream
        return frame.decode(result_metadata)

    def startup(self):
        response = self.request(StartupMessage(cqlversion="3.4.5", options={}))
        assert isinstance(response, ReadyMessage)
        return self

    def is_closed_by_server(self) -> bool:
        """True when the server closed the connection (reads end), False if it stays open."""
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True

    def _read(self, size):
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError(f"closed by the server after {len(data)} of {size} bytes")
            data += chunk
        return data

    def close(self):
        self.sock.close()


@pytest.fixture(scope="session")
def fake_server():
    command = [sys.executable, str(FAKE_ENGINE), "--port", "0", "--in-memory"]
    with running_server(command) as address:
        yield address


@pytest.fixture
def connect(fake_server):
    """connect(version=4) -> a FrameClient on the fake server, closed after the test."""
    clients = []

    def connect(version=4, address=fake_server):
        client = FrameClient(address, version)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
