"""The native-protocol server: asyncio connections in front of the synchronous CQL engine.

One event loop thread serves every connection. The engine is fast and synchronous, so a
connection's read loop decodes each frame, has the engine answer it inline and writes the
response at once. Only a write that must be on disk before it is acknowledged (the commit log's
batch mode) waits, in a task of its own, so it does not hold up the requests behind it: its
response goes out once the group commit it joined is done, tagged with its stream id. (A task per
request, as before, cost every read two more turns of the event loop: a sixth of the server's
CPU per point read.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import time

from localcql import api
from localcql import protocol as p
from localcql.metrics import METRICS

log = logging.getLogger(__name__)

DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024  # Cassandra 4's native_transport_max_frame_size
# Writes of one connection waiting for the disk at once. Past it the connection stops reading, so
# a client that sends without reading the answers cannot make the server buffer without bound
# (other answers are bounded by the transport's write buffer: the read loop awaits its drain).
MAX_REQUESTS_IN_FLIGHT = 1024
# After a protocol violation the server half-closes and drains what the client still sends, so
# that closing does not reset the connection before the client has read the error.
_LINGER_SECONDS = 2.0
# A request that takes longer than this is logged, with its statement.
DEFAULT_SLOW_REQUEST_MS = 500
# The authenticator's class name, which drivers expect to see (not a secret).
PASSWORD_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"  # noqa: S105


class LocalCqlServer:
    def __init__(
        self,
        engine,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        commitlog=None,
        credentials: tuple[str, str] | None = None,
        slow_request_ms: float = DEFAULT_SLOW_REQUEST_MS,
    ):
        self.engine = engine
        self.max_frame_size = max_frame_size
        self.commitlog = commitlog  # localcql.commitlog.CommitLog, or None in memory
        # (username, password) that clients must give, as to PasswordAuthenticator; None: open.
        self.credentials = credentials
        self.slow_request_seconds = slow_request_ms / 1000
        self._connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, listening_socket: socket.socket) -> None:
        """Serves the connections of a bound, listening socket."""
        self._loop = asyncio.get_running_loop()
        self.engine.add_schema_listener(self._on_schema_change)
        self._server = await asyncio.start_server(self._serve_connection, sock=listening_socket)

    async def close(self) -> None:
        """Stops accepting, then closes every connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*(connection.close() for connection in list(self._connections)))

    async def _serve_connection(self, reader, writer) -> None:
        # Drivers pipeline requests and responses are small: with Nagle's algorithm on, every
        # response after the first waits for the client's delayed ACK (about 40 ms). asyncio turns
        # it off only for sockets made with proto=IPPROTO_TCP, which socket.create_server's
        # are not.
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = Connection(self, reader, writer)
        self._connections.add(connection)
        METRICS.count("connections.opened")
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)
            METRICS.count("connections.closed")

    def _on_schema_change(self, change: api.SchemaChangeResult) -> None:
        # The engine may call this from any thread, and usually does so while it is still
        # executing the statement: deferring it lets the RESULT go out before the EVENT.
        self._loop.call_soon_threadsafe(self._broadcast_schema_change, change)

    def _broadcast_schema_change(self, change: api.SchemaChangeResult) -> None:
        body = p.encode_schema_change_event(change)
        for connection in self._connections:
            if "SCHEMA_CHANGE" in connection.registered_events:
                connection.push_event(body)


