"""A RabbitMQ cluster of three nodes of its own, on this machine, for tests that take nodes down.

`running_cluster()` starts three nodes of Debian's rabbitmq-server, each with its own node name,
AMQP and distribution ports, data and log directories, all with one Erlang cookie of their own
(in a temporary HOME), joins the second and third to the first, and yields the cluster; at the
end every node is stopped and its files removed. The machine's own broker (rabbit@localhost, its
cookie, config and data) is never used or touched: every node reads an empty rabbitmq-env.conf
and a config file of its own instead of /etc/rabbitmq's, and the CLI is pointed at the test
nodes by name with the test cookie. The nodes register with the machine's epmd, as every Erlang
node does, and unregister as they stop.
"""

import contextlib
import json
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.stack import free_port
from tests.waiting import wait_until

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
START_SECONDS = 120
NODES = 3


def available() -> bool:
    return os.path.exists(SERVER) and os.path.exists(CTL)


@dataclass
class Node:
    name: str  # e.g. kvc1a2b3-1@localhost
    port: int
    directory: Path
    env: dict
    popen: subprocess.Popen | None = None

    @property
    def amqp_uri(self) -> str:
        return f"pyamqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        log = open(self.directory / "server.out", "ab")  # noqa: SIM115 (the process holds it)
        self.popen = subprocess.Popen(
            [SERVER],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the script and its Erlang VM
        )
        log.close()
        # await_startup waits for a node that is booting, but fails at once for one that has
        # not registered with epmd yet.
        wait_until(self.started, START_SECONDS, f"{self.name} started")

    def started(self) -> bool:
        if not self.running():
            raise AssertionError(f"{self.name} exited: see {self.directory / 'server.out'}")
        try:
            self.ctl("await_startup", timeout=START_SECONDS)
        except RuntimeError:
            return False
        return True

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [CTL, "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.name} {' '.join(args)}: {done.stderr}")
        return done.stdout

    def kill(self) -> None:
        """kill -9 of the node's Erlang VM (and the script that started it)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        """A graceful stop of the whole node, as an operator's `rabbitmqctl stop`."""
        self.ctl("stop", timeout=START_SECONDS)
        self.popen.wait(START_SECONDS)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def connections(self) -> int:
        return len(self.ctl("list_connections", "-q", "pid").split())


@dataclass
class Cluster:
    nodes: list[Node]

    @property
    def amqp_uri(self) -> str:
        """AMQP_URI naming the three nodes (services/common/brokers.py)."""
        return ";".join(node.amqp_uri for node in self.nodes)


def node_env(base: Path, name: str, port: int, directory: Path) -> dict:
    config = directory / "rabbitmq.conf"
    config.write_text(
        f"listeners.tcp.local = 127.0.0.1:{port}\n"
        "loopback_users.guest = true\n"
        # The nodes share a small machine with other work: no disk alarm for a few GB free.
        "disk_free_limit.absolute = 50MB\n"
    )
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "HOME": str(base),  # its .erlang.cookie
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_PID_FILE": str(directory / "pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kv-rabbit-") as tmp:
        base = Path(tmp)
        cookie = base / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        (base / "rabbitmq-env.conf").write_text("")
        (base / "enabled_plugins").write_text("[].\n")
        tag = secrets.token_hex(3)
        nodes = []
        for n in range(1, NODES + 1):
            directory = base / f"node{n}"
            directory.mkdir()
            name, port = f"kvc{tag}-{n}@localhost", free_port()
            nodes.append(Node(name, port, directory, node_env(base, name, port, directory)))
        try:
            for node in nodes:
                node.start()
            for node in nodes[1:]:
                node.ctl("stop_app")
                node.ctl("join_cluster", nodes[0].name)
                node.ctl("start_app")
            yield Cluster(nodes)
        finally:
            for node in nodes:
                if node.running():
                    with contextlib.suppress(Exception):
                        node.ctl("stop", timeout=30)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        node.popen.wait(30)
                    if node.running():
                        node.kill()


def wait_for_members(node: Node, count: int, seconds: float = 60) -> None:
    """Until `node` sees `count` running nodes in its cluster."""

    def running_nodes() -> int:
        status = node.ctl("cluster_status", "--formatter", "json")
        return len(json.loads(status)["running_nodes"])

    wait_until(lambda: running_nodes() == count, seconds, f"{node.name} sees {count} nodes")
