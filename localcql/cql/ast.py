"""The parsed form of CQL statements: plain data, no schema knowledge (the planner adds that)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from localcql.types import CqlType


# --------------------------------------------------------------------------- terms
@dataclass(frozen=True)
class Constant:
    kind: str  # string integer float boolean uuid hex null
    value: str  # the literal's text, unquoted and unescaped for strings
    text: str  # as written, for messages and result column names


@dataclass(frozen=True)
class Marker:
    index: int
    name: str | None = None


@dataclass(frozen=True)
class Collection:
    kind: str  # list set map
    items: tuple  # terms, or (key, value) pairs for maps


@dataclass(frozen=True)
class Tuple:
    items: tuple


@dataclass(frozen=True)
class FunctionCall:
    name: str
    args: tuple


Term = Constant | Marker | Collection | Tuple | FunctionCall


# --------------------------------------------------------------------------- SELECT
@dataclass(frozen=True)
class ColumnSelector:
    name: str


@dataclass(frozen=True)
class FunctionSelector:
    name: str
    args: tuple


@dataclass(frozen=True)
class CountStar:
    name: str  # count, as written


@dataclass(frozen=True)
class CastSelector:
    arg: Any
    type: CqlType


@dataclass(frozen=True)
class ConstantSelector:
    constant: Constant


@dataclass
class SelectItem:
    selector: Any
    alias: str | None


@dataclass
class Relation:
    kind: str  # single in token multi multi_in contains
    columns: list[str]
    operator: str  # = != < <= > >= IN CONTAINS
    value: Any  # a term, or for IN a list of terms or a Marker


@dataclass
class TableName:
    keyspace: str | None
    name: str


@dataclass
class Select:
    table: TableName
    distinct: bool
    items: list[SelectItem] | None  # None for *
    where: list[Relation]
    order_by: list[tuple[str, bool]]  # (column, descending)
    per_partition_limit: Any
    limit: Any
    allow_filtering: bool
    json: bool = False


# --------------------------------------------------------------------------- writes
@dataclass
class Using:
    ttl: Any = None
    timestamp: Any = None


@dataclass
class Condition:
    column: str
    operator: str
    value: Any
    element: Any = None  # m[k] = v conditions


@dataclass
class Conditions:
    if_exists: bool = False
    if_not_exists: bool = False
    columns: list[Condition] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return self.if_exists or self.if_not_exists or bool(self.columns)


@dataclass
class Insert:
    table: TableName
    columns: list[str]
    values: list[Any]
    conditions: Conditions
    using: Using
    json: Any = None  # INSERT ... JSON <term>: the term (a string or a marker)
    json_default_unset: bool = False  # DEFAULT UNSET: columns the JSON omits are left alone


@dataclass
class Assignment:
    kind: str  # set add subtract prepend element
    column: str
    value: Any
    element: Any = None  # the index or key of m[k] = v / l[i] = v
    text: str = ""  # as written, for messages


@dataclass
class Update:
    table: TableName
    using: Using
    assignments: list[Assignment]
    where: list[Relation]
    conditions: Conditions


@dataclass
class Deletion:
    column: str
    element: Any = None


@dataclass
class Delete:
    table: TableName
    targets: list[Deletion]
    using: Using
    where: list[Relation]
    conditions: Conditions


@dataclass
class Batch:
    kind: str  # LOGGED UNLOGGED COUNTER
    using: Using
    statements: list[Insert | Update | Delete]


# --------------------------------------------------------------------------- schema
@dataclass
class CreateKeyspace:
    name: str
    if_not_exists: bool
    properties: dict[str, Any]


@dataclass
class AlterKeyspace:
    name: str
    properties: dict[str, Any]


@dataclass
class DropKeyspace:
    name: str
    if_exists: bool


@dataclass
class Use:
    keyspace: str


@dataclass
class ColumnDefinition:
    name: str
    type: CqlType
    static: bool = False
    primary_key: bool = False


@dataclass
class CreateTable:
    table: TableName
    if_not_exists: bool
    columns: list[ColumnDefinition]
    primary_keys: list[tuple[list[str], list[str]]]  # each PRIMARY KEY (...) clause
    options: dict[str, Any]
    clustering_order: list[tuple[str, bool]] | None


@dataclass
class AlterTable:
    table: TableName
    add: list[ColumnDefinition] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    renames: list[tuple[str, str]] = field(default_factory=list)  # (old name, new name)


@dataclass
class DropTable:
    table: TableName
    if_exists: bool


@dataclass
class Truncate:
    table: TableName


@dataclass(frozen=True)
class UserTypeLiteral:
    fields: tuple  # (field name, term) pairs


@dataclass(frozen=True)
class FieldSelector:
    arg: Any
    field: str


@dataclass
class CreateType:
    name: TableName  # keyspace and type name
    if_not_exists: bool
    fields: list[tuple[str, Any]]


@dataclass
class AlterType:
    name: TableName
    add: tuple[str, Any] | None = None
    renames: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DropType:
    name: TableName
    if_exists: bool


@dataclass
class CreateIndex:
    table: TableName
    name: str | None
    column: str
    kind: str  # values keys entries full
    if_not_exists: bool


@dataclass
class DropIndex:
    keyspace: str | None
    name: str
    if_exists: bool


@dataclass
class Describe:
    # keyspaces, keyspace, tables, table, schema, cluster, or name (a keyspace or a table)
    what: str
    keyspace: str | None = None
    name: str | None = None
    full: bool = False


Statement = (
    Select
    | Insert
    | Update
    | Delete
    | Batch
    | CreateKeyspace
    | AlterKeyspace
    | DropKeyspace
    | Use
    | CreateTable
    | AlterTable
    | DropTable
    | Truncate
    | Describe
)
