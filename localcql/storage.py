"""In-memory storage with Cassandra's reconciliation rules, behind one write path.

Every data change is a ``Mutation`` (plain, serializable data: values, timestamps, absolute expiry
times) given to ``Store.apply``; every schema change a ``SchemaChange`` given to
``Store.apply_schema``. A commit log and snapshots can therefore be added around those two calls.

Layout: per table, partitions in a SortedDict ordered by (Murmur3 token, serialized key); inside a
partition, rows in a ``SortedRows`` (localcql.rows) ordered by the clustering columns' Cassandra
order (DESC columns reversed), each packed into bytes by the table's ``RowCodec`` and unpacked to
be read or changed; a partition's static row, unpacked, exists once a static column is written.
Data shadowed by a tombstone is dropped when the tombstone arrives, and a write older than a
tombstone it falls under is dropped when it arrives, so reads only need to check expiry.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from cassandra.murmur3 import murmur3
from sortedcontainers import SortedDict

from localcql.rows import Cell, Collection, Row, RowCodec, SortedRows
from localcql.schema import Schema, SchemaChange, Table
from localcql.types import TOP, Descending


# --------------------------------------------------------------------------- mutations
@dataclass
class CellWrite:
    column: str
    value: Any  # None writes a tombstone
    timestamp: int
    expires: int | None = None  # absolute, in seconds since the epoch
    path: Any = None  # the element of a non-frozen collection: set element, map key, list slot
    delta: bool = False  # a counter increment: value is added to the current count


@dataclass
class RowUpdate:
    clustering: tuple  # () for the static row
    static: bool = False
    marker: tuple[int, int | None] | None = None  # (timestamp, expires): INSERT's row marker
    deletion: int | None = None  # row tombstone timestamp
    collection_deletions: dict[str, int] = field(default_factory=dict)  # column -> timestamp
    cells: list[CellWrite] = field(default_factory=list)


@dataclass
class RangeDeletion:
    """Deletes rows whose clustering starts with ``prefix`` and whose next column is in range."""

    prefix: tuple
    timestamp: int
    start: Any = None  # bound on clustering column len(prefix); None = unbounded
    start_inclusive: bool = True
    end: Any = None
    end_inclusive: bool = True


@dataclass
class Mutation:
    table_id: uuid.UUID
    partition_key: tuple
    partition_deletion: int | None = None
    range_deletions: list[RangeDeletion] = field(default_factory=list)
    rows: list[RowUpdate] = field(default_factory=list)


@dataclass
class Truncation:
    table_id: uuid.UUID


def partition_key_bytes(table: Table, key: tuple) -> bytes:
    """The partition key as Cassandra serializes it (composite keys: length, bytes, 0 each)."""
    columns = table.partition_key
    if len(columns) == 1:
        return columns[0].type.to_binary(key[0])
    parts = []
    for column, value in zip(columns, key, strict=True):
        data = column.type.to_binary(value)
        parts.append(struct.pack(">H", len(data)) + data + b"\x00")
    return b"".join(parts)


def partition_key_from_bytes(table: Table, data: bytes) -> tuple:
    """The partition key values ``partition_key_bytes`` serialized."""
    columns = table.partition_key
    if len(columns) == 1:
        return (columns[0].type.from_binary(data),)
    values, offset = [], 0
    for column in columns:
        (length,) = struct.unpack_from(">H", data, offset)
        values.append(column.type.from_binary(data[offset + 2 : offset + 2 + length]))
        offset += 3 + length
    return tuple(values)


def token_of(table: Table, key: tuple) -> int:
    return murmur3(partition_key_bytes(table, key))


# --------------------------------------------------------------------------- stored data
# Older than any write: timestamps are signed 64-bit microseconds and may be negative (USING
# TIMESTAMP -5), so "no tombstone" must sort below all of them, as Cassandra's Long.MIN_VALUE.
NO_DELETION = -(2**63)


def _or_none(deletion: int | None) -> int:
    return NO_DELETION if deletion is None else deletion


def wrap_counter(value: int) -> int:
    """A counter's sum as Cassandra's 64-bit long arithmetic gives it: it wraps around."""
    return (value + 2**63) % 2**64 - 2**63


class Partition:
    __slots__ = ("deletion", "key", "range_tombstones", "rows", "static")

    def __init__(self, key: tuple):
        self.key = key
        # Created by the first static write: most tables have no static columns.
        self.static: Row | None = None
        self.rows = SortedRows()  # clustering sort key -> the row packed (TableData.codec)
        self.deletion: int | None = None
        # (low, high, high_inclusive, timestamp, the deletion as written), bounds as
        # TableData.range_bounds gives them; the deletion itself is what a snapshot keeps.
        self.range_tombstones: list[tuple[tuple, tuple, bool, int, RangeDeletion]] = []

    def static_is_live(self, now: int) -> bool:
        return self.static is not None and self.static.is_live(now)

    def deletion_covering(self, sort_key: tuple) -> int:
        """The newest partition or range tombstone timestamp covering a row (NO_DELETION if
        none)."""
        newest = NO_DELETION if self.deletion is None else self.deletion
        for low, high, high_inclusive, timestamp, _ in self.range_tombstones:
            if (
                timestamp > newest
                and low <= sort_key
                and (sort_key <= high if high_inclusive else sort_key < high)
            ):
                newest = timestamp
        return newest


def _reconcile(new: Cell, old: Cell | None, column_type) -> bool:
    """True when ``new`` supersedes ``old`` (Cassandra's Cells.reconcile)."""
    if old is None or new.timestamp > old.timestamp:
        return True
    if new.timestamp < old.timestamp:
        return False
    if new.value is None or old.value is None:  # on a tie a tombstone wins
        return new.value is None
    if column_type is None:  # sets: the element is the path, the cell has no value
        return (new.expires or 0) >= (old.expires or 0)
    new_bytes, old_bytes = column_type.to_binary(new.value), column_type.to_binary(old.value)
    if new_bytes != old_bytes:
        return new_bytes > old_bytes
    return (new.expires or 1 << 62) >= (old.expires or 1 << 62)


class TableData:
    """The partitions of one table."""

    def __init__(self, table: Table):
        self.table = table
        self.codec = RowCodec(table)
        self.partitions = SortedDict()  # (token, key bytes) -> Partition
        # Secondary indexes: (column, kind) -> index key -> the positions of the partitions
        # that hold, or once held, that value. A superset: an index query reads only those
        # partitions and checks their rows. None until a query needs it: then it is built
        # from the data, which every path that bypasses apply() (snapshots, ALTER) resets.
        self._index_positions: dict[tuple[str, str], dict] | None = None

    def define(self, table: Table) -> None:
        self._index_positions = None
        dropped = set(self.table.columns) - set(table.columns)
        old, self.table, self.codec = self.codec, table, RowCodec(table)
        old_names = [c.name for c in old.columns]
        if old_names == [c.name for c in self.codec.columns][: len(old_names)]:
            return  # nothing dropped: packed rows read the same with the new definition
        # A column dropped: its cells go (so that a column re-added later does not resurrect
        # old values), and the columns after it move up, so every row is packed again.
        for partition in self.partitions.values():
            if partition.static is not None:
                for name in dropped:
                    partition.static.cells.pop(name, None)
            for key, packed in partition.rows.items():
                row = old.unpack(packed)
                for name in dropped:
                    row.cells.pop(name, None)
                partition.rows[key] = self.codec.pack(row)

    # ------------------------------------------------------------------ keys
    def partition_position(self, key: tuple) -> tuple[int, bytes]:
        data = self.key_bytes(key)
        return (murmur3(data), data)

    def key_bytes(self, key: tuple) -> bytes:
        return partition_key_bytes(self.table, key)

    def clustering_key(self, values: tuple) -> tuple:
        """The sort key of a (possibly partial) clustering."""
        return tuple(
            Descending(c.type.sort_key(v)) if c.descending else c.type.sort_key(v)
            for c, v in zip(self.table.clustering, values, strict=False)
        )

    def range_bounds(self, deletion: RangeDeletion) -> tuple[tuple, tuple, bool]:
        """Sort-key bounds of a clustering prefix with an optional slice after it.

        Returns (low, high, high_inclusive); low is always inclusive (an exclusive start becomes
        key + (TOP,), which no stored key equals).
        """
        prefix = self.clustering_key(deletion.prefix)
        low, high, high_inclusive = prefix, (*prefix, TOP), True
        if deletion.start is None and deletion.end is None:
            return low, high, True
        column = self.table.clustering[len(deletion.prefix)]
        start, end = deletion.start, deletion.end
        start_inclusive, end_inclusive = deletion.start_inclusive, deletion.end_inclusive
        if column.descending:  # the column's smaller values sort last
            start, end = end, start
            start_inclusive, end_inclusive = end_inclusive, start_inclusive
        wrap = Descending if column.descending else (lambda k: k)
        if start is not None:
            key = (*prefix, wrap(column.type.sort_key(start)))
            low = key if start_inclusive else (*key, TOP)
        if end is not None:
            key = (*prefix, wrap(column.type.sort_key(end)))
            high, high_inclusive = ((*key, TOP), True) if end_inclusive else (key, False)
        return low, high, high_inclusive

    # ------------------------------------------------------------------ writes
    def apply(self, mutation: Mutation) -> None:
        position = self.partition_position(mutation.partition_key)
        partition = self.partitions.get(position)
        if partition is None:
            partition = self.partitions[position] = Partition(mutation.partition_key)
        if mutation.partition_deletion is not None:
            timestamp = mutation.partition_deletion
            partition.deletion = max(_or_none(partition.deletion), timestamp)
            if partition.static is not None:
                partition.static.purge(timestamp)
            self._purge(partition, partition.rows.items(), timestamp)
        for deletion in mutation.range_deletions:
            low, high, high_inclusive = self.range_bounds(deletion)
            partition.range_tombstones.append(
                (low, high, high_inclusive, deletion.timestamp, deletion)
            )
            covered = partition.rows.between(low, high, True, high_inclusive)
            self._purge(partition, covered, deletion.timestamp)
        for update in mutation.rows:
            self._apply_row(partition, update)
        if self._index_positions is not None and self.table.indexes:
            for update in mutation.rows:
                for write in update.cells:
                    if write.value is not None:
                        self._index_write(position, write)
        self._drop_if_empty(partition)

    # ------------------------------------------------------------------ secondary indexes
    def index_positions(self, column: str, kind: str, key) -> list[tuple[int, bytes]]:
        """The positions, in token order, of the partitions an index says may hold ``key`` (a
        sort key: of the value, or of an element or a map key for collection indexes)."""
        if self._index_positions is None:
            self._build_indexes()
        return sorted(self._index_positions.get((column, kind), {}).get(key, ()))

    def _build_indexes(self) -> None:
        self._index_positions = {}
        indexed = {index.column for index in self.table.indexes.values()}
        for position, partition in self.partitions.items():
            rows = [partition.static] if partition.static is not None else []
            rows += [self.codec.unpack(packed) for _, packed in partition.rows.items()]
            for row in rows:
                for name in indexed & set(row.cells):
                    cell = row.cells[name]
                    if isinstance(cell, Collection):
                        for path, element in cell.elements.items():
                            self._index_write(
                                position, CellWrite(name, element.value, 0, path=path)
                            )
                    elif cell.value is not None:
                        self._index_write(position, CellWrite(name, cell.value, 0))

    def _index_write(self, position: tuple, write: CellWrite) -> None:
        for index in self.table.indexes.values():
            if index.column != write.column:
                continue
            column_type = self.table.columns[write.column].type
            if index.kind in ("simple", "full"):
                key_type, value = column_type, write.value
            elif index.kind == "keys" or (index.kind == "values" and column_type.name == "set"):
                key_type, value = column_type.params[0], write.path
            elif index.kind == "values":
                key_type, value = column_type.params[-1], write.value
            else:
                continue  # entries indexes are not queried
            if value is None:
                continue
            keys = self._index_positions.setdefault((index.column, index.kind), {})
            keys.setdefault(key_type.sort_key(value), set()).add(position)

    def _apply_row(self, partition: Partition, update: RowUpdate) -> None:
        if update.static:
            if partition.static is None:
                partition.static = Row(())
            row, sort_key = partition.static, ()
            shadow = _or_none(partition.deletion)
        else:
            sort_key = self.clustering_key(update.clustering)
            packed = partition.rows.get(sort_key)
            row = Row(update.clustering) if packed is None else self.codec.unpack(packed)
            shadow = partition.deletion_covering(sort_key)
        if update.deletion is not None:
            row.deletion = max(_or_none(row.deletion), update.deletion)
            row.purge(update.deletion)
        if row.deletion is not None:
            shadow = max(shadow, row.deletion)
        if update.marker is not None and update.marker[0] > shadow:
            timestamp, expires = update.marker
            if row.marker is None or timestamp >= row.marker.timestamp:
                row.marker = Cell(True, timestamp, expires)
        for name, timestamp in update.collection_deletions.items():
            if timestamp <= shadow:
                continue
            collection = row.cells.get(name)
            if collection is None:
                collection = row.cells[name] = Collection()
            collection.deletion = max(_or_none(collection.deletion), timestamp)
            collection.elements = {
                p: c for p, c in collection.elements.items() if c.timestamp > timestamp
            }
        for write in update.cells:
            if write.timestamp <= shadow:
                continue
            cell = Cell(write.value, write.timestamp, write.expires)
            column_type = self.table.columns[write.column].type
            if write.delta:
                current = row.cells.get(write.column)
                if current is not None and current.value is not None:
                    cell.value = wrap_counter(cell.value + current.value)
                    cell.timestamp = max(cell.timestamp, current.timestamp + 1)
                row.cells[write.column] = cell
                continue
            if write.path is None:
                if _reconcile(cell, row.cells.get(write.column), column_type):
                    row.cells[write.column] = cell
                continue
            collection = row.cells.get(write.column)
            if collection is None:
                collection = row.cells[write.column] = Collection()
            if write.timestamp <= _or_none(collection.deletion):
                continue
            value_type = None if column_type.name == "set" else column_type.params[-1]
            if _reconcile(cell, collection.elements.get(write.path), value_type):
                collection.elements[write.path] = cell
        if not update.static:
            partition.rows[sort_key] = self.codec.pack(row)

    def _purge(self, partition: Partition, rows: list[tuple], timestamp: int) -> None:
        """Applies a tombstone to packed rows, given as (sort key, packed row) pairs."""
        for key, packed in rows:
            row = self.codec.unpack(packed)
            row.purge(timestamp)
            partition.rows[key] = self.codec.pack(row)

    def _drop_if_empty(self, partition: Partition) -> None:
        """Forgets a partition with no data and no tombstones (e.g. a failed counter delete)."""
        if (
            not partition.rows
            and (partition.static is None or not partition.static.cells)
            and partition.deletion is None
            and not partition.range_tombstones
        ):
            del self.partitions[self.partition_position(partition.key)]

    # ------------------------------------------------------------------ reads
    def row(self, partition: Partition, sort_key: tuple) -> Row | None:
        packed = partition.rows.get(sort_key)
        return None if packed is None else self.codec.unpack(packed)

    def rows(
        self, partition: Partition, bounds=((), (TOP,), True), low_inclusive=True, reverse=False
    ):
        """The partition's clustering rows within (low, high, high_inclusive), unpacked."""
        low, high, high_inclusive = bounds
        unpack = self.codec.unpack
        found = partition.rows.between(low, high, low_inclusive, high_inclusive, reverse)
        return (unpack(packed) for _, packed in found)

    def partition(self, key: tuple) -> Partition | None:
        # The SortedDict's own dict finds it: hashing the key is cheap next to a second index.
        return self.partitions.get(self.partition_position(key))

    def scan(self, start: tuple | None = None, inclusive: bool = True):
        """Partitions in token order, from a (token, key bytes) position."""
        if start is None:
            return iter(self.partitions.values())
        keys = self.partitions.irange(minimum=start, inclusive=(inclusive, True))
        return (self.partitions[k] for k in keys)


class Store:
    """All tables' data, and the schema. The only way in: ``apply`` and ``apply_schema``.

    ``log``, when set (localcql.commitlog), records each change to a user keyspace before it is
    applied; system keyspaces are rebuilt at every start and are not logged."""

    def __init__(self):
        self.schema = Schema()
        self.tables: dict[uuid.UUID, TableData] = {}
        self.log = None

    def apply(self, mutation: Mutation | Truncation) -> None:
        if self.log is not None and not self.tables[mutation.table_id].table.virtual:
            self.log.append_data(mutation)
        if isinstance(mutation, Truncation):
            table = self.tables[mutation.table_id].table
            self.tables[mutation.table_id] = TableData(table)
            return
        self.tables[mutation.table_id].apply(mutation)

    def apply_schema(self, change: SchemaChange) -> None:
        if self.log is not None and not self._is_virtual(change):
            self.log.append_schema(change)
        if change.kind == "drop_keyspace":
            for table in self.schema.keyspaces[change.keyspace].tables.values():
                self.tables.pop(table.id, None)
        elif change.kind == "drop_table":
            table = self.schema.table(change.keyspace, change.table)
            self.tables.pop(table.id, None)
        elif change.kind == "create_table":
            self.tables[change.table.id] = TableData(change.table)
        elif change.kind == "alter_table":
            self.tables[change.table.id].define(change.table)
        self.schema.apply(change)

    def data(self, table: Table) -> TableData:
        return self.tables[table.id]

    def _is_virtual(self, change: SchemaChange) -> bool:
        keyspace = change.keyspace
        if isinstance(keyspace, str):
            keyspace = self.schema.keyspaces.get(keyspace)
        return keyspace is not None and keyspace.virtual
