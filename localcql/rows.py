"""Rows as the store keeps them: ``Row``, ``Cell`` and ``Collection``, and ``SortedRows``, the
ordered map of one partition's rows."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any


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
                if not cell.elements and (cell.deletion or 0) <= timestamp:
                    del self.cells[name]
            elif cell.timestamp <= timestamp:
                del self.cells[name]


class SortedRows:
    """A partition's rows by clustering sort key, in order.

    Every partition has one, and most hold a single row, so it is two plain lists searched with
    ``bisect``: about 180 bytes, where a SortedDict costs about 1.6 KB (it binds a dozen methods
    per instance and keeps a dict, a SortedList and its index). Inserting in the middle of a list
    is O(n), which for the rows of one partition is cheap next to the rest of a write."""

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

    def values(self):
        return iter(self._values)

    def between(
        self, low: tuple, high: tuple, low_inclusive=True, high_inclusive=True, reverse=False
    ) -> list[tuple]:
        """The (key, value) pairs from ``low`` to ``high``, descending if ``reverse``."""
        keys = self._keys
        start = bisect_left(keys, low) if low_inclusive else bisect_right(keys, low)
        end = bisect_right(keys, high) if high_inclusive else bisect_left(keys, high)
        positions = range(start, end)
        return [(keys[i], self._values[i]) for i in (reversed(positions) if reverse else positions)]
