"""Optional authentication, as Cassandra's PasswordAuthenticator (SASL PLAIN): off by default;
with --require-auth the credentials come from LOCALCQL_USERNAME / LOCALCQL_PASSWORD."""

import subprocess
import sys
from pathlib import Path

import pytest
from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable

from localcql.testing import running_server
from services.common.cassandra import CassandraSettings

USER, PASSWORD = "kv_admin", "a long local password"


@pytest.fixture(scope="module")
def server():
    command = [sys.executable, "-m", "localcql", "--port", "0", "--in-memory", "--require-auth"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCALCQL_USERNAME", USER)
        patch.setenv("LOCALCQL_PASSWORD", PASSWORD)
        with running_server(command) as address:
            yield address


def connect(address, auth_provider=None):
    return Cluster([address[0]], port=address[1], auth_provider=auth_provider)


def test_the_right_credentials_get_in(server):
    cluster = connect(server, PlainTextAuthProvider(USER, PASSWORD))
    try:
        assert cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()


@pytest.mark.parametrize(
    "provider",
    [PlainTextAuthProvider(USER, "wrong"), PlainTextAuthProvider("nobody", PASSWORD), None],
    ids=["wrong password", "unknown user", "no credentials"],
)
def test_anything_else_is_refused(server, provider):
    cluster = connect(server, provider)
    try:
        with pytest.raises(NoHostAvailable) as refused:
            cluster.connect()
    finally:
        cluster.shutdown()
    [error] = refused.value.errors.values()
    if provider is not None:
        assert isinstance(error, AuthenticationFailed)
        assert "Provided username and/or password are incorrect" in str(error)


def test_the_services_connect_with_their_configured_credentials(server):
    settings = CassandraSettings.from_config(
        {"contact_points": server[0], "port": server[1], "username": USER, "password": PASSWORD}
    )
    cluster, session = settings.connect(None)
    try:
        assert session.execute("SELECT cluster_name FROM system.local").one()
    finally:
        cluster.shutdown()


def test_cqlsh_logs_in(server):
    cqlsh = Path(sys.executable).with_name("cqlsh")
    done = subprocess.run(
        [str(cqlsh), server[0], str(server[1]), "-u", USER, "-p", PASSWORD, "-e", "DESC KEYSPACES"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "system_schema" in done.stdout


def test_without_require_auth_nothing_is_asked():
    command = [sys.executable, "-m", "localcql", "--port", "0", "--in-memory"]
    with running_server(command) as address:
        cluster = connect(address)
        try:
            assert cluster.connect().execute("SELECT key FROM system.local").one()
        finally:
            cluster.shutdown()
