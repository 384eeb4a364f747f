"""What an operator can see of a running localcql: connections in the debug log, slow requests
logged with their statement, and counters readable with CQL."""

import subprocess
import sys

import pytest
from cassandra import InvalidRequest
from cassandra.cluster import Cluster

from localcql.testing import READY_PREFIX


def test_counters_logs_and_slow_requests(tmp_path):
    stderr_path = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "localcql", "--port", "0", "--in-memory"]
    command += ["--slow-request-ms", "0", "--log-level", "DEBUG"]  # every request is "slow"
    with open(stderr_path, "w") as stderr:
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        ready = server.stdout.readline()
        host, port = ready[len(READY_PREFIX) :].split()[0].rsplit(":", 1)
        cluster = Cluster([host], port=int(port))
        session = cluster.connect()
        before = read_metrics(session)
        with pytest.raises(InvalidRequest):
            session.execute("SELECT * FROM nowhere.nothing")
        metrics = read_metrics(session)
        again = session.execute(
            "SELECT value FROM system_views.localcql_metrics WHERE name = 'requests.QUERY'"
        ).one()
        cluster.shutdown()
    finally:
        server.terminate()
        server.wait(30)

    assert metrics["connections.open"] >= 1
    assert metrics["connections.opened"] >= metrics["connections.open"]
    assert metrics["requests.STARTUP"] >= 1
    assert metrics["errors.InvalidRequest"] == before.get("errors.InvalidRequest", 0) + 1
    assert metrics["requests.slow"] >= 1
    assert again.value > metrics["requests.QUERY"], "the counters are live, not cached"
    log = stderr_path.read_text()
    assert "DEBUG localcql.server: connection from" in log
    assert "slow QUERY from" in log and "SELECT * FROM nowhere.nothing" in log


def read_metrics(session) -> dict[str, int]:
    rows = session.execute("SELECT name, value FROM system_views.localcql_metrics")
    return {row.name: row.value for row in rows}
