"""Operators use `make shell` (nameko's shell, scripts/shell.py): an RPC typed there reaches a
running service, and the broker's password never shows."""

import json
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

from scripts.processes import ROOT
from services.users.service import UsersService


def test_nameko_shell_calls_a_running_service(start_services, rabbit_uri):
    start_services(UsersService)
    user_id = str(uuid.uuid4())
    script = (
        f"profile = n.rpc.users.create_user(user_id={user_id!r}, first_name='Ada', "
        "last_name='Lovelace', email='ada.shell@example.com', password='s3cret pass')\n"
        "import json; print('RESULT', json.dumps(profile))\n"
    )

    result = subprocess.run(
        [sys.executable, "-m", "scripts.shell"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        # The project's own config.yaml, pointed at this test's throwaway vhost.
        env={"AMQP_URI": rabbit_uri, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stderr
    # The console echoes its prompts (">>> ") before what the script prints.
    line = next(line for line in result.stdout.splitlines() if "RESULT " in line)
    assert json.loads(line.split("RESULT ", 1)[1]) == {
        "user_id": user_id,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada.shell@example.com",
    }
    broker = urlsplit(rabbit_uri)
    banner = f"Broker: {broker.scheme}://{broker.username}:********@{broker.hostname}:"
    assert banner in result.stderr  # where the console writes its banner
    assert f":{broker.password}@" not in result.stdout + result.stderr
