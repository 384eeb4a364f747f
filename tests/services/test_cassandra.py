"""The services' driver sessions (services.common.cassandra) against localcql."""

import itertools
import logging
import time
import uuid

import eventlet
import pytest
from cassandra import ConsistencyLevel, OperationTimedOut
from cassandra.io.eventletreactor import EventletConnection

from services.common import config, deadlines
from services.common.cassandra import (
    RECONNECT_MAX_DELAY,
    CassandraSettings,
    DeadlineSession,
    applied,
    multi_get,
)

SHAPE = "SELECT keyspace_name, table_name FROM system_schema.tables LIMIT 2"


def test_results_of_one_shape_share_one_row_class(localcql_admin):
    first = localcql_admin.execute(SHAPE).one()
    second = localcql_admin.execute(SHAPE).one()
    assert type(first) is type(second)
    assert first.keyspace_name == first[0]


def test_a_column_name_that_is_no_identifier_becomes_positional(localcql_admin):
    row = localcql_admin.execute(
        'SELECT keyspace_name AS "keyspace name" FROM system_schema.keyspaces LIMIT 1'
    ).one()
    assert row._0 == row[0]


def test_applied_tells_whether_a_lightweight_transaction_took_effect(cql):
    insert = cql.prepare(
        "INSERT INTO user_credentials (email, password, userid) VALUES (?, ?, ?) IF NOT EXISTS"
    )
    assert applied(cql.execute(insert, ("a@example.com", "hash", uuid.uuid4())))
    refused = cql.execute(insert, ("a@example.com", "other", uuid.uuid4()))
    assert not applied(refused)
    assert refused.one().password == "hash"


def test_multi_get_answers_in_the_order_asked_leaving_out_missing_keys(cql):
    ids = [uuid.uuid4() for _ in range(6)]
    insert = cql.prepare("INSERT INTO users (userid, firstname) VALUES (?, ?)")
    for number, user_id in enumerate(ids[:5]):
        cql.execute(insert, (user_id, f"user {number}"))
    select = cql.prepare("SELECT userid, firstname FROM users WHERE userid IN ?")
    # Cassandra answers an IN in token order, not in the order of its list.
    asked = [ids[3], ids[5], ids[0], ids[4], ids[1], ids[3]]
    rows = multi_get(cql, select, asked, lambda row: row.userid)
    assert [row.firstname for row in rows] == ["user 3", "user 0", "user 4", "user 1", "user 3"]


@pytest.fixture
def driver_session(localcql):
    host, port = localcql
    settings = CassandraSettings.from_config(
        {**config.load()["CASSANDRA"], "contact_points": host, "port": port}
    )
    cluster, session = settings.connect(None, EventletConnection)
    [pool] = session._pools.values()  # the session's one host
    yield session, pool._connection
    cluster.shutdown()


def test_a_request_the_server_never_answers_times_out_at_its_deadline(driver_session):
    session, connection = driver_session
    connection._socket.sendall = lambda data: None  # the request is lost on its way
    started = time.monotonic()
    with pytest.raises(OperationTimedOut):
        session.execute(SHAPE, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 5


def in_a_request(seconds_left: float, query) -> float:
    """Runs `query()` in a green thread of its own, as a worker whose request has `seconds_left`
    before its deadline; the seconds it took."""

    def run():
        deadlines.enter(deadlines.within(seconds_left))
        started = time.monotonic()
        with pytest.raises(OperationTimedOut):
            query()
        return time.monotonic() - started

    return eventlet.spawn(run).wait()


def test_a_requests_query_times_out_before_the_requests_deadline(driver_session):
    session, connection = driver_session
    connection._socket.sendall = lambda data: None  # the request is lost on its way
    timed = DeadlineSession(session, request_timeout=30)
    assert 0.4 * deadlines.QUERY_SHARE <= in_a_request(0.4, lambda: timed.execute(SHAPE)) < 0.4
    one_query = lambda: timed.execute_async(SHAPE).result()  # noqa: E731
    assert in_a_request(0.3, one_query) < 0.3
    # One past its deadline (the request ran long) gets the least, not nothing.
    assert deadlines.MIN_QUERY_TIMEOUT <= in_a_request(-1, one_query) < 1


def test_without_a_deadline_a_query_gets_the_request_timeout(driver_session):
    session, connection = driver_session
    connection._socket.sendall = lambda data: None
    started = time.monotonic()
    with pytest.raises(OperationTimedOut):
        DeadlineSession(session, request_timeout=0.3).execute(SHAPE)
    assert 0.3 <= time.monotonic() - started < 5


@pytest.mark.parametrize("serial", [None, "SERIAL"])
def test_lightweight_transactions_run_at_the_configured_serial_consistency(
    cassandra_config, serial
):
    overrides = {} if serial is None else {"serial_consistency": serial}
    settings = CassandraSettings.from_config({**cassandra_config, **overrides})
    cluster, session = settings.connect(settings.keyspace)
    try:
        insert = session.prepare(
            "INSERT INTO user_credentials (email, password, userid) VALUES (?, ?, ?) IF NOT EXISTS"
        )
        future = session.execute_async(insert, ("lwt@example.com", "hash", uuid.uuid4()))
        assert applied(future.result())
        expected = serial or "LOCAL_SERIAL"  # config.yaml's default
        assert future.message.serial_consistency_level == ConsistencyLevel.name_to_value[expected]
    finally:
        cluster.shutdown()


def test_a_serial_consistency_that_is_not_serial_is_refused():
    with pytest.raises(ValueError, match="serial_consistency is 'QUORUM'"):
        CassandraSettings(contact_points=["127.0.0.1"], serial_consistency="QUORUM")


def test_connecting_to_localcql_with_the_default_config_logs_no_protocol_downgrade(
    localcql, caplog
):
    host, port = localcql
    settings = CassandraSettings.from_config(
        {**config.load()["CASSANDRA"], "contact_points": host, "port": port}
    )
    assert settings.protocol_version == 4
    with caplog.at_level(logging.WARNING, "cassandra"):
        cluster, _ = settings.connect(None, EventletConnection)
        cluster.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_reconnection_attempts_are_never_more_than_seconds_apart_and_never_stop():
    cluster = CassandraSettings(contact_points=["127.0.0.1"]).build_cluster()
    delays = list(itertools.islice(cluster.reconnection_policy.new_schedule(), 1000))
    assert len(delays) == 1000
    assert max(delays) <= RECONNECT_MAX_DELAY
