"""Durability: a commit log of every change, group-committed, replayed at start, compacted into
snapshots.

On disk, in the data directory:

- ``commitlog-<n>.log``: segments of records, each ``length (4 bytes) | CRC32 (4 bytes) |
  payload``, the payload a JSON object: a schema change or a data change (``Store.apply_schema`` /
  ``Store.apply`` arguments). Values are written in their column's CQL binary form (the driver's
  codecs), base64-encoded, so they read back exactly.
- ``snapshot-<n>.log``: records in the same frames describing the whole store as it was when
  segment ``n`` was closed (taken when the log passes ``--snapshot-threshold-mb``, and at a start
  that replayed that much): the schema as JSON records, then the partitions in packed records
  (binary, rows as the store keeps them: see ``snapshot_records``). A forked child writes it from
  a copy-on-write image of the store while the server goes on serving; to a temporary file,
  fsynced, then renamed, so a snapshot is whole or absent. Segments up to ``n`` and older
  snapshots are deleted once it is in place.

Start: the newest snapshot is loaded, its packed partitions put straight into the store, then
every later segment is replayed through the write path. A snapshot written before packed records
existed (all JSON records) loads too, through the write path. A torn or corrupt record (short, or
a CRC that does not match) ends the replay: it and whatever follows are moved to
``<segment>.corrupt`` for inspection, the segment is truncated to its last good record, the log
says how many bytes were set aside, and the server starts.

Sync policies (``--commitlog-sync``), as Cassandra's ``commitlog_sync``:

- ``batch`` (default): a write is acknowledged only after its record is fsynced. Concurrent
  writes share one fsync (group commit): the server awaits ``durable()`` before answering.
- ``periodic``: writes are acknowledged at once and the log is fsynced every
  ``--commitlog-sync-period-ms`` (default 1000): a power loss or kernel crash may lose that much;
  a killed server process loses nothing (the records are already in the operating system).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cassandra.murmur3 import murmur3

from localcql.rows import BYTE, LENGTH, TIMESTAMP, Collection, Row, element_types
from localcql.schema import Column, Index, Keyspace, SchemaChange, Table
from localcql.storage import (
    CellWrite,
    Mutation,
    Partition,
    RangeDeletion,
    RowUpdate,
    Store,
    TableData,
    Truncation,
    partition_key_from_bytes,
)
from localcql.types import CqlType, UserTypeName, make_type

log = logging.getLogger("localcql.commitlog")

HEADER = struct.Struct(">II")  # payload length, CRC32 of the payload
SEGMENT = re.compile(r"commitlog-(\d+)\.log$")
SNAPSHOT = re.compile(r"snapshot-(\d+)\.log$")
DEFAULT_SNAPSHOT_THRESHOLD = 64 * 1024 * 1024  # bytes of log that trigger a snapshot
SYNC_POLICIES = ("batch", "periodic")
PACKED = b"\x00"  # starts a snapshot's packed record; a JSON record starts with "{"


# --------------------------------------------------------------------------- records
def frame(payload: dict | bytes) -> bytes:
    """A record: a JSON-able dict, or a snapshot's packed record (bytes starting with PACKED)."""
    if isinstance(payload, bytes):
        data = payload
    else:
        data = json.dumps(payload, separators=(",", ":")).encode()
    return HEADER.pack(len(data), zlib.crc32(data)) + data


