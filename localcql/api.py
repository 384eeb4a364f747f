"""The contract between localcql's CQL engine and its native-protocol server.

The server (``localcql.server``) speaks frames; the engine (``localcql.engine.Engine``) speaks CQL.
They meet only through the types below, so each side can be read and tested on its own:

- The server hands the engine a query string, or a prepared statement plus its bound values as the
  raw bytes that arrived on the wire (``None`` for null, ``UNSET`` for an unset value). The engine
  decodes them with the cassandra-driver type of each bind marker, because only it knows the types.
- The engine answers with one of the ``*Result`` types. Row values are Python values; the server
  encodes them with ``ColumnSpec.cql_type.to_binary(value, protocol_version)``.
- Failures are ``CqlError`` subclasses carrying the protocol error code; the server turns them into
  ERROR frames. Anything else escaping the engine is a bug and becomes a Server error (0x0000).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class _Unset:
    """An unset bound value (protocol v4): leaves the column untouched, unlike null."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "UNSET"


UNSET = _Unset()


@dataclass(frozen=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    cql_type: Any  # a cassandra.cqltypes._CassandraType subclass, e.g. cassandra.cqltypes.UUIDType


@dataclass
class SessionState:
    """Per-connection state the engine may change (USE sets the keyspace)."""

    keyspace: str | None = None


@dataclass
class QueryOptions:
    consistency: int = 0x0006  # LOCAL_QUORUM; accepted and ignored: there is one replica
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: int | None = None
    default_timestamp: int | None = None  # microseconds since the epoch, from the client


@dataclass
class PreparedStatement:
    id: bytes
    query: str
    keyspace: str | None
    bind_columns: list[ColumnSpec]  # one per bind marker, in order; name = column or :marker name
    result_columns: list[ColumnSpec] | None  # None when the statement returns no rows
    pk_indexes: list[int] = field(default_factory=list)  # bind indexes of the partition key
    plan: Any = None  # engine-private: everything EXECUTE needs, so it never parses again


@dataclass
class VoidResult:
    pass


@dataclass
class RowsResult:
    columns: Sequence[ColumnSpec]
    rows: list[list[Any]]
    paging_state: bytes | None = None


@dataclass
class SetKeyspaceResult:
    keyspace: str


@dataclass
class SchemaChangeResult:
    change_type: str  # CREATED | UPDATED | DROPPED
    target: str  # KEYSPACE | TABLE | TYPE | FUNCTION | AGGREGATE
    keyspace: str
    name: str | None = None
    argument_types: list[str] | None = None


Result = VoidResult | RowsResult | SetKeyspaceResult | SchemaChangeResult


class CqlError(Exception):
    """An error the client sees, with the native protocol's error code."""

    code = 0x0000

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ServerError(CqlError):
    code = 0x0000


class ProtocolError(CqlError):
    code = 0x000A


class BadCredentials(CqlError):
    code = 0x0100


class CqlSyntaxError(CqlError):
    code = 0x2000


class Unauthorized(CqlError):
    code = 0x2100


class InvalidRequest(CqlError):
    code = 0x2200


class ConfigurationError(CqlError):
    code = 0x2300


class AlreadyExists(CqlError):
    code = 0x2400

    def __init__(self, message: str, keyspace: str, table: str = ""):
        super().__init__(message)
        self.keyspace = keyspace
        self.table = table


class Unprepared(CqlError):
    code = 0x2500

    def __init__(self, message: str, statement_id: bytes):
        super().__init__(message)
        self.statement_id = statement_id
