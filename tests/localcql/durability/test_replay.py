"""Replaying a commit log in process: the rebuilt store is data the cyclic collector leaves be."""

import gc
import struct

import pytest

from localcql import api
from localcql.commitlog import CommitLog
from localcql.engine import Engine

ROWS = 200


SESSION = api.SessionState("ks")
KEYSPACE = (
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
)


def run(engine, query, values=()):
    return engine.execute(engine.prepare(query, SESSION), list(values), api.QueryOptions(), SESSION)


@pytest.fixture
def unfrozen():
    """The test process's collector as it was: a replay freezes every object it holds."""
    yield
    gc.unfreeze()


def test_a_replay_leaves_its_rows_frozen_out_of_the_collectors_reach(tmp_path, unfrozen):
    writer = Engine()
    log = CommitLog(tmp_path)
    log.open(writer.store)
    run(writer, KEYSPACE)
    run(writer, "CREATE TABLE t (id int PRIMARY KEY, tags set<text>)")
    for n in range(ROWS):
        run(writer, "INSERT INTO t (id, tags) VALUES (?, {'a', 'b'})", [struct.pack(">i", n)])
    log.close()
    gc.unfreeze()

    reader = Engine()
    CommitLog(tmp_path).open(reader.store)

    assert run(reader, "SELECT count(*) FROM t").rows == [[ROWS]]
    assert gc.isenabled()
    assert gc.get_freeze_count() > ROWS * 3  # each row is a handful of objects
