"""The store's row layout: the ordered map of a partition's rows."""

from __future__ import annotations

import pytest

from localcql.rows import SortedRows
from localcql.types import TOP, Descending


def filled(keys) -> SortedRows:
    rows = SortedRows()
    for key in keys:
        rows[key] = ("row", key)
    return rows


def keys_of(pairs) -> list[tuple]:
    return [key for key, _ in pairs]


def test_rows_are_kept_in_key_order_and_overwritten_in_place():
    rows = filled([(3,), (1,), (2,)])
    rows[(2,)] = "again"
    assert rows.items() == [((1,), ("row", (1,))), ((2,), "again"), ((3,), ("row", (3,)))]
    assert len(rows) == 3
    assert rows.get((2,)) == "again"
    assert rows.get((4,)) is None
    assert rows.get((0,), "absent") == "absent"


@pytest.mark.parametrize(
    ("low_inclusive", "high_inclusive", "expected"),
    [(True, True, [2, 3, 4]), (False, True, [3, 4]), (True, False, [2, 3]), (False, False, [3])],
)
def test_between_honours_each_bound_inclusive_or_not(low_inclusive, high_inclusive, expected):
    rows = filled([(n,) for n in range(1, 6)])
    found = rows.between((2,), (4,), low_inclusive, high_inclusive)
    assert keys_of(found) == [(n,) for n in expected]
    reversed_found = rows.between((2,), (4,), low_inclusive, high_inclusive, reverse=True)
    assert keys_of(reversed_found) == [(n,) for n in reversed(expected)]


def test_a_clustering_prefix_bounded_by_top_covers_every_row_under_it():
    rows = filled([(1, "a"), (2, "a"), (2, "b"), (3, "a")])
    assert keys_of(rows.between((2,), (2, TOP))) == [(2, "a"), (2, "b")]
    assert keys_of(rows.between((), (TOP,))) == [(1, "a"), (2, "a"), (2, "b"), (3, "a")]
    # An exclusive start becomes key + (TOP,), which sorts after the key and all under it.
    assert keys_of(rows.between((2, TOP), (TOP,))) == [(3, "a")]


def test_descending_columns_are_kept_in_reverse_order():
    rows = filled([(1, Descending(n)) for n in (5, 7, 6)])
    assert [key[1].key for key in keys_of(rows.between((1,), (1, TOP)))] == [7, 6, 5]
    found = rows.between((1, Descending(7)), (1, Descending(5)), False, True)
    assert [key[1].key for key in keys_of(found)] == [6, 5]
    assert rows.get((1, Descending(6)))[1][1].key == 6
    assert rows.get((1, Descending(8))) is None


def test_between_takes_rows_one_at_a_time():
    # A read of the first rows of a large partition must not copy the rest: what is set after
    # the iteration began is what a later step sees.
    rows = filled([(n,) for n in range(1, 6)])
    found = rows.between((1,), (5,))
    assert next(found) == ((1,), ("row", (1,)))
    rows[(2,)] = "changed meanwhile"
    assert next(found) == ((2,), "changed meanwhile")
