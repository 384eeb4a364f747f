"""The CQL native protocol, versions 3 and 4: frame headers, request decoding, response encoding.

Pure functions over bytes, no I/O, so every message can be tested without a socket. The primitive
encodings ([string], [short bytes], [string multimap], ...) are the cassandra-driver's own
``cassandra.protocol`` helpers, so the server writes exactly what the driver reads.

Version 5 is refused on purpose: it wraps frames in checksummed segments after STARTUP, and every
client we serve (cassandra-driver, the Node.js DSE driver, cqlsh) negotiates down to v4, which is
what Cassandra 4 itself prefers (its ``ProtocolVersion.CURRENT``).
"""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from cassandra import cqltypes, type_codes
from cassandra.protocol import (
    read_binary_string,
    read_bytesmap,
    read_int,
    read_longstring,
    read_short,
    read_string,
    read_stringlist,
    read_stringmap,
    write_int,
    write_short,
    write_string,
    write_stringlist,
    write_stringmultimap,
)

from localcql import api

SUPPORTED_VERSIONS = (3, 4)
MAX_VERSION = max(SUPPORTED_VERSIONS)
CQL_VERSION = "3.4.5"  # what Cassandra 4.0 reports
EVENT_STREAM = -1  # server-pushed EVENT frames use stream -1

HEADER = struct.Struct(">BBhBi")  # version, flags, stream, opcode, body length (v3 and later)
OLD_HEADER = struct.Struct(">BBbBi")  # v1 and v2: a one-byte stream; only to refuse those versions
VERSION_MASK = 0x7F
RESPONSE_DIRECTION = 0x80

# Frame header flags.
COMPRESSED = 0x01
TRACING = 0x02
CUSTOM_PAYLOAD = 0x04

# Query parameter flags (QUERY, EXECUTE, BATCH).
WITH_VALUES = 0x01
SKIP_METADATA = 0x02
WITH_PAGE_SIZE = 0x04
WITH_PAGING_STATE = 0x08
WITH_SERIAL_CONSISTENCY = 0x10
WITH_DEFAULT_TIMESTAMP = 0x20
WITH_NAMES_FOR_VALUES = 0x40

# Rows metadata flags.
GLOBAL_TABLES_SPEC = 0x0001
HAS_MORE_PAGES = 0x0002
NO_METADATA = 0x0004

EVENT_TYPES = ("TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE")


class Opcode(IntEnum):
    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


class ResultKind(IntEnum):
    VOID = 0x0001
    ROWS = 0x0002
    SET_KEYSPACE = 0x0003
    PREPARED = 0x0004
    SCHEMA_CHANGE = 0x0005


class ProtocolViolation(api.ProtocolError):
    """A frame the server cannot make sense of. It is answered with a protocol error (as Cassandra
    does) and the connection is then closed, because the byte stream can no longer be trusted."""

    def __init__(self, message: str, stream: int = 0, reply_version: int | None = None):
        super().__init__(message)
        self.stream = stream
        self.reply_version = reply_version


def check_version(first_byte: int, established: int | None) -> int:
    """The version of a request frame from its first byte, or the violation Cassandra reports.

    Cassandra answers an unsupported version on stream 0, before reading the rest of the header:
    with that same version when it is an old one (v1, v2), otherwise with its highest version.
    Drivers downgrade on the message text ("Invalid or unsupported protocol version") and, for the
    Node.js and Java drivers, to the version of the reply's header: so ours says 4. Unlike
    Cassandra 4.0, the message lists only the versions this server speaks (not 5/v5).
    """
    version = first_byte & VERSION_MASK
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(f"{v}/v{v}" for v in SUPPORTED_VERSIONS)
        raise ProtocolViolation(
            f"Invalid or unsupported protocol version ({version}); "
            f"supported versions are ({supported})",
            reply_version=version if 0 < version < min(SUPPORTED_VERSIONS) else MAX_VERSION,
        )
    if established is not None and version != established:
        raise ProtocolViolation(
            f"Invalid message version. Got {version} but previous messages on this connection "
            f"had version {established}",
            reply_version=established,
        )
    return version


