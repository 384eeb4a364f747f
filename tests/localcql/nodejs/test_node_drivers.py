"""The Node.js drivers of the KillrVideo web app against localcql: the DataStax DSE driver it
ships with, and the plain `cassandra-driver`. Both open with a newer protocol version (DSE's own,
or v5) and must be led down to v4 as Cassandra leads them; then the web app's session-store
statements must work. The packages come from the npm registry, pinned by package-lock.json."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from localcql.testing import running_localcql

HERE = Path(__file__).parent
NPM_INSTALL_SECONDS = 180


@pytest.fixture(scope="module")
def node_modules():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed")
    if not (HERE / "node_modules" / "dse-driver").is_dir():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=NPM_INSTALL_SECONDS,
        )
        if installed.returncode != 0:
            pytest.skip(f"npm could not install the drivers: {installed.stderr[-500:]}")
    return HERE / "node_modules"


@pytest.fixture(scope="module")
def server():
    with running_localcql(in_memory=True) as address:
        yield address


@pytest.mark.parametrize("driver", ["dse-driver", "cassandra-driver"])
def test_the_web_apps_session_store_works_at_protocol_v4(node_modules, server, driver):
    host, port = server
    done = subprocess.run(
        ["node", "session_store.js", driver, host, str(port)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "protocolVersion": 4,
        "session": '{"user":1}',
        "afterDelete": 0,
    }
