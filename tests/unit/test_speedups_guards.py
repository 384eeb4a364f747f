"""The speed-ups (services.common.speedups) against what they were written for, and installed only
by install(): docs/internals.md."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.common import speedups
from services.common.speedups import guards

ROOT = Path(__file__).resolve().parents[2]
# The patches that replace a library attribute (the others are subclasses of ours that ask
# enabled()).
REPLACING = [name for name in speedups.NAMES if hasattr(speedups.module(name), "patch")]


@pytest.mark.parametrize("name", speedups.NAMES)
def test_each_patch_runs_on_the_library_code_it_was_written_against(name):
    differences = guards.differences(name)
    assert not differences, (
        f"review the {name} speed-up (services/common/speedups/{name}.py, docs/internals.md), "
        "then record the new versions and fingerprints: " + "; ".join(differences)
    )


def test_a_changed_upstream_function_is_noticed():
    source = guards.upstream_source("nameko.rpc.Rpc.handle_message")
    assert source.startswith("def handle_message(self, body, message):")
    with pytest.raises(LookupError):
        guards.upstream_source("nameko.rpc.Rpc.no_such_method")


def in_fresh_interpreter(code: str, **env) -> dict:
    """What `code` prints as JSON on its last line, run by a new Python in the checkout."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in (speedups.STOCK_SWITCH, speedups.OFF_SWITCH)
    }
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


STATE = """
import json
from services.common import speedups
patched = [n for n in speedups.NAMES if hasattr(speedups.module(n), "patch")
           and speedups.module(n).is_patched()]
enabled = [n for n in speedups.NAMES if speedups.enabled(n)]
"""


def test_importing_every_module_of_services_changes_no_library():
    state = in_fresh_interpreter(
        """
import importlib, pkgutil, services
imported = []
for module in pkgutil.walk_packages(services.__path__, "services."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
        imported.append(module.name)
"""
        + STATE
        + "print(json.dumps({'imported': imported, 'patched': patched, 'enabled': enabled}))"
    )
    assert "services.gateway.service" in state["imported"]
    assert "services.videos.service" in state["imported"]
    assert state["patched"] == []
    assert state["enabled"] == []


INSTALL_TWICE = (
    """
from services.common import speedups
speedups.install()
from nameko.amqp.consume import Consumer
first = Consumer.establish_connection
speedups.install()
"""
    + STATE
    + "print(json.dumps({'patched': patched, 'enabled': enabled, "
    "'same': Consumer.establish_connection is first}))"
)


def test_install_applies_every_patch_and_a_second_install_changes_nothing():
    state = in_fresh_interpreter(INSTALL_TWICE)
    assert state["patched"] == REPLACING
    assert state["enabled"] == list(speedups.NAMES)
    assert state["same"]


def test_the_stock_switch_installs_nothing():
    state = in_fresh_interpreter(INSTALL_TWICE, **{speedups.STOCK_SWITCH: "1"})
    assert state["patched"] == []
    assert state["enabled"] == []


def test_a_patch_switched_off_is_left_out():
    off = "reconnect_waits, grpc_connection"
    state = in_fresh_interpreter(INSTALL_TWICE, **{speedups.OFF_SWITCH: off})
    assert state["patched"] == []
    assert state["enabled"] == ["direct_requests"]


def test_switching_off_a_patch_that_does_not_exist_is_refused(monkeypatch):
    monkeypatch.setenv(speedups.OFF_SWITCH, "no_such_patch")
    with pytest.raises(ValueError, match="no_such_patch"):
        speedups.switched_off()
