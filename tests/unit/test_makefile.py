"""The Makefile's choice of the interpreter the venv is built from (read with `make -n`)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def interpreter_make_would_use(*make_args: str) -> str:
    """The interpreter `make rabbitmq` would run its script with (it runs `$(PYTHON) ...`)."""
    dry_run = subprocess.run(
        ["make", "-s", "-n", "rabbitmq", *make_args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dry_run.stdout.split()[0]


def test_the_distributions_interpreter_is_chosen_when_it_can_make_a_venv():
    # This interpreter can (it made the venv the tests run in), so it stands in for it.
    base = os.path.realpath(sys.executable)
    assert interpreter_make_would_use(f"DISTRIBUTION_PYTHON={base}") == base


def test_without_one_the_first_python311_on_the_path_is_chosen(tmp_path):
    missing = tmp_path / "python3.11"
    assert interpreter_make_would_use(f"DISTRIBUTION_PYTHON={missing}") == "python3.11"


def test_python_given_to_make_wins():
    assert interpreter_make_would_use("PYTHON=/opt/python/bin/python3") == "/opt/python/bin/python3"


def test_building_the_venv_announces_each_step_before_it_runs(tmp_path):
    dry_run = subprocess.run(
        ["make", "-n", "-B", "venv", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    steps = ["-m venv", "[2/3] installing", "pip install", "[3/3] linking", "link_project.py"]
    positions = [dry_run.find(step) for step in ["[1/3] creating", *steps]]
    assert -1 not in positions and positions == sorted(positions), dry_run


def test_make_test_runs_the_api_end_to_end_and_the_gateway_clients_again_on_stock_libraries():
    dry_run = subprocess.run(
        ["make", "-s", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    commands = dry_run.stdout.replace("\\\n", " ").splitlines()
    stock_runs = [line for line in commands if "KILLRVIDEO_STOCK_TRANSPORT=1" in line]
    assert len(stock_runs) == 2
    assert "tests/e2e/test_*_api.py" in stock_runs[0]
    # The gateway's clients' tests of stock requests (skipped in the first run) run there.
    assert stock_runs[1].endswith("pytest tests/services/test_gateway_downstream.py")
