"""localcql with a data directory, through the real driver: what was acknowledged survives a
SIGKILL, a damaged log tail is set aside and reported, snapshots keep the data and drop the
log, the dead and the expired, and the schema survives too."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, NoHostAvailable

from localcql.commitlog import iter_records, packed_table
from localcql.testing import READY_PREFIX, running_localcql
from tests.waiting import wait_until

KEYSPACE = (
    "CREATE KEYSPACE IF NOT EXISTS k "
    "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
)
WRITERS = 4


@contextlib.contextmanager
def session(address):
    cluster = Cluster([address[0]], port=address[1])
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()


def start_server(data_dir: Path, *flags) -> tuple[subprocess.Popen, tuple[str, int], Path]:
    """A localcql process (so that it can be SIGKILLed), its address and its stderr file."""
    stderr = data_dir.parent / f"stderr-{uuid.uuid4().hex[:6]}.log"
    command = [sys.executable, "-m", "localcql", "--port", "0", "--data-dir", str(data_dir)]
    with open(stderr, "w") as errors:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*command, *flags], stdout=subprocess.PIPE, stderr=errors, text=True
        )
    ready = process.stdout.readline()
    assert ready.startswith(READY_PREFIX), stderr.read_text()
    host, port = ready[len(READY_PREFIX) :].split()[0].rsplit(":", 1)
    return process, (host, int(port)), stderr


def test_every_acknowledged_write_survives_a_sigkill(tmp_path):
    data_dir = tmp_path / "data"
    process, address, _ = start_server(data_dir)
    acknowledged = [[] for _ in range(WRITERS)]
    with session(address) as setup:
        setup.execute(KEYSPACE)
        setup.execute("CREATE TABLE k.writes (writer int, n int, PRIMARY KEY (writer, n))")

    def write(writer: int):
        try:
            with session(address) as client:
                insert = client.prepare("INSERT INTO k.writes (writer, n) VALUES (?, ?)")
                for n in range(100_000):
                    client.execute(insert, (writer, n))
                    acknowledged[writer].append(n)
        except Exception:
            return  # the server was killed: what was acknowledged is recorded

    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in writers:
        thread.start()
    wait_until(lambda: all(len(a) >= 200 for a in acknowledged), 60, "writes acknowledged")
    process.send_signal(signal.SIGKILL)
    process.wait()
    for thread in writers:
        thread.join(60)

    with running_localcql(in_memory=False, data_dir=data_dir) as restarted, session(restarted) as s:
        for writer, numbers in enumerate(acknowledged):
            stored = {
                row.n for row in s.execute("SELECT n FROM k.writes WHERE writer = %s", [writer])
            }
            assert set(numbers) <= stored, f"writer {writer} lost acknowledged writes"


def damaged_log(tmp_path, damage) -> tuple[Path, Path]:
    """Writes 10 rows, stops the server, damages the last segment's tail with `damage(path)`."""
    data_dir = tmp_path / "data"
    with running_localcql(in_memory=False, data_dir=data_dir) as address, session(address) as s:
        s.execute(KEYSPACE)
        s.execute("CREATE TABLE k.t (n int PRIMARY KEY)")
        for n in range(10):
            s.execute("INSERT INTO k.t (n) VALUES (%s)", [n])
    segment = max(data_dir.glob("commitlog-*.log"), key=lambda p: p.stat().st_size)
    damage(segment)
    return data_dir, segment


def truncate_last_bytes(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 3)


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate_last_bytes, flip_last_byte])
def test_a_damaged_last_record_is_set_aside_and_reported_and_the_server_starts(tmp_path, damage):
    data_dir, segment = damaged_log(tmp_path, damage)
    process, address, stderr = start_server(data_dir)
    try:
        with session(address) as s:
            rows = {row.n for row in s.execute("SELECT n FROM k.t")}
    finally:
        process.terminate()
        process.wait(30)
    assert rows == set(range(9)), "every record before the damaged one was replayed"
    assert "torn or corrupt record" in stderr.read_text()
    assert segment.with_suffix(".corrupt").stat().st_size > 0


def snapshot_records(data_dir: Path) -> list[dict | bytes]:
    [snapshot] = data_dir.glob("snapshot-*.log")
    return [record for record, _ in iter_records(snapshot.read_bytes())]


