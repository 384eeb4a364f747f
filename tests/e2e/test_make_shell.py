"""`make shell`: nameko's shell on the project's config, whose banner names the broker without
printing its password (`nameko shell` prints AMQP_URI whole)."""

import os
import subprocess
from urllib.parse import urlsplit

from scripts.processes import ROOT
from tests.e2e.stack import throwaway_vhost


def test_make_shell_talks_to_the_broker_and_prints_no_password():
    with throwaway_vhost() as amqp_uri:
        shell = subprocess.run(
            ["make", "--no-print-directory", "shell"],
            cwd=ROOT,
            env={**os.environ, "AMQP_URI": amqp_uri},
            input=f"print(type(n.rpc).__name__, n.config['AMQP_URI'] == {amqp_uri!r})\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
    broker = urlsplit(amqp_uri)
    output = shell.stdout + shell.stderr
    assert shell.returncode == 0, output
    masked = f"{broker.scheme}://{broker.username}:********@{broker.hostname}:{broker.port}"
    assert f"Broker: {masked}{broker.path}" in output
    assert "Client True" in output, "the shell's RPC client, on the configured broker"
    assert f":{broker.password}@" not in output