@dataclass(frozen=True)
class FrameHeader:
    version: int
    flags: int
    stream: int
    opcode: Opcode
    length: int


def parse_header(data: bytes, max_frame_size: int) -> FrameHeader:
    """Checks a complete request header; the body is not read yet, so a frame that is too big is
    refused without ever holding it in memory."""
    version_byte, flags, stream, opcode, length = HEADER.unpack(data)
    version = version_byte & VERSION_MASK
    if version_byte & RESPONSE_DIRECTION:
        raise ProtocolViolation(
            "Wrong protocol direction (expected REQUEST, got RESPONSE)", stream, version
        )
    if length < 0:
        raise ProtocolViolation(
            f"Invalid value for envelope header body length field: {length}", stream, version
        )
    if length + HEADER.size > max_frame_size:
        raise ProtocolViolation(
            f"Request is too big: length {length + HEADER.size} exceeds maximum allowed "
            f"length {max_frame_size}.",
            stream,
            version,
        )
    if opcode not in REQUEST_DECODERS:
        raise ProtocolViolation(f"Unknown opcode {opcode}", stream, version)
    if flags & COMPRESSED:
        # SUPPORTED offers no compression, so no client may have negotiated one.
        raise ProtocolViolation(
            "Compressed frame received, but no compression was negotiated", stream, version
        )
    return FrameHeader(version, flags, stream, Opcode(opcode), length)


# --------------------------------------------------------------------------- requests
@dataclass
class QueryParameters:
    options: api.QueryOptions
    values: list  # bytes | None | api.UNSET, positional
    names: list[str] | None = None  # the names of the values, when the client sent names
    skip_metadata: bool = False


@dataclass
class Startup:
    options: dict[str, str]


@dataclass
class Options:
    pass


@dataclass
class AuthResponse:
    token: bytes  # SASL PLAIN: authzid NUL username NUL password


@dataclass
class Query:
    query: str
    parameters: QueryParameters


@dataclass
class Prepare:
    query: str


@dataclass
class Execute:
    statement_id: bytes
    parameters: QueryParameters


@dataclass
class BatchStatement:
    query_or_id: str | bytes  # a query string, or a prepared statement id
    values: list


@dataclass
class Batch:
    batch_type: int  # 0 logged, 1 unlogged, 2 counter
    statements: list[BatchStatement]
    options: api.QueryOptions = field(default_factory=api.QueryOptions)


@dataclass
class Register:
    event_types: list[str]


class _Body(io.BytesIO):
    """A request body whose reads fail on a bad length: BytesIO returns short reads, and reads
    everything for a negative size, which the driver's read_* helpers would silently turn into
    wrong values."""

    def read(self, size: int) -> bytes:
        if size < 0:
            raise ProtocolViolation(f"Invalid length {size} in the message")
        data = super().read(size)
        if len(data) < size:
            raise ProtocolViolation("Not enough bytes to read the message: the frame is truncated")
        return data


def _read_bytes(body: _Body) -> bytes | None:
    length = read_int(body)
    return body.read(length) if length >= 0 else None  # a negative [bytes] length is null


def _read_value(body: _Body, version: int):
    length = read_int(body)
    if length >= 0:
        return body.read(length)
    if length == -1 or version < 4:  # before v4, any negative length is null
        return None
    if length == -2:
        return api.UNSET
    raise ProtocolViolation(f"Invalid value length {length}")


def _read_values(body: _Body, version: int, with_names: bool):
    names, values = ([] if with_names else None), []
    for _ in range(read_short(body)):
        if with_names:
            names.append(read_string(body))
        values.append(_read_value(body, version))
    return values, names


def _read_timestamp(body: _Body) -> int:
    return struct.unpack(">q", body.read(8))[0]


