"""Rows packed into bytes (localcql.rows.RowCodec) read back exactly: every CQL type, tombstones,
expiring cells, counters, collections, the static row, and rows of a table altered since."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from cassandra.util import Duration

from localcql import api
from localcql.engine import Engine
from localcql.rows import Cell, Collection, Row, RowCodec
from localcql.schema import CLUSTERING, PARTITION_KEY, REGULAR, STATIC, Column, Table
from localcql.types import make_type

SCALARS = {
    "ascii": "abc",
    "bigint": -(2**40),
    "blob": b"\x00\xff",
    "boolean": True,
    "counter": 7,
    "date": datetime.date(2026, 12, 4),
    "decimal": Decimal("-1.50"),
    "double": 1.25,
    "duration": Duration(1, 2, 3),
    "float": 1.5,
    "inet": "127.0.0.1",
    "int": -5,
    "smallint": 3,
    "text": "é and more",
    "time": 3_600_000_000_000,
    "timestamp": datetime.datetime(2026, 12, 4, 15, 30, 1, 123000),
    "timeuuid": uuid.UUID("6a1e5f2c-d1a4-11f0-8de9-0242ac120002"),
    "tinyint": -1,
    "uuid": uuid.UUID("0d3e0f3a-5a8e-4c4e-9b1e-6c0f8d2c7a11"),
    "varint": 2**80,
}


def t(name: str, *params):
    return make_type(name, list(params))


COMPOSITES = {
    "frozen_list": (t("frozen", t("list", t("int"))), [3, 1, 2]),
    "frozen_map": (t("frozen", t("map", t("text"), t("int"))), {"a": 1}),
    "pair": (t("tuple", t("int"), t("text")), (1, "x")),
}


def column(name, cql_type, kind=REGULAR, position=-1, descending=False) -> Column:
    return Column(name, cql_type, kind, position, descending)


TABLE = Table(
    "ks",
    "t",
    {
        c.name: c
        for c in [
            column("k", t("int"), PARTITION_KEY, 0),
            column("c1", t("int"), CLUSTERING, 0),
            column("c2", t("text"), CLUSTERING, 1, descending=True),
            column("st", t("text"), STATIC),
            *(column(f"v_{name}", t(name)) for name in SCALARS),
            *(column(name, cql_type) for name, (cql_type, _) in COMPOSITES.items()),
            column("tags", t("set", t("text"))),
            column("attributes", t("map", t("text"), t("timestamp"))),
            column("items", t("list", t("bigint"))),
        ]
    },
)
CODEC = RowCodec(TABLE)


def normalized(name: str, value):
    return TABLE.columns[name].type.normalize(value)


def described(row: Row) -> tuple:
    """Everything a row holds, as plain data to compare."""

    def cell(c: Cell):
        return (c.value, c.timestamp, c.expires)

    cells = {}
    for name, value in row.cells.items():
        if isinstance(value, Collection):
            elements = {path: cell(c) for path, c in value.elements.items()}
            cells[name] = ("collection", value.deletion, elements)
        else:
            cells[name] = cell(value)
    marker = None if row.marker is None else cell(row.marker)
    return (row.clustering, marker, row.deletion, cells)


def round_trip(row: Row) -> Row:
    packed = CODEC.pack(row)
    assert isinstance(packed, bytes)
    return CODEC.unpack(packed)


def test_every_scalar_type_round_trips_with_marker_deletion_tombstones_and_expiry():
    row = Row((7, "b"))
    row.marker = Cell(True, 10, 1_900_000_000)
    row.deletion = 5
    for n, (name, value) in enumerate(SCALARS.items()):
        column_name = f"v_{name}"
        row.cells[column_name] = Cell(normalized(column_name, value), 100 + n)
    row.cells["v_int"] = Cell(None, 11)  # a tombstone
    row.cells["v_text"] = Cell(normalized("v_text", "ttl"), 12, 1_800_000_000)
    for name, (_, value) in COMPOSITES.items():
        row.cells[name] = Cell(normalized(name, value), 13)
    assert described(round_trip(row)) == described(row)


def test_collections_round_trip_with_element_tombstones_expiry_and_their_own_deletion():
    row = Row((1, "a"))
    tags = row.cells["tags"] = Collection()
    tags.deletion = 20
    tags.elements = {"live": Cell(True, 21), "gone": Cell(None, 22), "ttl": Cell(True, 23, 2**33)}
    attributes = row.cells["attributes"] = Collection()
    when = normalized("v_timestamp", SCALARS["timestamp"])
    attributes.elements = {"at": Cell(when, 24, 1_800_000_000), "old": Cell(None, 25)}
    items = row.cells["items"] = Collection()
    items.elements = {
        (1, 1000): Cell(4, 26),
        (0, -1001): Cell(-(2**62), 27),
        (1, 1002): Cell(None, 28),
    }
    row.cells["empty"] = Collection()  # only a deletion left
    row.cells["empty"].deletion = 29
    unknown = {**TABLE.columns, "empty": column("empty", t("set", t("int")))}
    codec = RowCodec(Table("ks", "t", unknown, id=TABLE.id))
    assert described(codec.unpack(codec.pack(row))) == described(row)


@pytest.mark.parametrize("row", [Row(()), Row((3, "z"))], ids=["static", "clustering"])
def test_rows_with_nothing_or_only_a_static_cell_round_trip(row):
    assert described(round_trip(row)) == described(row)
    row.cells["st"] = Cell("static", 1)
    assert described(round_trip(row)) == described(row)


SESSION = api.SessionState("ks")
KEYSPACE = (
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
)


def run(engine, query):
    return engine.query(query, [], api.QueryOptions(), SESSION)


def rows(engine, query) -> list:
    return run(engine, query).rows


def test_rows_of_an_altered_table_read_back_and_a_dropped_column_stays_gone():
    engine = Engine()
    run(engine, KEYSPACE)
    run(engine, "CREATE TABLE t (k int, c int, a int, b set<int>, d text, PRIMARY KEY (k, c))")
    run(engine, "INSERT INTO t (k, c, a, b, d) VALUES (1, 1, 10, {1, 2}, 'x')")
    run(engine, "ALTER TABLE t ADD e int")
    run(engine, "UPDATE t SET e = 5 WHERE k = 1 AND c = 1")
    assert rows(engine, "SELECT a, b, d, e FROM t") == [[10, [1, 2], "x", 5]]
    run(engine, "ALTER TABLE t DROP a")  # the columns after it move up
    assert rows(engine, "SELECT b, d, e FROM t") == [[[1, 2], "x", 5]]
    run(engine, "ALTER TABLE t ADD a int")
    assert rows(engine, "SELECT a, b, d, e FROM t") == [[None, [1, 2], "x", 5]]
