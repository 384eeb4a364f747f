"""Operators use `nameko shell`: an RPC typed there reaches a running service."""

import json
import pathlib
import subprocess
import sys
import uuid

from services.common import config
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
        [pathlib.Path(sys.executable).parent / "nameko", "shell", "--config", config.config_path()],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        # The project's own config.yaml, pointed at this test's throwaway vhost.
        env={"AMQP_URI": rabbit_uri, "PATH": "/usr/bin:/bin"},
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