def _read_query_parameters(body: _Body, version: int) -> QueryParameters:
    options = api.QueryOptions(consistency=read_short(body))
    flags = body.read(1)[0]
    values, names = [], None
    if flags & WITH_VALUES:
        values, names = _read_values(body, version, bool(flags & WITH_NAMES_FOR_VALUES))
    if flags & WITH_PAGE_SIZE:
        page_size = read_int(body)
        options.page_size = page_size if page_size > 0 else None  # <= 0 means no paging
    if flags & WITH_PAGING_STATE:
        options.paging_state = _read_bytes(body)
    if flags & WITH_SERIAL_CONSISTENCY:
        options.serial_consistency = read_short(body)
    if flags & WITH_DEFAULT_TIMESTAMP:
        options.default_timestamp = _read_timestamp(body)
    return QueryParameters(options, values, names, bool(flags & SKIP_METADATA))


def _decode_startup(body, version):
    return Startup(read_stringmap(body))


def _decode_options(body, version):
    return Options()


def _decode_auth_response(body, version):
    return AuthResponse(_read_bytes(body) or b"")


def _decode_query(body, version):
    return Query(read_longstring(body), _read_query_parameters(body, version))


def _decode_prepare(body, version):
    return Prepare(read_longstring(body))


def _decode_execute(body, version):
    return Execute(read_binary_string(body), _read_query_parameters(body, version))


def _decode_batch(body, version):
    batch_type = body.read(1)[0]
    statements = []
    for _ in range(read_short(body)):
        kind = body.read(1)[0]
        if kind == 0:
            query_or_id = read_longstring(body)
        elif kind == 1:
            query_or_id = read_binary_string(body)
        else:
            raise ProtocolViolation(f"Invalid query kind in BATCH messages: {kind}, not 0 or 1")
        values, _ = _read_values(body, version, with_names=False)
        statements.append(BatchStatement(query_or_id, values))
    options = api.QueryOptions(consistency=read_short(body))
    flags = body.read(1)[0]
    if flags & WITH_NAMES_FOR_VALUES:
        # The v4 spec itself says this cannot work (CASSANDRA-10246): names would precede the
        # values, which come before the flags that announce them.
        raise ProtocolViolation("Names for values are not supported in BATCH")
    if flags & WITH_SERIAL_CONSISTENCY:
        options.serial_consistency = read_short(body)
    if flags & WITH_DEFAULT_TIMESTAMP:
        options.default_timestamp = _read_timestamp(body)
    return Batch(batch_type, statements, options)


def _decode_register(body, version):
    return Register(read_stringlist(body))


REQUEST_DECODERS = {
    Opcode.STARTUP: _decode_startup,
    Opcode.OPTIONS: _decode_options,
    Opcode.QUERY: _decode_query,
    Opcode.PREPARE: _decode_prepare,
    Opcode.EXECUTE: _decode_execute,
    Opcode.BATCH: _decode_batch,
    Opcode.REGISTER: _decode_register,
    Opcode.AUTH_RESPONSE: _decode_auth_response,
}


def decode_request(header: FrameHeader, body: bytes):
    """The request message of a frame whose header passed ``parse_header``."""
    reader = _Body(body)
    try:
        if header.flags & CUSTOM_PAYLOAD and header.version >= 4:
            read_bytesmap(reader)  # no custom payload handler: Cassandra ignores them too
        return REQUEST_DECODERS[header.opcode](reader, header.version)
    except ProtocolViolation as exc:
        exc.stream, exc.reply_version = header.stream, header.version
        raise
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ProtocolViolation(
            f"Malformed {header.opcode.name} message: {exc}", header.stream, header.version
        ) from exc


# --------------------------------------------------------------------------- responses
def encode_frame(version: int, stream: int, opcode: Opcode, body: bytes) -> bytes:
    header = HEADER if version >= 3 else OLD_HEADER
    return header.pack(version | RESPONSE_DIRECTION, 0, stream, opcode, len(body)) + body


