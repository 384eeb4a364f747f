"""Schema definitions (keyspaces, tables, columns) and the one function that changes them.

Definitions are plain, immutable-by-convention objects: a schema change builds a new ``Table``
(keeping its id) and hands it to ``Schema.apply``, so a change could be logged and replayed as is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from localcql.types import CqlType

PARTITION_KEY, CLUSTERING, REGULAR, STATIC = "partition_key", "clustering", "regular", "static"

# Cassandra 4.0's defaults, as system_schema.tables shows them for a table created without options.
DEFAULT_TABLE_OPTIONS: dict[str, Any] = {
    "additional_write_policy": "99p",
    "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
    "cdc": False,
    "comment": "",
    "compaction": {
        "class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
        "max_threshold": "32",
        "min_threshold": "4",
    },
    "compression": {
        "chunk_length_in_kb": "16",
        "class": "org.apache.cassandra.io.compress.LZ4Compressor",
    },
    "crc_check_chance": 1.0,
    "dclocal_read_repair_chance": 0.0,
    "default_time_to_live": 0,
    "extensions": {},
    "gc_grace_seconds": 864000,
    "max_index_interval": 2048,
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair": "BLOCKING",
    "read_repair_chance": 0.0,
    "speculative_retry": "99p",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: CqlType
    kind: str  # partition_key clustering regular static
    position: int = -1  # index within the partition key or the clustering columns
    descending: bool = False

    @property
    def is_primary_key(self) -> bool:
        return self.kind in (PARTITION_KEY, CLUSTERING)

    @property
    def clustering_order(self) -> str:
        if self.kind != CLUSTERING:
            return "none"
        return "desc" if self.descending else "asc"


@dataclass(frozen=True)
class Index:
    """A secondary index: on a column's value ("simple"), a collection's values, a map's keys or
    entries, or a frozen collection as a whole ("full"), as CREATE INDEX ... (keys(m)) says."""

    name: str
    column: str
    kind: str = "simple"  # simple values keys entries full

    @property
    def target(self) -> str:
        """The target as system_schema.indexes shows it: "v", "keys(m)", "values(l)"..."""
        return self.column if self.kind == "simple" else f"{self.kind}({self.column})"

    def supports(self, relation) -> bool:
        """Whether a WHERE relation (localcql.cql.ast.Relation) can be answered by this index."""
        if relation.columns != [self.column]:
            return False
        if relation.operator == "=" and relation.kind == "single":
            return self.kind in ("simple", "full")
        if relation.operator == "CONTAINS":
            return self.kind == "values"
        return relation.operator == "CONTAINS KEY" and self.kind == "keys"


@dataclass
class Table:
    keyspace: str
    name: str
    columns: dict[str, Column]
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TABLE_OPTIONS))
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    virtual: bool = False  # a system table whose rows are computed from live state
    # Dropped columns: name -> (type, drop time in microseconds), as system_schema shows them.
    dropped: dict[str, tuple[CqlType, int]] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)  # by index name

    def __post_init__(self):
        by_kind = {kind: [] for kind in (PARTITION_KEY, CLUSTERING, REGULAR, STATIC)}
        for column in self.columns.values():
            by_kind[column.kind].append(column)
        self.partition_key = sorted(by_kind[PARTITION_KEY], key=lambda c: c.position)
        self.clustering = sorted(by_kind[CLUSTERING], key=lambda c: c.position)
        self.statics = sorted(by_kind[STATIC], key=lambda c: c.name)
        self.regulars = sorted(by_kind[REGULAR], key=lambda c: c.name)
        # SELECT * order: partition key, clustering, then static and regular columns by name.
        self.star_columns = self.partition_key + self.clustering + self.statics + self.regulars
        self.is_counter = any(c.type.is_counter for c in self.columns.values())

    @property
    def qualified_name(self) -> str:
        return f"{self.keyspace}.{self.name}"

    @property
    def default_ttl(self) -> int:
        return int(self.options.get("default_time_to_live") or 0)

    def changed(self, columns: dict[str, Column] | None = None, options=None) -> Table:
        """A new definition of this same table (same id), e.g. after ALTER TABLE."""
        return replace(
            self,
            columns=dict(self.columns if columns is None else columns),
            options=dict(self.options if options is None else options),
            dropped=dict(self.dropped),
            indexes=dict(self.indexes),
        )


@dataclass
class Keyspace:
    name: str
    replication: dict[str, str]
    durable_writes: bool = True
    tables: dict[str, Table] = field(default_factory=dict)
    virtual: bool = False  # system keyspaces: refuse writes and schema changes
    types: dict[str, CqlType] = field(default_factory=dict)  # user-defined types, by name


@dataclass(frozen=True)
class SchemaChange:
    """One schema change as plain data: what ``Schema.apply`` (and a future log) consumes."""

    kind: str  # create_keyspace alter_keyspace drop_keyspace create_table alter_table drop_table
    keyspace: Keyspace | str
    table: Table | str | None = None


class Schema:
    def __init__(self):
        self.keyspaces: dict[str, Keyspace] = {}
        self.tables_by_id: dict[uuid.UUID, Table] = {}
        self.version = uuid.uuid4()

    def apply(self, change: SchemaChange) -> None:
        kind = change.kind
        if kind in ("create_keyspace", "alter_keyspace"):
            keyspace = change.keyspace
            previous = self.keyspaces.get(keyspace.name)
            if previous is not None:
                keyspace.tables = previous.tables
                keyspace.types = previous.types
            self.keyspaces[keyspace.name] = keyspace
        elif kind == "drop_keyspace":
            for table in self.keyspaces.pop(change.keyspace).tables.values():
                del self.tables_by_id[table.id]
        elif kind in ("create_table", "alter_table"):
            table = change.table
            self.keyspaces[table.keyspace].tables[table.name] = table
            self.tables_by_id[table.id] = table
        elif kind == "drop_table":
            table = self.keyspaces[change.keyspace].tables.pop(change.table)
            del self.tables_by_id[table.id]
        elif kind in ("create_type", "alter_type"):  # change.table is the type
            self.keyspaces[change.keyspace].types[change.table.udt.name] = change.table
        elif kind == "drop_type":
            del self.keyspaces[change.keyspace].types[change.table]
        else:
            raise ValueError(f"unknown schema change {kind}")
        self.version = uuid.uuid4()

    def table(self, keyspace: str, name: str) -> Table | None:
        found = self.keyspaces.get(keyspace)
        return found.tables.get(name) if found else None
