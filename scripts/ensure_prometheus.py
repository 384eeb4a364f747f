"""Make sure Prometheus (and its promtool) are installed, for the monitoring tests.

Used by `make test` and CI, as scripts/ensure_rabbitmq.py is for the broker. Standard library
only. Absent, Debian's `prometheus` package is installed when we may (root with apt-get); it is
never started here: the tests start their own server on a free port.
"""

import os
import shutil
import subprocess
import sys


def main() -> int:
    if shutil.which("prometheus") and shutil.which("promtool"):
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            "ensure_prometheus: Prometheus is not installed and cannot be installed here (needs "
            "root and apt-get): install it (`sudo apt-get install prometheus`); the monitoring "
            "tests need it.",
            file=sys.stderr,
        )
        return 1
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("ensure_prometheus: installing prometheus from Debian's packages", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
        check=True,
        env=env,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