def encode_supported() -> bytes:
    body = io.BytesIO()
    write_stringmultimap(
        body,
        {
            "CQL_VERSION": [CQL_VERSION],
            "COMPRESSION": [],
            "PROTOCOL_VERSIONS": [f"{v}/v{v}" for v in SUPPORTED_VERSIONS],
        },
    )
    return body.getvalue()


_MAX_MESSAGE_BYTES = 0xFFFF  # a [string] has a [short] length


def encode_authenticate(authenticator: str) -> bytes:
    body = io.BytesIO()
    write_string(body, authenticator)
    return body.getvalue()


def encode_auth_success() -> bytes:
    return struct.pack(">i", -1)  # no final SASL token


def encode_error(error: api.CqlError) -> bytes:
    body = io.BytesIO()
    write_int(body, error.code)
    message = error.message.encode("utf8")[:_MAX_MESSAGE_BYTES]
    write_string(body, message.decode("utf8", errors="ignore"))
    if isinstance(error, api.AlreadyExists):
        write_string(body, error.keyspace)
        write_string(body, error.table)
    elif isinstance(error, api.Unprepared):
        write_string(body, error.statement_id)  # [short bytes]
    return body.getvalue()


def encode_result(result: api.Result, version: int, skip_metadata: bool = False) -> bytes:
    body = io.BytesIO()
    if isinstance(result, api.VoidResult):
        write_int(body, ResultKind.VOID)
    elif isinstance(result, api.RowsResult):
        write_int(body, ResultKind.ROWS)
        _write_rows(body, result, version, skip_metadata)
    elif isinstance(result, api.SetKeyspaceResult):
        write_int(body, ResultKind.SET_KEYSPACE)
        write_string(body, result.keyspace)
    elif isinstance(result, api.SchemaChangeResult):
        write_int(body, ResultKind.SCHEMA_CHANGE)
        _write_schema_change(body, result)
    else:
        raise TypeError(f"the engine returned {result!r}, which is not an api.Result")
    return body.getvalue()


def encode_prepared(statement: api.PreparedStatement, version: int) -> bytes:
    body = io.BytesIO()
    write_int(body, ResultKind.PREPARED)
    write_string(body, statement.id)
    columns = statement.bind_columns
    global_spec = _global_table_spec(columns)
    write_int(body, GLOBAL_TABLES_SPEC if global_spec else 0)
    write_int(body, len(columns))
    if version >= 4:
        write_int(body, len(statement.pk_indexes))
        for index in statement.pk_indexes:
            write_short(body, index)
    _write_column_specs(body, columns, global_spec, version)
    if statement.result_columns is None:
        write_int(body, NO_METADATA)
        write_int(body, 0)
    else:
        _write_rows_metadata(body, statement.result_columns, None, version, skip_metadata=False)
    return body.getvalue()


def encode_schema_change_event(change: api.SchemaChangeResult) -> bytes:
    body = io.BytesIO()
    write_string(body, "SCHEMA_CHANGE")
    _write_schema_change(body, change)
    return body.getvalue()


def _write_schema_change(body: io.BytesIO, change: api.SchemaChangeResult) -> None:
    write_string(body, change.change_type)
    write_string(body, change.target)
    write_string(body, change.keyspace)
    if change.target != "KEYSPACE":
        write_string(body, change.name or "")
    if change.target in ("FUNCTION", "AGGREGATE"):
        write_stringlist(body, change.argument_types or [])


def _write_rows(body: io.BytesIO, result: api.RowsResult, version: int, skip_metadata: bool):
    _write_rows_metadata(body, result.columns, result.paging_state, version, skip_metadata)
    write_int(body, len(result.rows))
    cql_types = [column.cql_type for column in result.columns]
    for row in result.rows:
        for cql_type, value in zip(cql_types, row, strict=True):
            if value is None:
                write_int(body, -1)
            else:
                encoded = cql_type.to_binary(value, version)
                write_int(body, len(encoded))
                body.write(encoded)