def test_snapshots_keep_the_data_delete_the_log_and_drop_the_dead_and_expired(tmp_path):
    data_dir = tmp_path / "data"
    # A threshold of 0 takes a snapshot after every write.
    flags = ["--snapshot-threshold-mb", "0"]
    process, address, _ = start_server(data_dir, *flags)
    try:
        with session(address) as s:
            s.execute(KEYSPACE)
            s.execute("CREATE TABLE k.kept (n int PRIMARY KEY, v text)")
            s.execute("CREATE TABLE k.gone (n int PRIMARY KEY, v text) WITH gc_grace_seconds = 0")
            for n in range(5):
                s.execute("INSERT INTO k.kept (n, v) VALUES (%s, %s)", [n, f"v{n}"])
            s.execute("INSERT INTO k.gone (n, v) VALUES (1, 'deleted')")
            s.execute("DELETE FROM k.gone WHERE n = 1")
            s.execute("INSERT INTO k.gone (n, v) VALUES (2, 'expiring') USING TTL 1")
            wait_until(
                lambda: s.execute("SELECT * FROM k.gone WHERE n = 2").one() is None,
                10,
                "the row's TTL expired",
            )
            s.execute("INSERT INTO k.kept (n, v) VALUES (5, 'v5')")  # one more snapshot
    finally:
        process.terminate()
        process.wait(30)
    # A start that replays a log past the threshold snapshots too: now surely after the expiry.
    process, _, _ = start_server(data_dir, *flags)
    process.terminate()
    process.wait(30)

    assert len(list(data_dir.glob("snapshot-*.log"))) == 1
    segments = list(data_dir.glob("commitlog-*.log"))
    assert len(segments) == 1, "the log the snapshot covers is deleted"
    records = snapshot_records(data_dir)
    with_data = {str(packed_table(r)) for r in records if isinstance(r, bytes)}
    table_ids = {
        r["table"]["name"]: r["table"]["id"]
        for r in records
        if isinstance(r, dict) and r.get("schema") == "create_table"
    }
    assert table_ids["kept"] in with_data
    assert table_ids["gone"] not in with_data, "the deleted and the expired rows left no trace"

    with running_localcql(in_memory=False, data_dir=data_dir) as address, session(address) as s:
        assert {(r.n, r.v) for r in s.execute("SELECT * FROM k.kept")} == {
            (n, f"v{n}") for n in range(6)
        }
        assert s.execute("SELECT * FROM k.gone").all() == []


def test_the_schema_survives_a_restart_with_and_without_a_snapshot(tmp_path):
    for threshold in ("64", "0"):
        data_dir = tmp_path / f"data-{threshold}"
        process, address, _ = start_server(data_dir, "--snapshot-threshold-mb", threshold)
        try:
            with session(address) as s:
                s.execute(KEYSPACE)
                s.execute(
                    "CREATE TABLE k.t (a int, b timestamp, c set<text>, d int, "
                    "PRIMARY KEY (a, b)) WITH CLUSTERING ORDER BY (b DESC) AND comment = 'hi'"
                )
                s.execute("ALTER TABLE k.t ADD e map<text, frozen<list<int>>>")
                s.execute("ALTER TABLE k.t DROP d")
                s.execute("CREATE INDEX tags ON k.t (c)")
                s.execute("CREATE INDEX ON k.t (keys(e))")
                s.execute("ALTER TABLE k.t RENAME a TO id")
                s.execute("CREATE TYPE k.address (street text, zip int)")
                s.execute("CREATE TABLE k.people (id int PRIMARY KEY, home frozen<address>)")
                s.execute("ALTER TYPE k.address ADD city text")
                s.execute("INSERT INTO k.people (id, home) VALUES (1, {street: 's', city: 'c'})")
                s.execute("INSERT INTO k.t (id, b, c) VALUES (1, '2020-01-01', {'x'})")
                s.execute("CREATE TABLE k.dropped (a int PRIMARY KEY)")
                s.execute("DROP TABLE k.dropped")
                described = describe(s)
        finally:
            process.terminate()
            process.wait(30)
        with running_localcql(in_memory=False, data_dir=data_dir) as address, session(address) as s:
            assert describe(s) == described
            assert "CREATE INDEX tags ON k.t (values(c));" in described
            assert "id int" in described
            assert s.execute("SELECT * FROM system_schema.tables WHERE keyspace_name = 'k'").all()
            tagged = s.execute("SELECT id FROM k.t WHERE c CONTAINS 'x'").all()
            assert [row.id for row in tagged] == [1]
            home = s.execute("SELECT home FROM k.people WHERE id = 1").one().home
            assert (home.street, home.zip, home.city) == ("s", None, "c")
            address = s.cluster.metadata.keyspaces["k"].user_types["address"]
            assert (address.field_names, address.field_types) == (
                ["street", "zip", "city"],
                ["text", "int", "text"],
            )
            indexes = s.cluster.metadata.keyspaces["k"].tables["t"].indexes
            assert {name: i.index_options["target"] for name, i in indexes.items()} == {
                "tags": "values(c)",
                "t_e_idx": "keys(e)",
            }


def describe(s) -> str:
    return "\n".join(row.create_statement for row in s.execute("DESCRIBE KEYSPACE k"))


def test_a_server_that_cannot_be_reached_is_not_mistaken_for_an_empty_one(tmp_path):
    # Guards the tests above: a session to a dead server fails instead of reading nothing.
    process, address, _ = start_server(tmp_path / "data")
    process.send_signal(signal.SIGKILL)
    process.wait()
    with pytest.raises(NoHostAvailable), session(address):
        pass
