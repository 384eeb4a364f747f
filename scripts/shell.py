"""`make shell`: nameko's shell on the project's config.yaml, its banner without the password.

`nameko shell` prints the broker's URI in its banner as configured, password included, in the
terminal and in whatever records it. This is the same shell (nameko's own runner and `n`
helper, `n.rpc.<service>.<method>(...)`), with the URI in the banner masked as nameko masks it
in its log lines.

    .venv/bin/python -m scripts.shell [--interface plain|ipython|bpython]
"""

import argparse
import sys

from nameko import config
from nameko.cli.shell import SHELLS, ShellRunner, make_nameko_helper
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.utils import sanitize_url

from services.common import brokers
from services.common import config as project_config


def banner() -> str:
    # Each node's, when AMQP_URI lists a cluster's (nameko's sanitize_url masks the first only).
    broker = ";".join(map(sanitize_url, brokers.nodes(config[AMQP_URI_CONFIG_KEY])))
    return f"Nameko Python {sys.version} shell on {sys.platform}\nBroker: {broker}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interface", choices=SHELLS, help="the shell to run (the first found)")
    args = parser.parse_args()
    config.update(project_config.load())
    ShellRunner(banner(), {"n": make_nameko_helper()}).start_shell(name=args.interface)


if __name__ == "__main__":
    main()
