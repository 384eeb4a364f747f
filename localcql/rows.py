"""Rows as the store keeps them: ``Row``, ``Cell`` and ``Collection`` to read and change them,
``RowCodec`` to keep them packed into bytes in between, and ``SortedRows``, the ordered map of one
partition's rows."""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any

from localcql.types import CqlType


class Cell:
    __slots__ = ("expires", "timestamp", "value")

    def __init__(self, value, timestamp, expires=None):
        self.value = value
        self.timestamp = timestamp
        self.expires = expires

    def live(self, now: int) -> bool:
        return self.value is not None and (self.expires is None or now < self.expires)


class Collection:
    """A non-frozen collection: one cell per element, plus a tombstone for whole overwrites."""

    __slots__ = ("deletion", "elements")

    def __init__(self):
        self.deletion: int | None = None
        self.elements: dict[Any, Cell] = {}

    def live_items(self, now: int):
        return [(path, cell) for path, cell in self.elements.items() if cell.live(now)]


class Row:
    __slots__ = ("cells", "clustering", "deletion", "marker")

    def __init__(self, clustering: tuple):
        self.clustering = clustering
        self.marker: Cell | None = None
        self.deletion: int | None = None
        self.cells: dict[str, Cell | Collection] = {}

    def is_live(self, now: int) -> bool:
        if self.marker is not None and self.marker.live(now):
            return True
        for cell in self.cells.values():
            if isinstance(cell, Collection):
                if any(c.live(now) for c in cell.elements.values()):
                    return True
            elif cell.live(now):
                return True
        return False

    def purge(self, timestamp: int) -> None:
        """Drops everything written at or before ``timestamp`` (a covering tombstone arrived)."""
        if self.marker is not None and self.marker.timestamp <= timestamp:
            self.marker = None
        for name, cell in list(self.cells.items()):
            if isinstance(cell, Collection):
                cell.elements = {p: c for p, c in cell.elements.items() if c.timestamp > timestamp}
                if not cell.elements and (cell.deletion is None or cell.deletion <= timestamp):
                    del self.cells[name]
            elif cell.timestamp <= timestamp:
                del self.cells[name]


class SortedRows:
    """A partition's rows by clustering sort key, in order.

    Every partition has one, and most hold a single row, so it is two plain lists searched with
    ``bisect``: about 180 bytes, where a SortedDict costs about 1.6 KB (it binds a dozen methods
    per instance and keeps a dict, a SortedList and its index). Inserting a row in the middle moves
    the entries after it: about 15 us in a partition of 100,000 rows, small next to a write."""

    __slots__ = ("_keys", "_values")

    def __init__(self):
        self._keys: list[tuple] = []
        self._values: list = []

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, key: tuple, default=None):
        i = bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            return self._values[i]
        return default

    def __setitem__(self, key: tuple, value) -> None:
        i = bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            self._values[i] = value
        else:
            self._keys.insert(i, key)
            self._values.insert(i, value)

    def items(self) -> list[tuple]:
        """The (key, value) pairs in order, as a list: the caller may set values meanwhile."""
        return list(zip(self._keys, self._values, strict=True))

    def between(
        self, low: tuple, high: tuple, low_inclusive=True, high_inclusive=True, reverse=False
    ) -> Iterator[tuple]:
        """The (key, value) pairs from ``low`` to ``high``, descending if ``reverse``, one at a
        time: a read of the first rows of a large partition takes only those. Setting the value
        of a key already here meanwhile is safe; adding or removing a key is not."""
        keys, values = self._keys, self._values
        start = bisect_left(keys, low) if low_inclusive else bisect_right(keys, low)
        end = bisect_right(keys, high) if high_inclusive else bisect_left(keys, high)
        positions = reversed(range(start, end)) if reverse else range(start, end)
        return ((keys[i], values[i]) for i in positions)


# --------------------------------------------------------------------------- packed rows
def element_types(cql_type: CqlType) -> tuple[CqlType | None, CqlType | None]:
    """(the type of a collection cell's path, the type of its value); a list's path is a pair
    of integers (None here), a set element has no value."""
    if cql_type.name == "set":
        return cql_type.params[0], None
    if cql_type.name == "map":
        return cql_type.params[0], cql_type.params[1]
    return None, cql_type.params[0]


# Packed layout, little-endian; a value is its CQL binary form (the driver's codec) after its
# length (LENGTH):
#   row        = flags:B, clustering count:B, clustering values, [marker cell], [deletion:q],
#                then each column: column index:H, then a cell or a collection
#   cell       = flags:B, timestamp:q, [expires:q], [value unless a tombstone]
#   collection = flags:B (COLLECTION), [deletion:q], element count:I,
#                each element: path (a value, or list slot:qq), then a cell (no value in a set)
# A column index is the column's place among the table's non-key columns (``RowCodec``).
HAS_MARKER, HAS_DELETION = 1, 2  # row flags
TOMBSTONE, EXPIRES, COLLECTION = 1, 2, 4  # cell flags (HAS_DELETION again on a collection)
BYTE, COLUMN, LENGTH, TIMESTAMP = (struct.Struct(f) for f in ("<B", "<H", "<I", "<q"))
CELL_HEADER, LIST_SLOT = struct.Struct("<Bq"), struct.Struct("<qq")