def iter_records(data: bytes) -> Iterator[tuple[dict | bytes, int]]:
    """Each whole record at the start of ``data``, with the offset just past it; reading stops at
    the first torn or corrupt one. One at a time, so that a replay holds one decoded record, not
    the whole log's."""
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        payload = data[offset + HEADER.size : offset + HEADER.size + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        try:
            record = payload if payload[:1] == PACKED else json.loads(payload)
        except ValueError:
            return
        offset += HEADER.size + length
        yield record, offset


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Codec:
    """Data and schema changes to and from JSON-able records, values in their CQL binary form.

    Encoding a value needs its type, which the table's definition gives: the log is written and
    read in order, so the definition in force for each record is the store's at that point."""

    def __init__(self, store: Store):
        self.store = store

    # ------------------------------------------------------------------ schema
    def schema_record(self, change: SchemaChange) -> dict:
        record: dict[str, Any] = {"schema": change.kind}
        if isinstance(change.keyspace, Keyspace):
            keyspace = change.keyspace
            record["keyspace"] = {
                "name": keyspace.name,
                "replication": keyspace.replication,
                "durable_writes": keyspace.durable_writes,
            }
        else:
            record["keyspace"] = change.keyspace
        if isinstance(change.table, Table):
            record["table"] = table_record(change.table)
        elif isinstance(change.table, CqlType):  # a user-defined type
            record["type"] = type_record(change.table)
        else:
            record["table"] = change.table
        return record

    def schema_change(self, record: dict) -> SchemaChange:
        keyspace = record["keyspace"]
        if isinstance(keyspace, dict):
            keyspace = Keyspace(
                keyspace["name"], keyspace["replication"], keyspace["durable_writes"]
            )
        if "type" in record:
            return SchemaChange(record["schema"], keyspace, type_from_record(record["type"]))
        table = record["table"]
        if isinstance(table, dict):
            table = table_from_record(table)
        return SchemaChange(record["schema"], keyspace, table)

    # ------------------------------------------------------------------ data
    def data_record(self, change: Mutation | Truncation) -> dict:
        if isinstance(change, Truncation):
            return {"truncate": str(change.table_id)}
        table = self.store.tables[change.table_id].table
        clustering_types = [c.type for c in table.clustering]
        return {
            "table": str(change.table_id),
            "key": _values(change.partition_key, [c.type for c in table.partition_key]),
            "deleted": change.partition_deletion,
            "ranges": [_range_record(d, clustering_types) for d in change.range_deletions],
            "rows": [_row_record(update, table) for update in change.rows],
        }

    def data_change(self, record: dict) -> Mutation | Truncation:
        if "truncate" in record:
            return Truncation(uuid.UUID(record["truncate"]))
        table_id = uuid.UUID(record["table"])
        table = self.store.tables[table_id].table
        clustering_types = [c.type for c in table.clustering]
        return Mutation(
            table_id,
            _from_values(record["key"], [c.type for c in table.partition_key]),
            record["deleted"],
            [_range_from_record(r, clustering_types) for r in record["ranges"]],
            [_row_from_record(r, table) for r in record["rows"]],
        )

    def apply(self, record: dict | bytes) -> None:
        if isinstance(record, bytes):
            load_packed(self.store, record)
        elif "schema" in record:
            self.store.apply_schema(self.schema_change(record))
        else:
            self.store.apply(self.data_change(record))


def _value(value, cql_type: CqlType):
    return None if value is None else _b64(cql_type.to_binary(value))


def _from_value(text, cql_type: CqlType):
    return None if text is None else cql_type.from_binary(base64.b64decode(text))


def _values(values, types) -> list:
    return [_value(v, t) for v, t in zip(values, types, strict=False)]


def _from_values(texts, types) -> tuple:
    return tuple(_from_value(t, cql_type) for t, cql_type in zip(texts, types, strict=False))


def _range_record(deletion: RangeDeletion, clustering_types) -> dict:
    bounded = deletion.start is not None or deletion.end is not None
    bound_type = clustering_types[len(deletion.prefix)] if bounded else None
    return {
        "prefix": _values(deletion.prefix, clustering_types),
        "timestamp": deletion.timestamp,
        "start": _value(deletion.start, bound_type) if deletion.start is not None else None,
        "start_inclusive": deletion.start_inclusive,
        "end": _value(deletion.end, bound_type) if deletion.end is not None else None,
        "end_inclusive": deletion.end_inclusive,
    }


def _range_from_record(record: dict, clustering_types) -> RangeDeletion:
    prefix = _from_values(record["prefix"], clustering_types)
    bound_type = clustering_types[len(prefix)] if len(prefix) < len(clustering_types) else None
    return RangeDeletion(
        prefix,
        record["timestamp"],
        _from_value(record["start"], bound_type) if record["start"] is not None else None,
        record["start_inclusive"],
        _from_value(record["end"], bound_type) if record["end"] is not None else None,
        record["end_inclusive"],
    )


def _cell_record(write: CellWrite, column: Column) -> list:
    if write.path is None:
        value = _value(write.value, column.type)
        return [write.column, value, write.timestamp, write.expires, None, write.delta]
    path_type, value_type = element_types(column.type)
    path = list(write.path) if path_type is None else _value(write.path, path_type)
    value = write.value if value_type is None else _value(write.value, value_type)
    return [write.column, value, write.timestamp, write.expires, path, write.delta]


def _cell_from_record(record: list, table: Table) -> CellWrite:
    name, value, timestamp, expires, path, delta = record
    column = table.columns[name]
    if path is None:
        return CellWrite(name, _from_value(value, column.type), timestamp, expires, None, delta)
    path_type, value_type = element_types(column.type)
    path = tuple(path) if path_type is None else _from_value(path, path_type)
    value = value if value_type is None else _from_value(value, value_type)
    return CellWrite(name, value, timestamp, expires, path, delta)


def _row_record(update: RowUpdate, table: Table) -> dict:
    return {
        "clustering": _values(update.clustering, [c.type for c in table.clustering]),
        "static": update.static,
        "marker": update.marker,
        "deleted": update.deletion,
        "collections_deleted": update.collection_deletions,
        "cells": [_cell_record(w, table.columns[w.column]) for w in update.cells],
    }


def _row_from_record(record: dict, table: Table) -> RowUpdate:
    marker = record["marker"]
    return RowUpdate(
        _from_values(record["clustering"], [c.type for c in table.clustering]),
        record["static"],
        tuple(marker) if marker is not None else None,
        record["deleted"],
        dict(record["collections_deleted"]),
        [_cell_from_record(c, table) for c in record["cells"]],
    )


def type_record(cql_type: CqlType) -> dict:
    record = {
        "name": cql_type.name,
        "params": [type_record(p) for p in cql_type.params],
        "frozen": cql_type.frozen,
    }
    if cql_type.udt is not None:  # the whole definition: a record reads back on its own
        record["udt"] = [cql_type.udt.keyspace, cql_type.udt.name, list(cql_type.udt.fields)]
    return record


def type_from_record(record: dict) -> CqlType:
    params = [type_from_record(p) for p in record["params"]]
    if "udt" in record:
        keyspace, name, fields = record["udt"]
        udt = UserTypeName(keyspace, name, tuple(fields))
        return CqlType("udt", tuple(params), record["frozen"], udt)
    return make_type(record["name"], params, record["frozen"])


def table_record(table: Table) -> dict:
    return {
        "keyspace": table.keyspace,
        "name": table.name,
        "id": str(table.id),
        "columns": [
            [c.name, type_record(c.type), c.kind, c.position, c.descending]
            for c in table.columns.values()
        ],
        "options": table.options,
        "dropped": {name: [type_record(t), at] for name, (t, at) in table.dropped.items()},
        "indexes": [[i.name, i.column, i.kind] for i in table.indexes.values()],
    }


def table_from_record(record: dict) -> Table:
    columns = {
        name: Column(name, type_from_record(cql_type), kind, position, descending)
        for name, cql_type, kind, position, descending in record["columns"]
    }
    return Table(
        record["keyspace"],
        record["name"],
        columns,
        options=record["options"],
        id=uuid.UUID(record["id"]),
        dropped={name: (type_from_record(t), at) for name, (t, at) in record["dropped"].items()},
        # Records written before localcql had indexes have none.
        indexes={
            name: Index(name, column, kind) for name, column, kind in record.get("indexes", [])
        },
    )


# --------------------------------------------------------------------------- snapshots
# A snapshot's data is in packed records: PACKED, the table id (16 bytes), then partitions, each
#   key length:I, key bytes, flags:B, [deletion:q], [static row: length:I, packed],
#   [range tombstones: length:I, JSON list of _range_record], row count:I, rows (length:I, packed)
# the rows packed by the table's RowCodec, in clustering order. Loading one puts the partitions
# straight into the store: no JSON, no Mutation, no write path (rows in a snapshot are already
# reconciled), which is what makes a restart fast.
PARTITION_DELETED, PARTITION_STATIC, PARTITION_RANGES = 1, 2, 4
PARTITIONS_PER_RECORD = 1000  # about 300 KB of videos rows per record


def snapshot_records(store: Store, codec: Codec, now_seconds: int):
    """Records that rebuild the store's user keyspaces: schema first, then the partitions,
    packed.

    Expired cells are left out, and so are tombstones older than their table's
    gc_grace_seconds: what Cassandra's compaction would purge."""
    for keyspace in store.schema.keyspaces.values():
        if keyspace.virtual:
            continue
        yield codec.schema_record(SchemaChange("create_keyspace", keyspace))
        for user_type in keyspace.types.values():
            yield codec.schema_record(SchemaChange("create_type", keyspace.name, user_type))
        for table in keyspace.tables.values():
            yield codec.schema_record(SchemaChange("create_table", keyspace.name, table))
    for keyspace in store.schema.keyspaces.values():
        if keyspace.virtual:
            continue
        for table in keyspace.tables.values():
            data = store.tables[table.id]
            horizon = (now_seconds - int(table.options.get("gc_grace_seconds", 864000))) * 10**6
            record = bytearray(PACKED + table.id.bytes)
            count = 0
            for partition in data.partitions.values():
                count += _put_partition(record, data, partition, now_seconds, horizon)
                if count == PARTITIONS_PER_RECORD:
                    yield bytes(record)
                    record, count = bytearray(PACKED + table.id.bytes), 0
            if count:
                yield bytes(record)


def _put_partition(out: bytearray, data: TableData, partition, now: int, horizon: int) -> int:
    """Packs what is left of a partition after purging (see ``_collected``): 1, or 0 if
    nothing is."""

    def recent(timestamp):
        return timestamp is not None and timestamp > horizon

    codec = data.codec
    rows = []
    for _, packed in partition.rows.items():
        row = _collected(codec.unpack(packed), now, recent)
        if row is not None:
            rows.append(codec.pack(row))
    static = None if partition.static is None else _collected(partition.static, now, recent)
    ranges = [d for *_, timestamp, d in partition.range_tombstones if recent(timestamp)]
    deleted = recent(partition.deletion)
    if not rows and static is None and not ranges and not deleted:
        return 0
    key = data.key_bytes(partition.key)
    flags = (
        (PARTITION_DELETED if deleted else 0)
        | (PARTITION_STATIC if static is not None else 0)
        | (PARTITION_RANGES if ranges else 0)
    )
    out += LENGTH.pack(len(key)) + key + BYTE.pack(flags)
    if deleted:
        out += TIMESTAMP.pack(partition.deletion)
    if static is not None:
        _put_bytes(out, codec.pack(static))
    if ranges:
        types = [c.type for c in data.table.clustering]
        _put_bytes(out, json.dumps([_range_record(d, types) for d in ranges]).encode())
    out += LENGTH.pack(len(rows))
    for packed in rows:
        _put_bytes(out, packed)
    return 1


def _put_bytes(out: bytearray, data: bytes) -> None:
    out += LENGTH.pack(len(data)) + data


def _get_bytes(data: bytes, offset: int) -> tuple[bytes, int]:
    (length,) = LENGTH.unpack_from(data, offset)
    offset += LENGTH.size
    return data[offset : offset + length], offset + length


def _collected(row: Row, now: int, recent) -> Row | None:
    """The row as compaction would leave it, or None if nothing is left: expired cells go, and
    tombstones unless ``recent``."""

    def kept(cell):
        if cell.value is None:
            return recent(cell.timestamp)
        return cell.expires is None or now < cell.expires

    left = Row(row.clustering)
    if row.marker is not None and kept(row.marker):
        left.marker = row.marker
    if recent(row.deletion):
        left.deletion = row.deletion
    for name, cell in row.cells.items():
        if isinstance(cell, Collection):
            collection = Collection()
            if recent(cell.deletion):
                collection.deletion = cell.deletion
            collection.elements = {p: c for p, c in cell.elements.items() if kept(c)}
            if collection.elements or collection.deletion is not None:
                left.cells[name] = collection
        elif kept(cell):
            left.cells[name] = cell
    if left.marker is None and left.deletion is None and not left.cells:
        return None
    return left


def packed_table(record: bytes) -> uuid.UUID:
    """The table whose partitions a packed record holds."""
    return uuid.UUID(bytes=record[1:17])


def load_packed(store: Store, record: bytes) -> None:
    """Puts a packed record's partitions into the store as they are."""
    data = store.tables[packed_table(record)]
    codec, table = data.codec, data.table
    types = [c.type for c in table.clustering]
    offset = 17
    while offset < len(record):
        key, offset = _get_bytes(record, offset)
        partition = Partition(partition_key_from_bytes(table, key))
        flags = record[offset]
        offset += BYTE.size
        if flags & PARTITION_DELETED:
            (partition.deletion,) = TIMESTAMP.unpack_from(record, offset)
            offset += TIMESTAMP.size
        if flags & PARTITION_STATIC:
            static, offset = _get_bytes(record, offset)
            partition.static = codec.unpack(static)
        if flags & PARTITION_RANGES:
            ranges, offset = _get_bytes(record, offset)
            for deletion in (_range_from_record(r, types) for r in json.loads(ranges)):
                bounds = data.range_bounds(deletion)
                partition.range_tombstones.append((*bounds, deletion.timestamp, deletion))
        (count,) = LENGTH.unpack_from(record, offset)
        offset += LENGTH.size
        for _ in range(count):
            packed, offset = _get_bytes(record, offset)
            partition.rows[data.clustering_key(codec.clustering(packed)[0])] = packed
        data.partitions[(murmur3(key), key)] = partition


# --------------------------------------------------------------------------- the log
class CommitLog:
    """The store's commit log in ``directory``. ``open()`` replays what is there and then
    records every change the store applies."""

    def __init__(
        self,
        directory: str | Path,
        sync: str = "batch",
        sync_period_ms: int = 1000,
        snapshot_threshold: int = DEFAULT_SNAPSHOT_THRESHOLD,
    ):
        if sync not in SYNC_POLICIES:
            raise ValueError(f"commitlog sync must be one of {SYNC_POLICIES}, not {sync!r}")
        self.directory = Path(directory)
        self.sync = sync
        self.sync_period = sync_period_ms / 1000
        self.snapshot_threshold = snapshot_threshold
        self.store: Store | None = None
        self.codec: Codec | None = None
        self.segment_number = 0
        self.fd: int | None = None
        self.segment_size = 0
        self.appended = 0  # records appended, ever
        self.synced = 0  # records known to be on disk
        self._syncing: asyncio.Future | None = None
        self._snapshotting: tuple[int, int] | None = None  # (child pid, segment number)

    # ------------------------------------------------------------------ start
    def open(self, store: Store) -> None:
        """Rebuilds ``store`` from the snapshot and segments, then logs its changes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store, self.codec = store, Codec(store)
        snapshots = self._numbered(SNAPSHOT)
        base = snapshots[-1][0] if snapshots else -1
        segments = [(n, path) for n, path in self._numbered(SEGMENT) if n > base]
        # A replay builds millions of objects that live on. Python's cyclic collector would walk
        # them all again at every full collection: two thirds of a restart's time with 100,000
        # rows, and pauses while serving after it. They are data, not garbage: the collector is
        # off while they are built, and then they are frozen out of its reach.
        gc.disable()
        try:
            if snapshots:
                self._load(snapshots[-1][1], truncate=False)
            for _, path in segments:
                self._load(path, truncate=True)
        finally:
            gc.freeze()
            gc.enable()
        self.segment_number = max([base, *(n for n, _ in segments)]) + 1
        self._open_segment()
        store.log = self
        if sum(path.stat().st_size for _, path in segments) >= self.snapshot_threshold:
            self.snapshot()  # so that the next start replays less

    def _numbered(self, pattern) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.iterdir():
            match = pattern.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def _load(self, path: Path, truncate: bool) -> None:
        data = path.read_bytes()
        replayed = good = 0
        for record, end in iter_records(data):
            self.codec.apply(record)
            replayed, good = replayed + 1, end
        if good < len(data):
            aside = path.with_suffix(".corrupt")
            aside.write_bytes(data[good:])
            log.warning(
                "%s: a torn or corrupt record at byte %d; %d bytes set aside in %s, the %d "
                "records before it were replayed",
                path.name,
                good,
                len(data) - good,
                aside.name,
                replayed,
            )
            if truncate:
                os.truncate(path, good)
        log.info("replayed %d records from %s", replayed, path.name)

    def _open_segment(self) -> None:
        path = self.directory / f"commitlog-{self.segment_number}.log"
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.segment_size = os.fstat(self.fd).st_size
        _sync_directory(self.directory)

    # ------------------------------------------------------------------ writing
    def append_schema(self, change: SchemaChange) -> None:
        self._append(self.codec.schema_record(change))

    def append_data(self, change: Mutation | Truncation) -> None:
        self._append(self.codec.data_record(change))

    def _append(self, record: dict) -> None:
        data = frame(record)
        os.write(self.fd, data)  # to the operating system: a killed process loses nothing
        self.segment_size += len(data)
        self.appended += 1

    async def durable(self) -> None:
        """Returns once every record appended so far is fsynced (batch mode). Concurrent callers
        share each fsync: while one runs, later records wait for the next."""
        target = self.appended
        while self.synced < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._fsync())
            syncing = self._syncing
            await asyncio.shield(syncing)

    async def _fsync(self) -> None:
        covered = self.appended
        try:
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, self.fd)
            self.synced = max(self.synced, covered)
        finally:
            self._syncing = None
        self.reap_snapshot()
        if self.segment_size >= self.snapshot_threshold:
            self.snapshot()

    async def sync_periodically(self) -> None:
        """The periodic policy's flusher: fsync every period while there is something new."""
        while True:
            await asyncio.sleep(self.sync_period)
            if self.synced < self.appended:
                await self.durable()

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> None:
        """Starts writing the whole store as a snapshot, in a forked child: the child has a frozen
        copy-on-write image of the store, so the server goes on serving meanwhile, and the new
        segment opened here holds every change after the image. Once the child has put the
        snapshot in place, the segments it covers are deleted (``reap_snapshot``)."""
        if self._snapshotting is not None:
            return
        closed = self.segment_number
        os.fsync(self.fd)
        os.close(self.fd)
        self.synced = self.appended
        self.segment_number += 1
        self._open_segment()
        pid = os.fork()
        if pid == 0:  # the child: write, then leave without running the parent's cleanup
            code = 1
            try:
                self._write_snapshot(closed)
                code = 0
            finally:
                os._exit(code)
        self._snapshotting = (pid, closed)

    def _write_snapshot(self, number: int) -> None:
        final = self.directory / f"snapshot-{number}.log"
        temporary = final.with_suffix(".tmp")
        with open(temporary, "wb") as out:
            for record in snapshot_records(self.store, self.codec, int(time.time())):
                out.write(frame(record))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        _sync_directory(self.directory)

    def reap_snapshot(self, wait: bool = False) -> None:
        """Once the snapshot child is done: deletes what its snapshot covers, or, if it failed,
        keeps the log (nothing is lost; the next snapshot tries again)."""
        if self._snapshotting is None:
            return
        pid, number = self._snapshotting
        done, status = os.waitpid(pid, 0 if wait else os.WNOHANG)
        if done == 0:
            return
        self._snapshotting = None
        if os.waitstatus_to_exitcode(status) != 0:
            log.error("writing snapshot-%d failed; the commit log is kept", number)
            return
        final = self.directory / f"snapshot-{number}.log"
        for older, path in self._numbered(SEGMENT) + self._numbered(SNAPSHOT):
            if older <= number and path != final:
                path.unlink()
        log.info("snapshot-%d written; the log before it was deleted", number)

    def close(self) -> None:
        self.reap_snapshot(wait=True)
        if self.fd is not None:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None
            self.synced = self.appended


def _sync_directory(directory: Path) -> None:
    """A new or renamed file survives a crash only once its directory entry is on disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
