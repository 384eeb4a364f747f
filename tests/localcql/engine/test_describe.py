"""DESCRIBE in the engine: what cqlsh's output is built from (tests/localcql/cqlsh runs cqlsh)."""

import pytest

from localcql import api
from localcql.engine import Engine


def run(engine, query, keyspace=None):
    return engine.query(query, [], api.QueryOptions(), api.SessionState(keyspace))


@pytest.fixture
def engine():
    engine = Engine()
    for statement in (
        "CREATE KEYSPACE a WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE KEYSPACE b WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3} AND durable_writes = false",
        "CREATE TABLE a.t1 (k int PRIMARY KEY, v text)",
        "CREATE TABLE a.t2 (k int, c int, s int STATIC, PRIMARY KEY ((k), c))",
        "CREATE TABLE b.t3 (k int PRIMARY KEY)",
    ):
        run(engine, statement)
    return engine


def names(result) -> list[tuple]:
    return [tuple(row[:3]) for row in result.rows]


def test_tables_of_the_current_keyspace_or_of_every_keyspace(engine):
    assert names(run(engine, "DESCRIBE TABLES", "a")) == [
        ("a", "table", "t1"),
        ("a", "table", "t2"),
    ]
    every = names(run(engine, "DESC TABLES"))
    assert ("b", "table", "t3") in every and ("a", "table", "t1") in every
    assert [c.name for c in run(engine, "DESC TABLES").columns] == [
        "keyspace_name",
        "type",
        "name",
    ]


def test_a_keyspace_with_its_tables_in_order(engine):
    result = run(engine, "DESCRIBE KEYSPACE b")
    assert names(result) == [("b", "keyspace", "b"), ("b", "table", "t3")]
    create_keyspace = result.rows[0][3]
    assert "'class': 'NetworkTopologyStrategy', 'dc1': '3'" in create_keyspace
    assert "durable_writes = false" in create_keyspace


def test_a_bare_name_is_a_keyspace_first_then_a_table_of_the_current_keyspace(engine):
    assert names(run(engine, "DESCRIBE b", "a"))[0] == ("b", "keyspace", "b")
    assert names(run(engine, "DESCRIBE t2", "a")) == [("a", "table", "t2")]
    assert "s int static" in run(engine, "DESCRIBE t2", "a").rows[0][3]


def test_the_schema_leaves_out_system_keyspaces_unless_full(engine):
    keyspaces = {row[0] for row in run(engine, "DESCRIBE SCHEMA").rows}
    assert keyspaces == {"a", "b"}
    full = {row[0] for row in run(engine, "DESCRIBE FULL SCHEMA").rows}
    assert {"a", "b", "system", "system_schema"} <= full


def test_cluster(engine):
    [row] = run(engine, "DESCRIBE CLUSTER").rows
    assert row[1] == "org.apache.cassandra.dht.Murmur3Partitioner"


@pytest.mark.parametrize(
    ("query", "keyspace", "message"),
    [
        ("DESCRIBE KEYSPACE nowhere", None, "'nowhere' not found in keyspaces"),
        ("DESCRIBE TABLE a.nothing", None, "'nothing' not found in keyspace 'a'"),
        ("DESCRIBE TABLE t1", None, "No keyspace specified and no current keyspace"),
        ("DESCRIBE KEYSPACE", None, "No keyspace specified and no current keyspace"),
    ],
)
def test_what_does_not_exist_is_an_invalid_request(engine, query, keyspace, message):
    with pytest.raises(api.InvalidRequest, match=message):
        run(engine, query, keyspace)
