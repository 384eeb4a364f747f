"""cassandra-driver, unchanged, against ``python -m localcql`` with the real engine.

The test process is eventlet-monkey-patched (as nameko services are), so the driver runs on its
eventlet reactor here, as it does in the services.
"""

from __future__ import annotations

import logging
import time

import eventlet
import pytest
from cassandra import ProtocolVersion
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.io.eventletreactor import EventletConnection
from cassandra.query import BatchStatement, SimpleStatement

from localcql.testing import running_localcql

KEYSPACE = "driver_tests"


def wait_until(condition, what, timeout=15.0):
    """Polls ``condition`` until it is true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(0.05)


def make_cluster(address, **kwargs):
    host, port = address
    return Cluster([host], port=port, connection_class=EventletConnection, **kwargs)


@pytest.fixture(scope="module")
def server():
    with running_localcql(in_memory=True) as address:
        yield address


@pytest.fixture(scope="module")
def cluster(server):
    cluster = make_cluster(server)  # no protocol_version: the driver negotiates
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE {KEYSPACE} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.set_keyspace(KEYSPACE)
    session.execute("CREATE TABLE videos (id int PRIMARY KEY, name text, tags set<text>)")
    session.execute("CREATE TABLE numbers (bucket int, n int, PRIMARY KEY (bucket, n))")
    return session


def test_the_driver_settles_on_protocol_v4(cluster, session):
    assert cluster.protocol_version == ProtocolVersion.V4
    release = session.execute("SELECT release_version FROM system.local").one()
    assert release.release_version.startswith("4.")


def test_sync_execute_writes_and_reads(session):
    session.execute("INSERT INTO videos (id, name, tags) VALUES (1, 'cats', {'funny'})")

    row = session.execute("SELECT id, name, tags FROM videos WHERE id = 1").one()

    assert (row.id, row.name, row.tags) == (1, "cats", {"funny"})


def test_execute_async(session):
    insert = session.execute_async("INSERT INTO videos (id, name) VALUES (2, 'dogs')")
    insert.result()

    rows = session.execute_async("SELECT name FROM videos WHERE id = 2").result()

    assert [row.name for row in rows] == ["dogs"]


def test_prepared_statements_and_execute_concurrent(session):
    insert = session.prepare("INSERT INTO numbers (bucket, n) VALUES (?, ?)")
    results = execute_concurrent_with_args(session, insert, [(7, n) for n in range(100)])
    assert all(success for success, _ in results)

    select = session.prepare("SELECT n FROM numbers WHERE bucket = ?")
    assert [row.n for row in session.execute(select, [7])] == list(range(100))


def test_paging_with_fetch_size(session):
    insert = session.prepare("INSERT INTO numbers (bucket, n) VALUES (?, ?)")
    execute_concurrent_with_args(session, insert, [(8, n) for n in range(25)])

    query = SimpleStatement("SELECT n FROM numbers WHERE bucket = 8", fetch_size=10)
    result = session.execute(query)

    assert len(result.current_rows) == 10
    assert result.has_more_pages
    assert [row.n for row in result] == list(range(25))  # iterating fetches the other pages


def test_batch(session):
    insert = session.prepare("INSERT INTO videos (id, name) VALUES (?, ?)")
    batch = BatchStatement()
    batch.add(insert, (10, "ten"))
    batch.add("INSERT INTO videos (id, name) VALUES (11, 'eleven')")

    session.execute(batch)

    rows = session.execute("SELECT id, name FROM videos WHERE id IN (10, 11)")
    assert sorted((row.id, row.name) for row in rows) == [(10, "ten"), (11, "eleven")]


def test_schema_change_events_reach_the_drivers_metadata(server, cluster, session):
    other = make_cluster(server, schema_metadata_enabled=False)
    try:
        other.connect(KEYSPACE).execute("CREATE TABLE created_elsewhere (id int PRIMARY KEY)")
    finally:
        other.shutdown()

    # Only the SCHEMA_CHANGE event pushed to this cluster's control connection can tell it.
    wait_until(
        lambda: "created_elsewhere" in cluster.metadata.keyspaces[KEYSPACE].tables,
        "the table to appear in cluster.metadata",
    )
    columns = cluster.metadata.keyspaces[KEYSPACE].tables["created_elsewhere"].columns
    assert list(columns) == ["id"]


def test_an_unprepared_statement_is_reprepared_by_the_driver(caplog):
    cluster = None
    try:
        with running_localcql(in_memory=True) as address:
            cluster = make_cluster(address, reprepare_on_up=False)
            session = cluster.connect()
            select = session.prepare("SELECT cluster_name FROM system.local WHERE key = 'local'")
            expected = session.execute(select).one()
        # A restarted server has forgotten every prepared statement.
        with running_localcql(in_memory=True, port=address[1]):
            wait_until(lambda: _answers(session), "the driver to reconnect")
            with caplog.at_level(logging.DEBUG, logger="cassandra.cluster"):
                assert session.execute(select).one() == expected
    finally:
        if cluster is not None:
            cluster.shutdown()
    assert "Re-preparing unrecognized prepared statement" in caplog.text


def _answers(session) -> bool:
    try:
        session.execute("SELECT key FROM system.local")
        return True
    except NoHostAvailable:
        return False
