"""Engine behaviour the conformance corpus cannot show: clocks, paging states, caching, events."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from cassandra.cqltypes import Int32Type, UTF8Type

from localcql import api
from localcql.cql import parser
from localcql.engine import Engine
from localcql.storage import CellWrite, Mutation, RowUpdate

START = 1_700_000_000_000_000  # microseconds


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now

    def advance(self, seconds: float):
        self.now += int(seconds * 1_000_000)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine(clock):
    engine = Engine(clock=clock)
    run(
        engine,
        "CREATE KEYSPACE ks WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    )
    return engine


SESSION = api.SessionState("ks")


def run(engine, query, page_size=None, paging_state=None, session=None):
    options = api.QueryOptions(page_size=page_size, paging_state=paging_state)
    return engine.query(query, [], options, session or api.SessionState("ks"))


def rows(engine, query):
    return run(engine, query).rows


def pages(engine, query, page_size):
    result, state, collected = None, None, []
    while True:
        result = run(engine, query, page_size=page_size, paging_state=state)
        collected.append(result.rows)
        state = result.paging_state
        if state is None:
            return collected
        assert len(collected) < 50


# --------------------------------------------------------------------------- TTL and time
def test_ttl_expires_cells_and_rows_with_the_clock(engine, clock):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY, a int, b int)")
    run(engine, "INSERT INTO t (k, a) VALUES (1, 1) USING TTL 10")
    run(engine, "UPDATE t USING TTL 100 SET b = 2 WHERE k = 1")
    clock.advance(4)
    assert rows(engine, "SELECT a, ttl(a), b, ttl(b) FROM t WHERE k = 1") == [[1, 6, 2, 96]]
    clock.advance(6)
    assert rows(engine, "SELECT a, b FROM t WHERE k = 1") == [[None, 2]]
    clock.advance(90)
    assert rows(engine, "SELECT * FROM t") == []


def test_table_default_ttl_expires_rows(engine, clock):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY, v int) WITH default_time_to_live = 5")
    run(engine, "INSERT INTO t (k, v) VALUES (1, 1)")
    clock.advance(5)
    assert rows(engine, "SELECT * FROM t") == []


def test_expired_cell_still_shadows_older_writes(engine, clock):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY, v int)")
    run(engine, "INSERT INTO t (k, v) VALUES (1, 2) USING TIMESTAMP 2000 AND TTL 1")
    clock.advance(2)
    run(engine, "INSERT INTO t (k, v) VALUES (1, 1) USING TIMESTAMP 1000")
    assert rows(engine, "SELECT v FROM t WHERE k = 1") == []


def test_writetime_defaults_to_the_engine_clock(engine):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY, v int)")
    run(engine, "INSERT INTO t (k, v) VALUES (1, 1)")
    assert rows(engine, "SELECT writetime(v) FROM t") == [[START]]


# --------------------------------------------------------------------------- paging
@pytest.fixture
def clustered(engine):
    run(
        engine,
        "CREATE TABLE t (k int, a int, b int, PRIMARY KEY (k, a, b)) "
        "WITH CLUSTERING ORDER BY (a DESC, b ASC)",
    )
    for k in (1, 2, 5):
        for a in range(3):
            for b in range(2):
                run(engine, f"INSERT INTO t (k, a, b) VALUES ({k}, {a}, {b})")  # noqa: S608
    return engine


def test_paging_inside_one_partition(clustered):
    query = "SELECT a, b FROM t WHERE k = 1"
    got = pages(clustered, query, 4)
    assert [len(p) for p in got] == [4, 2]
    assert [r for p in got for r in p] == rows(clustered, query)


def test_paging_across_partitions_in_token_order(clustered):
    got = pages(clustered, "SELECT k, a, b FROM t", 5)
    flat = [r for p in got for r in p]
    assert flat == rows(clustered, "SELECT k, a, b FROM t")
    assert [r[0] for r in flat[::6]] == [5, 1, 2]
    assert [len(p) for p in got] == [5, 5, 5, 3]


def test_paging_across_in_list_with_tuple_slice(clustered):
    query = "SELECT k, a, b FROM t WHERE k IN (5, 1, 2) AND (a, b) <= (1, 0)"
    unpaged = run(clustered, query).rows
    assert [r[0] for r in unpaged] == [1] * 3 + [2] * 3 + [5] * 3
    for page_size in (1, 2, 4):
        assert [r for p in pages(clustered, query, page_size) for r in p] == unpaged


def test_paging_reversed_with_tuple_slice(clustered):
    query = "SELECT a, b FROM t WHERE k = 2 AND (a, b) <= (1, 0) ORDER BY a ASC, b DESC"
    assert [r for p in pages(clustered, query, 1) for r in p] == [[0, 1], [0, 0], [1, 0]]


def test_paging_with_limit_and_exact_last_page(clustered):
    """A page that reaches the LIMIT is the last; a full page that merely ends the partition is
    not known to be, as in Cassandra: an empty page follows it."""
    got = pages(clustered, "SELECT a, b FROM t WHERE k = 1 LIMIT 4", 2)
    assert [len(p) for p in got] == [2, 2]
    assert [len(p) for p in pages(clustered, "SELECT a, b FROM t WHERE k = 1", 6)] == [6, 0]


@pytest.mark.parametrize("state", [b"", b"garbage", b"LQP1" + b"\0" * 40])
def test_garbage_paging_state_is_a_protocol_error(clustered, state):
    with pytest.raises(api.ProtocolError):
        run(clustered, "SELECT a FROM t WHERE k = 1", page_size=2, paging_state=state or b"x")


def test_paging_state_of_another_query_is_refused(clustered):
    state = run(clustered, "SELECT a FROM t WHERE k = 1", page_size=2).paging_state
    with pytest.raises(api.ProtocolError):
        run(clustered, "SELECT b FROM t WHERE k = 1", page_size=2, paging_state=state)


# --------------------------------------------------------------------------- prepared statements
def test_execute_does_not_parse_again(engine, monkeypatch):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY, v text)")
    prepared = engine.prepare("INSERT INTO t (k, v) VALUES (?, ?)", SESSION)
    assert (
        prepared.id
        == hashlib.md5(b"ksINSERT INTO t (k, v) VALUES (?, ?)", usedforsecurity=False).digest()
    )
    assert [(c.name, c.cql_type) for c in prepared.bind_columns] == [
        ("k", Int32Type),
        ("v", UTF8Type),
    ]
    assert prepared.pk_indexes == [0]

    def no_parsing(query):
        raise AssertionError("parsed at execute")

    monkeypatch.setattr(parser, "parse", no_parsing)
    monkeypatch.setattr("localcql.engine.parse", no_parsing)
    engine.execute(prepared, [Int32Type.serialize(1, 4), b"one"], api.QueryOptions(), SESSION)
    assert engine.get_prepared(prepared.id) is prepared
    monkeypatch.undo()
    assert rows(engine, "SELECT v FROM t WHERE k = 1") == [["one"]]


def test_prepared_statement_survives_alter_table(engine):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY, v text)")
    prepared = engine.prepare("SELECT * FROM t", SESSION)
    run(engine, "ALTER TABLE t ADD w int")
    run(engine, "INSERT INTO t (k, v, w) VALUES (1, 'a', 2)")
    result = engine.execute(prepared, [], api.QueryOptions(), SESSION)
    assert [c.name for c in result.columns] == ["k", "v", "w"]
    assert result.rows == [[1, "a", 2]]


def test_unknown_statement_id_is_unprepared(engine):
    with pytest.raises(api.Unprepared) as error:
        engine.get_prepared(b"\x01" * 16)
    assert error.value.code == 0x2500
    assert error.value.statement_id == b"\x01" * 16


def test_bad_bound_value_is_invalid(engine):
    run(engine, "CREATE TABLE t (k int PRIMARY KEY)")
    prepared = engine.prepare("SELECT * FROM t WHERE k = ?", SESSION)
    with pytest.raises(api.InvalidRequest):
        engine.execute(prepared, [b"\x00"], api.QueryOptions(), SESSION)
    with pytest.raises(api.InvalidRequest, match="markers"):
        engine.execute(prepared, [], api.QueryOptions(), SESSION)


# --------------------------------------------------------------------------- schema and system
def test_schema_listener_and_schema_version(engine):
    events = []
    engine.add_schema_listener(events.append)
    before = rows(engine, "SELECT schema_version FROM system.local WHERE key = 'local'")
    run(engine, "CREATE TABLE t (k int PRIMARY KEY)")
    run(engine, "ALTER TABLE t ADD v int")
    run(engine, "DROP TABLE t")
    after = rows(engine, "SELECT schema_version FROM system.local WHERE key = 'local'")
    assert [(e.change_type, e.target, e.keyspace, e.name) for e in events] == [
        ("CREATED", "TABLE", "ks", "t"),
        ("UPDATED", "TABLE", "ks", "t"),
        ("DROPPED", "TABLE", "ks", "t"),
    ]
    assert before != after and isinstance(after[0][0], uuid.UUID)


def test_system_local_describes_the_node(engine):
    result = run(engine, "SELECT * FROM system.local WHERE key = 'local'")
    row = dict(zip([c.name for c in result.columns], result.rows[0], strict=True))
    assert row["cluster_name"] == "localcql"
    assert row["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert row["release_version"] == "4.0.11"
    assert row["tokens"] == ["0"]
    assert rows(engine, "SELECT * FROM system.peers") == []
    assert rows(engine, "SELECT * FROM system.peers_v2") == []


def test_system_keyspaces_are_listed_and_read_only(engine):
    names = {r[0] for r in rows(engine, "SELECT keyspace_name FROM system_schema.keyspaces")}
    assert {
        "system",
        "system_schema",
        "system_auth",
        "system_distributed",
        "system_traces",
        "ks",
    } <= names
    with pytest.raises(api.Unauthorized):
        run(engine, "INSERT INTO system.local (key) VALUES ('x')")
    with pytest.raises(api.Unauthorized):
        run(engine, "DROP KEYSPACE system")


def test_virtual_schema_tables_are_unconfigured_so_drivers_fall_back(engine):
    with pytest.raises(api.InvalidRequest):
        run(engine, "SELECT * FROM system_virtual_schema.keyspaces")


# --------------------------------------------------------------------------- errors
def test_syntax_error_has_position(engine):
    with pytest.raises(api.CqlSyntaxError) as error:
        run(engine, "SELECT * FORM t")
    assert error.value.code == 0x2000
    assert error.value.message.startswith("line 1:10 ")


def test_unsupported_statement_says_so(engine):
    with pytest.raises(api.InvalidRequest, match="localcql does not support materialized views"):
        run(engine, "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t PRIMARY KEY (k)")


def test_comments_dollar_strings_and_quoted_names(engine):
    run(engine, 'CREATE TABLE "Mixed" ("Key" int PRIMARY KEY, v text) -- trailing comment')
    run(engine, 'INSERT INTO "Mixed" ("Key", v) /* inline */ VALUES (1, $$it\'s$$);')
    run(engine, "INSERT INTO \"Mixed\" (\"Key\", v) VALUES (2, 'it''s') // another")
    assert rows(engine, 'SELECT v FROM "Mixed" WHERE "Key" IN (1, 2)') == [["it's"], ["it's"]]


# --------------------------------------------------------------------------- storage
def test_mutations_are_plain_data_applied_through_the_store(engine):
    run(engine, "CREATE TABLE t (k int, c int, v text, PRIMARY KEY (k, c))")
    table = engine.store.schema.table("ks", "t")
    engine.store.apply(
        Mutation(
            table.id,
            (1,),
            rows=[RowUpdate((2,), marker=(10, None), cells=[CellWrite("v", "x", 10)])],
        )
    )
    engine.store.apply(
        Mutation(table.id, (1,), rows=[RowUpdate((2,), cells=[CellWrite("v", "old", 5)])])
    )
    assert rows(engine, "SELECT k, c, v, writetime(v) FROM t") == [[1, 2, "x", 10]]


def test_a_partition_has_no_static_row_until_a_static_write(engine):
    run(engine, "CREATE TABLE s (k int, c int, v int, st int static, PRIMARY KEY (k, c))")
    run(engine, "INSERT INTO s (k, c, v) VALUES (1, 1, 1)")
    data = engine.store.data(engine.store.schema.table("ks", "s"))
    assert data.partition((1,)).static is None
    assert rows(engine, "SELECT k, c, st FROM s") == [[1, 1, None]]
    run(engine, "UPDATE s SET st = 7 WHERE k = 1")
    assert data.partition((1,)).static is not None
    assert rows(engine, "SELECT k, c, st FROM s") == [[1, 1, 7]]


# --------------------------------------------------------------------------- secondary indexes
def test_an_index_query_stays_current_through_writes_deletes_and_expiry(engine, clock):
    """The index is built at the first query, then kept by every write; what it holds is only a
    candidate set, so rows updated away, deleted or expired are not returned."""
    run(engine, "CREATE TABLE t (k int, c int, v text, tags set<text>, PRIMARY KEY (k, c))")
    run(engine, "CREATE INDEX ON t (v)")
    run(engine, "CREATE INDEX ON t (tags)")
    for k in range(20):
        run(engine, f"INSERT INTO t (k, c, v, tags) VALUES ({k}, 0, 'v{k % 4}', {{'t{k % 3}'}})")  # noqa: S608

    def keys(where):
        return sorted(r[0] for r in rows(engine, f"SELECT k FROM t WHERE {where}"))  # noqa: S608

    assert keys("v = 'v1'") == [1, 5, 9, 13, 17]
    clock.advance(1)  # later writes win over the inserts (on a tie the greater value would)
    run(engine, "UPDATE t SET v = 'v1' WHERE k = 2 AND c = 0")
    run(engine, "UPDATE t SET v = 'other' WHERE k = 5 AND c = 0")
    run(engine, "DELETE FROM t WHERE k = 9")
    run(engine, "INSERT INTO t (k, c, v) VALUES (100, 1, 'v1') USING TTL 10")
    run(engine, "UPDATE t SET tags = tags + {'new'} WHERE k = 3 AND c = 0")
    assert keys("v = 'v1'") == [1, 2, 13, 17, 100]
    assert keys("tags CONTAINS 'new'") == [3]
    clock.advance(11)
    assert keys("v = 'v1'") == [1, 2, 13, 17]
    run(engine, "TRUNCATE t")
    assert keys("v = 'v1'") == []
