"""Snapshots in process: partitions written packed load back exactly, tombstones included,
without going through the write path; a snapshot in the older all-JSON format still loads."""

from __future__ import annotations

from localcql import api
from localcql.commitlog import Codec, CommitLog, frame, iter_records, snapshot_records
from localcql.engine import Engine
from localcql.storage import TableData

START = 1_700_000_000_000_000  # microseconds
SESSION = api.SessionState("ks")
WRITES = [
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
    "CREATE TABLE c (k int, c1 int, c2 text, v text, st int static, tags set<text>, "
    "m map<text, int>, l list<int>, f frozen<list<int>>, PRIMARY KEY (k, c1, c2)) "
    "WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC)",
    "CREATE TABLE n (k int PRIMARY KEY, hits counter)",
    "INSERT INTO c (k, c1, c2, v, tags, m, l, f) "
    "VALUES (1, 1, 'a', 'x', {'p', 'q'}, {'a': 1}, [1, 2], [3])",
    "UPDATE c SET tags = tags - {'p'}, l = l + [5] WHERE k = 1 AND c1 = 1 AND c2 = 'a'",
    "INSERT INTO c (k, c1, c2, v) VALUES (1, 1, 'b', 'expiring') USING TTL 1000",
    "UPDATE c SET st = 7 WHERE k = 1",
    "INSERT INTO c (k, c1, c2, v) VALUES (1, 2, 'a', 'z')",
    "DELETE FROM c WHERE k = 1 AND c1 = 2",  # a range tombstone
    "DELETE v FROM c WHERE k = 1 AND c1 = 3 AND c2 = 'a'",  # a cell tombstone
    "INSERT INTO c (k, c1, c2, v) VALUES (2, 1, 'a', 'w')",
    "DELETE FROM c WHERE k = 2",  # a partition tombstone
    "INSERT INTO c (k, c1, c2, v) VALUES (2, 1, 'b', 'after')",
    "UPDATE n SET hits = hits + 3 WHERE k = 1",
]
# Written after the restart: the loaded tombstones must still shadow the old writes, and the
# loaded rows must reconcile with the new ones.
LATER = [
    "INSERT INTO c (k, c1, c2, v) VALUES (2, 1, 'a', 'old') USING TIMESTAMP 1",
    "INSERT INTO c (k, c1, c2, v) VALUES (1, 2, 'b', 'old') USING TIMESTAMP 1",
    "UPDATE c SET v = 'new', tags = tags + {'r'} WHERE k = 1 AND c1 = 1 AND c2 = 'a'",
    "UPDATE n SET hits = hits + 1 WHERE k = 1",
]
QUERIES = [
    "SELECT * FROM c",
    "SELECT k, c1, c2, writetime(v), ttl(v) FROM c",
    "SELECT k, c1, c2 FROM c WHERE k = 1 AND c1 >= 1 ORDER BY c1 DESC",
    "SELECT DISTINCT k, st FROM c",
    "SELECT * FROM n",
]


class Clock:
    """Microseconds that move on with every call, so that each write is newer than the last."""

    def __init__(self):
        self.now = START

    def __call__(self):
        self.now += 1
        return self.now


def run(engine, query):
    return engine.query(query, [], api.QueryOptions(), SESSION)


def answers(engine) -> list:
    for query in LATER:
        run(engine, query)
    return [run(engine, query).rows for query in QUERIES]


def written(log_dir=None) -> Engine:
    """An engine that ran WRITES, logging them to ``log_dir`` if given."""
    engine = Engine(clock=Clock())
    log = None if log_dir is None else CommitLog(log_dir)
    if log is not None:
        log.open(engine.store)
    for query in WRITES:
        run(engine, query)
    if log is not None:
        log.close()
        engine.store.log = None
    return engine


def restarted(data_dir, clock_now: int) -> Engine:
    engine = Engine(clock=Clock())
    engine.clock.now = clock_now
    CommitLog(data_dir).open(engine.store)
    return engine


def test_a_packed_snapshot_loads_every_partition_as_it_was_without_the_write_path(
    tmp_path, monkeypatch
):
    original = written()
    now_seconds = original.clock.now // 10**6
    records = list(snapshot_records(original.store, Codec(original.store), now_seconds))
    assert all(isinstance(r, dict) and "schema" in r for r in records if not isinstance(r, bytes))
    assert sum(isinstance(r, bytes) for r in records) == 2  # one packed record per table
    (tmp_path / "snapshot-0.log").write_bytes(b"".join(frame(r) for r in records))

    def refuse(self, mutation):
        raise AssertionError("a snapshot's partitions went through the write path")

    with monkeypatch.context() as patched:
        patched.setattr(TableData, "apply", refuse)
        loaded = restarted(tmp_path, original.clock.now)

    assert answers(loaded) == answers(original)


def test_a_snapshot_of_json_records_from_an_older_version_still_loads(tmp_path):
    original = written(tmp_path / "log")
    # The older snapshots held the same JSON records as the log: a segment stands in for one.
    segment = tmp_path / "log" / "commitlog-0.log"
    assert all(isinstance(r, dict) for r, _ in iter_records(segment.read_bytes()))
    (tmp_path / "data").mkdir()
    segment.rename(tmp_path / "data" / "snapshot-0.log")

    loaded = restarted(tmp_path / "data", original.clock.now)

    assert answers(loaded) == answers(original)
