"""`make shell`: nameko's interactive shell on the project's configuration (config.yaml), with
`n.rpc.<service>.<method>(...)` and `n.dispatch_event(...)` as in `nameko shell`, whose banner
prints AMQP_URI whole, password included; this one names the broker by host, port and vhost."""

import sys

from nameko import config as nameko_config
from nameko.cli.shell import ShellRunner, make_nameko_helper

from scripts.vhosts import broker_of
from services.common import config


def main() -> None:
    nameko_config.update(config.load())
    banner = (
        f"Nameko Python {sys.version} shell on {sys.platform}\n"
        f"Broker: {broker_of(nameko_config['AMQP_URI'])}"
    )
    ShellRunner(banner, {"n": make_nameko_helper()}).start_shell(name=None)


if __name__ == "__main__":
    main()
