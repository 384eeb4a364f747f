"""cqlsh (the PyPI package, as a user runs it) against localcql, in a subprocess."""

import subprocess
import sys
from pathlib import Path

import pytest

from localcql.testing import running_localcql

CQLSH = Path(sys.executable).with_name("cqlsh")

SCRIPT = """\
CREATE KEYSPACE demo WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};
USE demo;
CREATE TABLE users (id int PRIMARY KEY, name text, tags set<text>);
CREATE TABLE events (
    user int, at timestamp, kind text, note text static,
    PRIMARY KEY (user, at, kind)
) WITH CLUSTERING ORDER BY (at DESC, kind ASC) AND default_time_to_live = 60;
INSERT INTO users (id, name, tags) VALUES (1, 'Ada', {'math'});
INSERT INTO users (id, name) VALUES (2, 'Grace');
TRACING OFF;
PAGING OFF;
SELECT id, name, tags FROM users WHERE id = 1;
DESCRIBE KEYSPACES;
DESCRIBE TABLES;
"""


@pytest.fixture(scope="module")
def server():
    with running_localcql(in_memory=True) as address:
        yield address


def cqlsh(server, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    host, port = server
    return subprocess.run(
        [str(CQLSH), host, str(port), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def without_version_warning(out: str) -> str:
    """cqlsh 6.2 says it was built for Cassandra 5.0 when it meets any 4.x server, as it does
    with Apache Cassandra 4.0 itself; the rest is the command's output."""
    return "".join(
        line
        for line in out.splitlines(keepends=True)
        if not line.startswith("WARNING: cqlsh was built against")
    )


def run_file(server, tmp_path, text: str, name="script.cql") -> subprocess.CompletedProcess:
    script = tmp_path / name
    script.write_text(text)
    return cqlsh(server, "-f", str(script))


def test_a_script_runs_with_f(server, tmp_path):
    done = run_file(server, tmp_path, SCRIPT)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert " id | name | tags" in out
    assert "  1 |  Ada | {'math'}" in out
    assert "(1 rows)" in out
    assert "TRACING is already OFF" in out
    assert "PAGING set to OFF" in out
    assert "demo" in out and "system_schema" in out  # DESCRIBE KEYSPACES
    assert "events  users" in out  # DESCRIBE TABLES, in the current keyspace


def test_describe_output_re_executes_cleanly(server, tmp_path):
    # Runs after the script above made `demo` (module-scoped server).
    described = cqlsh(server, "-e", "DESCRIBE KEYSPACE demo")
    assert described.returncode == 0, described.stderr
    schema = without_version_warning(described.stdout)
    assert "CREATE KEYSPACE demo WITH replication" in schema
    assert "PRIMARY KEY (user, at, kind)" in schema
    assert "CLUSTERING ORDER BY (at DESC, kind ASC)" in schema
    assert "note text static" in schema
    assert "default_time_to_live = 60" in schema

    recreated = run_file(server, tmp_path, "DROP KEYSPACE demo;\n" + schema, "recreate.cql")
    assert recreated.returncode == 0, recreated.stderr
    assert "Error" not in recreated.stderr
    assert without_version_warning(cqlsh(server, "-e", "DESCRIBE KEYSPACE demo").stdout) == schema


def test_interactive_use_through_stdin(server):
    done = cqlsh(
        server,
        stdin="CREATE KEYSPACE IF NOT EXISTS chat WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1};\n"
        "USE chat;\nCREATE TABLE IF NOT EXISTS lines (id int PRIMARY KEY, text text);\n"
        "INSERT INTO lines (id, text) VALUES (7, 'hello');\n"
        "SELECT * FROM lines;\nDESC TABLE lines;\nexit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "  7 | hello" in done.stdout
    assert "CREATE TABLE chat.lines (" in done.stdout


def test_describing_what_does_not_exist_is_an_error(server):
    done = cqlsh(server, "-e", "DESCRIBE KEYSPACE nowhere")
    assert done.returncode != 0
    assert "'nowhere' not found in keyspaces" in done.stderr