def _write_rows_metadata(body, columns, paging_state, version, skip_metadata):
    flags, specs = (NO_METADATA, b"") if skip_metadata else _column_specs(tuple(columns), version)
    write_int(body, flags | (HAS_MORE_PAGES if paging_state is not None else 0))
    write_int(body, len(columns))
    if paging_state is not None:
        write_int(body, len(paging_state))
        body.write(paging_state)
    body.write(specs)


@functools.lru_cache(maxsize=4096)
def _column_specs(columns: tuple[api.ColumnSpec, ...], version: int) -> tuple[int, bytes]:
    """The metadata flag and the encoded specs of these result columns. A prepared statement
    answers with the same columns on every execution (a SELECT plan keeps one tuple of them),
    and encoding them was an eighth of the server's work on a point read: encoded once."""
    global_spec = _global_table_spec(columns)
    specs = io.BytesIO()
    _write_column_specs(specs, columns, global_spec, version)
    return (GLOBAL_TABLES_SPEC if global_spec else 0), specs.getvalue()


def _global_table_spec(columns: list[api.ColumnSpec]) -> tuple[str, str] | None:
    tables = {(column.keyspace, column.table) for column in columns}
    return tables.pop() if len(tables) == 1 else None


def _write_column_specs(body, columns, global_spec, version):
    if global_spec:
        write_string(body, global_spec[0])
        write_string(body, global_spec[1])
    for column in columns:
        if not global_spec:
            write_string(body, column.keyspace)
            write_string(body, column.table)
        write_string(body, column.name)
        write_type(body, column.cql_type, version)


# [option] ids by driver type class, from the driver's own table of protocol type codes.
_OPTION_IDS = {
    getattr(cqltypes, name): code
    for name, code in vars(type_codes).items()
    if not name.startswith("_") and isinstance(getattr(cqltypes, name, None), type)
}
_OPTION_IDS[cqltypes.UTF8Type] = type_codes.VarcharType  # Cassandra announces text as varchar
_CUSTOM = type_codes.CUSTOM_TYPE
# Types that got an [option] id in a later version; before it they travel as custom types.
_FIRST_VERSION_WITH_ID = {
    cqltypes.SimpleDateType: 4,
    cqltypes.TimeType: 4,
    cqltypes.ShortType: 4,
    cqltypes.ByteType: 4,
    cqltypes.DurationType: 5,
}


def write_type(body: io.BytesIO, cql_type, version: int) -> None:
    """Writes the [option] of a driver type class (``cassandra.cqltypes``)."""
    # frozen<> and the reversed order of a clustering column are not visible on the wire.
    while issubclass(cql_type, cqltypes.FrozenType | cqltypes.ReversedType):
        cql_type = cql_type.subtypes[0]
    base = next((klass for klass in cql_type.__mro__ if klass in _OPTION_IDS), None)
    if base is None or version < _FIRST_VERSION_WITH_ID.get(base, 0):
        write_short(body, _CUSTOM)
        write_string(body, cql_type.cass_parameterized_type(full=True))
        return
    write_short(body, _OPTION_IDS[base])
    if base is cqltypes.UserType:
        write_string(body, cql_type.keyspace)
        write_string(body, cql_type.typename)
        write_short(body, len(cql_type.subtypes))
        for name, subtype in zip(cql_type.fieldnames, cql_type.subtypes, strict=True):
            write_string(body, name)
            write_type(body, subtype, version)
    elif base is cqltypes.TupleType:
        write_short(body, len(cql_type.subtypes))
        for subtype in cql_type.subtypes:
            write_type(body, subtype, version)
    elif base in (cqltypes.ListType, cqltypes.SetType, cqltypes.MapType):
        for subtype in cql_type.subtypes:
            write_type(body, subtype, version)
