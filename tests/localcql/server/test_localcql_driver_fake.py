"""cassandra-driver's Cluster and Session against the server, serving the fake engine: the
protocol as the driver uses it, independently of the real engine (see the _engine twin for CQL)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import eventlet
import pytest
from cassandra import AlreadyExists, ProtocolVersion
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.io.eventletreactor import EventletConnection
from cassandra.protocol import ServerError
from cassandra.query import SimpleStatement

from localcql.testing import running_server

FAKE_ENGINE = Path(__file__).with_name("fake_engine.py")


def fake_server_command(port=0):
    return [sys.executable, str(FAKE_ENGINE), "--port", str(port), "--in-memory"]


def make_cluster(address, **kwargs):
    host, port = address
    return Cluster(
        [host],
        port=port,
        connection_class=EventletConnection,
        schema_metadata_enabled=False,  # the fake engine has no system_schema
        token_metadata_enabled=False,
        **kwargs,
    )


def wait_until(condition, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        eventlet.sleep(0.05)


def received(result):
    return json.loads(result.one()[0])


@pytest.fixture(scope="module")
def cluster(fake_server):
    cluster = make_cluster(fake_server)  # no protocol_version: the driver negotiates
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    return cluster.connect()


def test_cluster_settles_on_protocol_v4(cluster, session):
    assert cluster.protocol_version == ProtocolVersion.V4
    assert cluster.metadata.cluster_name == "Fake Cluster"


def test_protocol_v3_when_the_client_asks_for_it(fake_server):
    cluster = make_cluster(fake_server, protocol_version=ProtocolVersion.V3)
    try:
        session = cluster.connect()
        prepared = session.prepare("ECHO ?")
        assert received(session.execute(prepared, [3]))["values"] == ["00000003"]
        assert cluster.protocol_version == ProtocolVersion.V3
    finally:
        cluster.shutdown()


def test_execute_and_execute_async(session):
    assert received(session.execute("ECHO"))["values"] == []
    futures = [session.execute_async(f"ECHO {n}") for n in range(20)]
    assert all(received(future.result())["values"] == [] for future in futures)


def test_prepared_statements_with_execute_concurrent(session):
    prepared = session.prepare("ECHO ?")

    results = execute_concurrent_with_args(session, prepared, [(n,) for n in range(300)])

    values = [received(result)["values"] for _, result in results]
    assert values == [[n.to_bytes(4, "big").hex()] for n in range(300)]


def test_paging_with_fetch_size(session):
    result = session.execute(SimpleStatement("NUMBERS", fetch_size=3))

    assert [row[0] for row in result.current_rows] == [0, 1, 2]
    assert [row[0] for row in result] == list(range(10))


def test_server_errors_become_the_drivers_exceptions(session):
    with pytest.raises(AlreadyExists) as exists:
        session.execute("FAIL exists")
    assert (exists.value.keyspace, exists.value.table) == ("ks", "t")

    # The driver treats a server error as the host's failure and gives up on it, as with Cassandra.
    with pytest.raises(NoHostAvailable) as crash:
        session.execute("FAIL crash")
    [error] = crash.value.errors.values()
    assert isinstance(error, ServerError)
    assert "ZeroDivisionError: the fake engine crashed" in error.message


def test_set_keyspace_applies_to_the_session(fake_server):
    cluster = make_cluster(fake_server)
    try:
        session = cluster.connect("videos")
        assert received(session.execute("ECHO"))["keyspace"] == "videos"
    finally:
        cluster.shutdown()


def test_an_unprepared_statement_is_reprepared_by_the_driver(caplog):
    cluster = None
    try:
        with running_server(fake_server_command()) as address:
            cluster = make_cluster(address, reprepare_on_up=False)
            session = cluster.connect()
            prepared = session.prepare("ECHO ?")
            assert received(session.execute(prepared, [1]))["values"] == ["00000001"]
        # A restarted server has forgotten every prepared statement.
        with running_server(fake_server_command(port=address[1])):
            wait_until(lambda: _answers(session), "the driver to reconnect")
            with caplog.at_level(logging.DEBUG, logger="cassandra.cluster"):
                assert received(session.execute(prepared, [2]))["values"] == ["00000002"]
    finally:
        if cluster is not None:
            cluster.shutdown()
    assert "Re-preparing unrecognized prepared statement" in caplog.text


def _answers(session) -> bool:
    try:
        session.execute("ECHO")
        return True
    except NoHostAvailable:
        return False
