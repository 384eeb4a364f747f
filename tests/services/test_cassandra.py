"""The services' driver sessions (services.common.cassandra) against localcql."""

import itertools
import logging
import threading
import time
import uuid

import eventlet
import pytest
from cassandra import ConsistencyLevel, OperationTimedOut
from cassandra.cluster import NoHostAvailable
from cassandra.io.eventletreactor import EventletConnection
from cassandra.protocol import OptionsMessage
from eventlet import hubs

from services.common import config, deadlines
from services.common.cassandra import (
    RECONNECT_MAX_DELAY,
    CassandraSettings,
    DeadlineSession,
    applied,
    multi_get,
)
from services.common.speedups.direct_writes import DirectWriteConnection

SHAPE = "SELECT keyspace_name, table_name FROM system_schema.tables LIMIT 2"


def test_results_of_one_shape_share_one_row_class(localcql_admin):
    first = localcql_admin.execute(SHAPE).one()
    second = localcql_admin.execute(SHAPE).one()
    assert type(first) is type(second)
    assert first.keyspace_name == first[0]


def test_results_share_one_class_per_collection_type(cql):
    cql.execute("INSERT INTO videos (videoid, tags) VALUES (%s, {'a', 'b'})", (uuid.uuid4(),))
    select = cql.prepare("SELECT tags FROM videos LIMIT 1")
    first, second = cql.execute(select), cql.execute(select)
    assert first.one().tags == {"a", "b"}
    assert first.column_types[0] is second.column_types[0]
    assert first.column_types[0].cql_parameterized_type() == "set<varchar>"


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
def direct_write_session(localcql):
    host, port = localcql
    settings = CassandraSettings.from_config(
        {**config.load()["CASSANDRA"], "contact_points": host, "port": port}
    )
    cluster, session = settings.connect(None, DirectWriteConnection)
    [pool] = session._pools.values()  # the session's one host
    yield session, pool._connection
    cluster.shutdown()


def record_writes(connection) -> list[bytes]:
    sent, sendall = [], connection._socket.sendall
    connection._socket.sendall = lambda data: sent.append(data) or sendall(data)
    return sent


def test_a_query_leaves_before_the_green_thread_making_it_yields(direct_write_session):
    session, connection = direct_write_session
    sent = record_writes(connection)
    future = session.execute_async(SHAPE)
    assert sent  # no yield since, so no other green thread can have written it
    assert len(future.result().all()) == 2


def test_a_request_the_connections_reader_makes_waits_for_its_writer(direct_write_session):
    session, connection = direct_write_session
    sent = record_writes(connection)
    written_by_the_reader, answered = [], threading.Event()

    def as_the_reader(_rows):  # as the driver re-prepares a statement while reading an answer
        assert eventlet.getcurrent() is connection._read_watcher
        writes = len(sent)
        with connection.lock:
            request_id = connection.get_request_id()
        connection.send_msg(OptionsMessage(), request_id, cb=lambda _: answered.set())
        written_by_the_reader.append(len(sent) > writes)

    future = session.execute_async(SHAPE)
    future.add_callback(as_the_reader)  # before any yield: the answer cannot have come yet
    future.result()
    assert answered.wait(10)
    assert written_by_the_reader == [False]


def test_a_connection_whose_write_fails_fails_its_requests_not_its_caller(direct_write_session):
    session, connection = direct_write_session

    def broken(data):
        raise BrokenPipeError("the server has gone")

    connection._socket.sendall = broken
    future = session.execute_async(SHAPE)  # raises nothing here
    with pytest.raises(NoHostAvailable, match="the server has gone"):
        future.result()  # which the services answer as BackendUnavailable
    assert connection.is_defunct


def test_a_request_the_server_never_answers_times_out_at_its_deadline(direct_write_session):
    session, connection = direct_write_session
    connection._socket.sendall = lambda data: None  # the request is lost on its way
    started = time.monotonic()
    with pytest.raises(OperationTimedOut):
        session.execute(SHAPE, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 5


def test_a_requests_deadline_does_not_wake_the_drivers_timer_thread(
    direct_write_session, monkeypatch
):
    session, _ = direct_write_session
    woken = []
    monkeypatch.setattr(EventletConnection._new_timer, "set", lambda: woken.append(True))
    session.execute(SHAPE)
    assert woken == []


def test_a_deadline_calls_back_in_a_green_thread_of_its_own_unless_cancelled():
    called_off, called_in, fired = [], [], threading.Event()
    DirectWriteConnection.create_timer(0.001, lambda: called_off.append(True)).cancel()

    def on_deadline():
        called_in.append(eventlet.getcurrent())
        fired.set()

    DirectWriteConnection.create_timer(0.02, on_deadline)  # due after the cancelled one
    assert fired.wait(5)
    assert called_off == []
    assert called_in[0] is not hubs.get_hub().greenlet  # free to wait on the request's locks


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


def test_a_requests_query_times_out_before_the_requests_deadline(direct_write_session):
    session, connection = direct_write_session
    connection._socket.sendall = lambda data: None  # the request is lost on its way
    timed = DeadlineSession(session, request_timeout=30)
    assert 0.4 * deadlines.QUERY_SHARE <= in_a_request(0.4, lambda: timed.execute(SHAPE)) < 0.4
    one_query = lambda: timed.execute_async(SHAPE).result()  # noqa: E731
    assert in_a_request(0.3, one_query) < 0.3
    # One past its deadline (the request ran long) gets the least, not nothing.
    assert deadlines.MIN_QUERY_TIMEOUT <= in_a_request(-1, one_query) < 1


def test_without_a_deadline_a_query_gets_the_request_timeout(direct_write_session):
    session, connection = direct_write_session
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
        cluster, _ = settings.connect(None, DirectWriteConnection)
        cluster.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_reconnection_attempts_are_never_more_than_seconds_apart_and_never_stop():
    cluster = CassandraSettings(contact_points=["127.0.0.1"]).build_cluster()
    delays = list(itertools.islice(cluster.reconnection_policy.new_schedule(), 1000))
    assert len(delays) == 1000
    assert max(delays) <= RECONNECT_MAX_DELAY