class Connection:
    def __init__(self, server: LocalCqlServer, reader, writer):
        self.server = server
        self.engine = server.engine
        self.reader: asyncio.StreamReader = reader
        self.writer: asyncio.StreamWriter = writer
        self.peer = writer.get_extra_info("peername")
        self.version: int | None = None  # fixed by the first frame with a supported version
        self.started = False  # STARTUP received
        self.authenticated = server.credentials is None
        self.session = api.SessionState()
        self.registered_events: set[str] = set()
        self._requests: set[asyncio.Task] = set()
        self._request_slots = asyncio.Semaphore(MAX_REQUESTS_IN_FLIGHT)
        self._serving: asyncio.Task | None = None

    async def serve(self) -> None:
        self._serving = asyncio.current_task()
        log.debug("connection from %s", self.peer)
        try:
            while True:
                header, message = await self._read_request()
                opcode, body, to_sync = self._answer(header, message)
                if to_sync:
                    await self._request_slots.acquire()
                    task = asyncio.create_task(self._respond_when_durable(header, opcode, body))
                    self._requests.add(task)
                    task.add_done_callback(self._requests.discard)
                else:
                    self._write(header.stream, opcode, body)
                    await self.writer.drain()
        except p.ProtocolViolation as violation:
            # Before STARTUP this is mostly a driver negotiating its version down: routine.
            level = logging.INFO if self.started else logging.DEBUG
            log.log(level, "protocol error from %s: %s", self.peer, violation.message)
            await self._refuse(violation)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away, possibly in the middle of a frame
        except asyncio.CancelledError:
            pass  # the server is shutting down
        except Exception:
            log.exception("closing the connection from %s after an unexpected error", self.peer)
        finally:
            for task in self._requests:
                task.cancel()
            self.writer.close()
            log.debug("connection from %s closed", self.peer)

    async def close(self) -> None:
        if self._serving is not None:
            self._serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._serving

    def push_event(self, body: bytes) -> None:
        self._write(p.EVENT_STREAM, p.Opcode.EVENT, body)

    async def _read_request(self):
        first = await self.reader.readexactly(1)
        self.version = p.check_version(first[0], self.version)
        rest = await self.reader.readexactly(p.HEADER.size - 1)
        header = p.parse_header(first + rest, self.server.max_frame_size)
        body = await self.reader.readexactly(header.length)
        return header, p.decode_request(header, body)

    def _answer(self, header: p.FrameHeader, message) -> tuple[p.Opcode, bytes, bool]:
        """The response to a request, and whether it may go out only once the commit log has
        synced (a write, in batch mode)."""
        commitlog = self.server.commitlog
        logged = commitlog.appended if commitlog else 0
        started = time.monotonic()
        METRICS.count(f"requests.{header.opcode.name}")
        try:
            opcode, body = self._handle(message)
        except api.CqlError as error:
            opcode, body = p.Opcode.ERROR, p.encode_error(error)
            METRICS.count(f"errors.{type(error).__name__}")
        except Exception as exc:
            opcode, body = self._server_error(exc, type(message).__name__)
        taken = time.monotonic() - started
        if taken > self.server.slow_request_seconds:
            METRICS.count("requests.slow")
            log.warning(
                "slow %s from %s (%.0f ms): %.300s",
                header.opcode.name,
                self.peer,
                taken * 1000,
                getattr(message, "query", ""),
            )
        to_sync = bool(commitlog and commitlog.sync == "batch" and commitlog.appended > logged)
        return opcode, body, to_sync

    async def _respond_when_durable(self, header: p.FrameHeader, opcode, body: bytes) -> None:
        """Sends a write's response once the write is on disk: a write is acknowledged durable."""
        try:
            await self.server.commitlog.durable()
        except Exception as exc:
            opcode, body = self._server_error(exc, "the commit log's sync of a write")
        try:
            self._write(header.stream, opcode, body)
            await self.writer.drain()
        except ConnectionError:
            pass  # the client is gone; the read loop ends the connection
        finally:
            self._request_slots.release()

    def _server_error(self, exc: Exception, what: str) -> tuple[p.Opcode, bytes]:
        log.exception("error serving %s from %s", what, self.peer)
        METRICS.count("errors.ServerError")
        return p.Opcode.ERROR, p.encode_error(api.ServerError(f"{type(exc).__name__}: {exc}"))

    def _write(self, stream: int, opcode: p.Opcode, body: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(p.encode_frame(self.version, stream, opcode, body))

    async def _refuse(self, violation: p.ProtocolViolation) -> None:
        version = violation.reply_version or self.version or p.MAX_VERSION
        frame = p.encode_frame(version, violation.stream, p.Opcode.ERROR, p.encode_error(violation))
        try:
            self.writer.write(frame)
            await self.writer.drain()
            if self.writer.can_write_eof():
                self.writer.write_eof()
            async with asyncio.timeout(_LINGER_SECONDS):
                while await self.reader.read(65536):
                    pass
        except (ConnectionError, TimeoutError):
            pass

    # ----------------------------------------------------------------------- requests
    def _handle(self, message) -> tuple[p.Opcode, bytes]:
        if isinstance(message, p.Options):
            return p.Opcode.SUPPORTED, p.encode_supported()
        if isinstance(message, p.Startup):
            return self._startup(message)
        if not self.started:
            raise api.ProtocolError(
                f"Unexpected message {type(message).__name__.upper()}, expecting STARTUP or OPTIONS"
            )
        if isinstance(message, p.AuthResponse):
            return self._authenticate(message.token)
        if not self.authenticated:
            raise api.ProtocolError(
                f"Unexpected message {type(message).__name__.upper()}, expecting AUTH_RESPONSE"
            )
        if isinstance(message, p.Register):
            unknown = set(message.event_types) - set(p.EVENT_TYPES)
            if unknown:
                raise api.ProtocolError(f"Invalid event type(s): {', '.join(sorted(unknown))}")
            self.registered_events.update(message.event_types)
            return p.Opcode.READY, b""
        if isinstance(message, p.Prepare):
            prepared = self.engine.prepare(message.query, self.session)
            return p.Opcode.RESULT, p.encode_prepared(prepared, self.version)
        if isinstance(message, p.Batch):
            return self._result(self._batch(message))
        if isinstance(message, p.Execute):
            prepared = self.engine.get_prepared(message.statement_id)
            return self._execute(prepared, message.parameters)
        if isinstance(message, p.Query):
            if message.parameters.names is not None:
                # Only a prepared statement knows which bind marker each name belongs to.
                prepared = self.engine.prepare(message.query, self.session)
                return self._execute(prepared, message.parameters)
            params = message.parameters
            result = self.engine.query(message.query, params.values, params.options, self.session)
            return self._result(result, params.skip_metadata)
        raise AssertionError(f"no handler for {message!r}")  # decode_request knows no other

    def _startup(self, message: p.Startup) -> tuple[p.Opcode, bytes]:
        if "CQL_VERSION" not in message.options:
            raise api.ProtocolError("Missing value CQL_VERSION in STARTUP message")
        compression = message.options.get("COMPRESSION")
        if compression:
            raise api.ProtocolError(f"Unknown compression algorithm: {compression}")
        self.started = True
        if not self.authenticated:
            return p.Opcode.AUTHENTICATE, p.encode_authenticate(PASSWORD_AUTHENTICATOR)
        return p.Opcode.READY, b""

    def _authenticate(self, token: bytes) -> tuple[p.Opcode, bytes]:
        """SASL PLAIN, as Cassandra's PasswordAuthenticator: `authzid NUL user NUL password`."""
        if self.server.credentials is None or self.authenticated:
            raise api.ProtocolError("Unexpected message AUTH_RESPONSE")
        parts = token.split(b"\0")
        user, password = (parts[-2], parts[-1]) if len(parts) >= 2 else (b"", b"")
        expected_user, expected_password = (c.encode() for c in self.server.credentials)
        # Both compared in constant time, and both always: no hint which one was wrong.
        good_user = hmac.compare_digest(user, expected_user)
        if not (hmac.compare_digest(password, expected_password) and good_user):
            log.info("authentication failed from %s", self.peer)
            raise api.BadCredentials("Provided username and/or password are incorrect")
        self.authenticated = True
        return p.Opcode.AUTH_SUCCESS, p.encode_auth_success()

    def _execute(self, prepared: api.PreparedStatement, params: p.QueryParameters):
        values = params.values
        if params.names is not None:
            values = _values_by_marker(prepared, params.names, values)
        result = self.engine.execute(prepared, values, params.options, self.session)
        return self._result(result, params.skip_metadata)

    def _batch(self, message: p.Batch) -> api.Result:
        items = []
        for statement in message.statements:
            if isinstance(statement.query_or_id, bytes):
                prepared = self.engine.get_prepared(statement.query_or_id)
            else:
                prepared = self.engine.prepare(statement.query_or_id, self.session)
            items.append((prepared, statement.values))
        return self.engine.batch(message.batch_type, items, message.options, self.session)

    def _result(self, result: api.Result, skip_metadata: bool = False):
        if isinstance(result, api.SetKeyspaceResult):
            self.session.keyspace = result.keyspace
        return p.Opcode.RESULT, p.encode_result(result, self.version, skip_metadata)


def _values_by_marker(prepared: api.PreparedStatement, names: list[str], values: list) -> list:
    """Orders named values as the statement's bind markers. Unquoted marker names are case
    insensitive in CQL, so a name matches exactly first, then ignoring case."""
    by_name = dict(zip(names, values, strict=True))
    by_folded_name = {name.lower(): value for name, value in by_name.items()}
    ordered = []
    for column in prepared.bind_columns:
        if column.name in by_name:
            ordered.append(by_name[column.name])
        elif column.name.lower() in by_folded_name:
            ordered.append(by_folded_name[column.name.lower()])
        else:
            raise api.InvalidRequest(f"No value provided for bind marker {column.name}")
    return ordered
