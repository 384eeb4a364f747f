"""`make run` against the operator's own Cassandra (CASSANDRA_CONTACT_POINTS set): it applies the
schema, loads the sample data there and starts no localcql. Here that database is a localcql the
test starts, as an operator's cluster would be already running."""

from pathlib import Path

import pytest

from localcql.testing import running_localcql
from scripts.run import READY_LINE
from tests.e2e.make_run import READY_SECONDS, MakeRun, latest_videos, site_environment


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env, running_localcql(in_memory=True) as cql:
        host, port = cql
        yield {**env, "CASSANDRA_CONTACT_POINTS": host, "CASSANDRA_PORT": str(port)}


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def test_make_run_uses_the_cassandra_it_is_given_and_starts_no_localcql(site_env):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        assert len(latest_videos(site_env)) == 12, "the sample data, in the given database"
        assert "localcql" not in site.processes()
        assert not [pid for pid in site.children() if "-m localcql" in command_line(pid)]
        address = f"{site_env['CASSANDRA_CONTACT_POINTS']}:{site_env['CASSANDRA_PORT']}"
        assert f"Cassandra (CASSANDRA_CONTACT_POINTS): {address}" in "".join(site.output)
    finally:
        site.interrupt()