class RowCodec:
    """Packs a ``Row`` into bytes and back, for one definition of a table.

    The store keeps every clustering row packed: a row of a handful of Cells, Python values, dicts
    and a Collection costs 2 KB or more, its packed form about a fifth of that. A write unpacks
    the row it changes, applies the ordinary rules to it and packs it again; a read unpacks the
    rows it returns."""

    def __init__(self, table):
        self.clustering_types = [c.type for c in table.clustering]
        # Key columns have no cells. Table.columns keeps its order across ALTER TABLE ADD (new
        # columns come last) and across a restart, so a packed row stays readable until a
        # column is dropped (TableData.define repacks then).
        self.columns = [c for c in table.columns.values() if not c.is_primary_key]
        self.index = {c.name: i for i, c in enumerate(self.columns)}
        self.element_types = [
            element_types(c.type) if c.type.is_multicell else None for c in self.columns
        ]

    def pack(self, row: Row) -> bytes:
        out = bytearray(2)
        out[1] = len(row.clustering)
        for cql_type, value in zip(self.clustering_types, row.clustering, strict=False):
            _put_value(out, cql_type.to_binary(value))
        if row.marker is not None:
            out[0] |= HAS_MARKER
            _put_cell(out, row.marker, None)
        if row.deletion is not None:
            out[0] |= HAS_DELETION
            out += TIMESTAMP.pack(row.deletion)
        for name, cell in row.cells.items():
            i = self.index[name]
            out += COLUMN.pack(i)
            if isinstance(cell, Collection):
                self._put_collection(out, cell, self.element_types[i])
            else:
                _put_cell(out, cell, self.columns[i].type)
        return bytes(out)

    @staticmethod
    def _put_collection(out: bytearray, collection: Collection, types) -> None:
        path_type, value_type = types
        if collection.deletion is None:
            out += BYTE.pack(COLLECTION)
        else:
            out += BYTE.pack(COLLECTION | HAS_DELETION) + TIMESTAMP.pack(collection.deletion)
        out += LENGTH.pack(len(collection.elements))
        for path, cell in collection.elements.items():
            if path_type is None:
                out += LIST_SLOT.pack(*path)
            else:
                _put_value(out, path_type.to_binary(path))
            _put_cell(out, cell, value_type)

    def clustering(self, data: bytes) -> tuple[tuple, int]:
        """A packed row's clustering values, and the offset just past them."""
        offset, clustering = 2, []
        for cql_type in self.clustering_types[: data[1]]:
            value, offset = _get_value(data, offset, cql_type)
            clustering.append(value)
        return tuple(clustering), offset

    def unpack(self, data: bytes) -> Row:
        flags = data[0]
        clustering, offset = self.clustering(data)
        row = Row(clustering)
        if flags & HAS_MARKER:
            row.marker, offset = _get_cell(data, offset, None)
        if flags & HAS_DELETION:
            (row.deletion,) = TIMESTAMP.unpack_from(data, offset)
            offset += TIMESTAMP.size
        cells, columns, end = row.cells, self.columns, len(data)
        while offset < end:
            (i,) = COLUMN.unpack_from(data, offset)
            offset += COLUMN.size
            column = columns[i]
            if data[offset] & COLLECTION:
                cells[column.name], offset = self._get_collection(
                    data, offset, self.element_types[i]
                )
            else:
                cells[column.name], offset = _get_cell(data, offset, column.type)
        return row

    @staticmethod
    def _get_collection(data: bytes, offset: int, types) -> tuple[Collection, int]:
        path_type, value_type = types
        collection = Collection()
        flags = data[offset]
        offset += 1
        if flags & HAS_DELETION:
            (collection.deletion,) = TIMESTAMP.unpack_from(data, offset)
            offset += TIMESTAMP.size
        (count,) = LENGTH.unpack_from(data, offset)
        offset += LENGTH.size
        elements = collection.elements
        for _ in range(count):
            if path_type is None:
                path = LIST_SLOT.unpack_from(data, offset)
                offset += LIST_SLOT.size
            else:
                path, offset = _get_value(data, offset, path_type)
            elements[path], offset = _get_cell(data, offset, value_type)
        return collection, offset


def _put_value(out: bytearray, data: bytes) -> None:
    out += LENGTH.pack(len(data))
    out += data


def _get_value(data: bytes, offset: int, cql_type: CqlType):
    (length,) = LENGTH.unpack_from(data, offset)
    offset += LENGTH.size
    return cql_type.from_binary(data[offset : offset + length]), offset + length


def _put_cell(out: bytearray, cell: Cell, cql_type: CqlType | None) -> None:
    """``cql_type`` None: a cell whose value is always True (a row marker, a set element)."""
    flags = (TOMBSTONE if cell.value is None else 0) | (EXPIRES if cell.expires is not None else 0)
    out += CELL_HEADER.pack(flags, cell.timestamp)
    if cell.expires is not None:
        out += TIMESTAMP.pack(cell.expires)
    if cell.value is not None and cql_type is not None:
        _put_value(out, cql_type.to_binary(cell.value))


def _get_cell(data: bytes, offset: int, cql_type: CqlType | None) -> tuple[Cell, int]:
    flags, timestamp = CELL_HEADER.unpack_from(data, offset)
    offset += CELL_HEADER.size
    expires = None
    if flags & EXPIRES:
        (expires,) = TIMESTAMP.unpack_from(data, offset)
        offset += TIMESTAMP.size
    if flags & TOMBSTONE:
        value = None
    elif cql_type is None:
        value = True
    else:
        value, offset = _get_value(data, offset, cql_type)
    return Cell(value, timestamp, expires), offset
