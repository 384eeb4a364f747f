"""A read pipelined behind a durable write on one connection is answered while the write still
waits for the disk (localcql answers each request inline; only a write waiting for its fsync
gets a task of its own)."""

import os
import sys
from pathlib import Path

from cassandra.protocol import QueryMessage, ResultMessage

from localcql.testing import running_server
from tests.localcql.server.conftest import FrameClient

GATED_FSYNC = Path(__file__).with_name("gated_fsync.py")
ONE = 1


def query(text):
    return QueryMessage(text, ONE)


def test_a_read_behind_a_write_waiting_for_the_disk_is_answered_first(tmp_path):
    gate = tmp_path / "gate"
    command = [sys.executable, str(GATED_FSYNC), str(gate), "--port", "0"]
    with running_server([*command, "--data-dir", str(tmp_path / "data")]) as address:
        client = FrameClient(address).startup()
        for statement in (
            "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', "
            "'replication_factor': 1}",
            "CREATE TABLE k.t (id uuid PRIMARY KEY, v text)",
        ):
            assert isinstance(client.request(query(statement)), ResultMessage)
        os.mkfifo(gate)  # from now on, every fsync waits for the test

        client.send(query("INSERT INTO k.t (id, v) VALUES (uuid(), 'x')"), stream=1)
        client.send(query("SELECT v FROM k.t"), stream=2)

        assert client.receive().stream == 2  # the read, while the write's fsync waits
        with gate.open("wb") as opened:
            opened.write(b"!")
        gate.unlink()  # the fsyncs after it, the server's last at its stop among them, go on
        written = client.receive()
        assert written.stream == 1
        assert isinstance(written.decode(), ResultMessage)
