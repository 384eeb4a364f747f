"""Make sure the RabbitMQ broker named by AMQP_URI answers, with its management API.

Used by `make run`, `make test` and CI. Standard library only: it runs before the venv exists.

- Something answers at AMQP_URI: make sure the management plugin is on (nameko's test helpers
  create throwaway vhosts through its HTTP API), then done.
- Nothing answers and the broker is this machine's default one (loopback, port 5672): install
  Debian's rabbitmq-server if it is absent and we may (root with apt-get), enable the management
  plugin, start the broker detached, and wait for it with a deadline.
- Anything else (a remote broker that is down, a local one on another port, no way to install):
  fail with a message that says what to do, rather than guess.
- On this machine's default broker, the vhost AMQP_URI names is created if it is missing, with
  all permissions for AMQP_URI's user (a second site's own vhost, see docs/operating.md).
"""

import base64
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import quote, unquote, urlsplit

DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"
AMQP_PORT = 5672
MANAGEMENT_PORT = 15672
START_DEADLINE_SECONDS = 90
SBIN = "/usr/sbin"


class BrokerUnavailable(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"ensure_rabbitmq: {message}")


def broker_address(amqp_uri: str) -> tuple[str, int]:
    parts = urlsplit(amqp_uri)
    return parts.hostname or "localhost", parts.port or AMQP_PORT


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_answering(host: str, port: int, what: str) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    pause = 0.1
    while not answers(host, port):
        if time.monotonic() > deadline:
            raise BrokerUnavailable(
                f"{what} did not answer at {host}:{port} within {START_DEADLINE_SECONDS}s; "
                "see the broker's logs (/var/log/rabbitmq/)"
            )
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def rabbitmq_command(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SBIN)


def run(*command: str) -> None:
    print("ensure_rabbitmq: running", " ".join(command), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def install_rabbitmq() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BrokerUnavailable(
            "RabbitMQ is not installed and cannot be installed automatically here (needs root "
            "and apt-get). Install it (e.g. `sudo apt-get install rabbitmq-server`, or "
            "`brew install rabbitmq`), or point AMQP_URI at a running broker."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("ensure_rabbitmq: installing rabbitmq-server from Debian's packages", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "rabbitmq-server"], check=True, env=env)


def enable_management(online: bool) -> None:
    plugins = rabbitmq_command("rabbitmq-plugins")
    if plugins is None:
        raise BrokerUnavailable(
            f"the management API does not answer on port {MANAGEMENT_PORT} and "
            "rabbitmq-plugins is not on this machine: enable rabbitmq_management on the broker"
        )
    run(plugins, "enable", *([] if online else ["--offline"]), "rabbitmq_management")


def management_request(amqp_uri: str, method: str, path: str, body: dict | None = None) -> int:
    """The HTTP status of a request to the management API of AMQP_URI's (local) broker, with
    AMQP_URI's credentials."""
    parts = urlsplit(amqp_uri)
    credentials = f"{unquote(parts.username or 'guest')}:{unquote(parts.password or 'guest')}"
    request = urllib.request.Request(
        f"http://{broker_address(amqp_uri)[0]}:{MANAGEMENT_PORT}/api/{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http:// above)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def ensure_vhost(amqp_uri: str) -> str:
    """Creates AMQP_URI's vhost on this machine's broker if it is missing."""
    vhost = unquote(urlsplit(amqp_uri).path[1:]) or "/"
    user = unquote(urlsplit(amqp_uri).username or "guest")
    if management_request(amqp_uri, "GET", f"vhosts/{quote(vhost, safe='')}") != 404:
        # It exists, or this user may not look (not an administrator): then the launcher's
        # AMQP connection tells whether the vhost is there, and how to create it if not.
        return ""
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    created = management_request(amqp_uri, "PUT", f"vhosts/{quote(vhost, safe='')}")
    allowed = management_request(
        amqp_uri, "PUT", f"permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", everything
    )
    if created not in (201, 204) or allowed not in (201, 204):
        raise BrokerUnavailable(
            f"could not create the vhost {vhost!r} through the management API (HTTP {created}, "
            f"{allowed}); create it: rabbitmqctl add_vhost {vhost} && "
            f"rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'"
        )
    return f", created its vhost {vhost!r}"


def ensure_cluster(node_uris: list[str]) -> str:
    """AMQP_URI lists a cluster's nodes (services/common/brokers.py): some must answer; a
    cluster is the operator's to start, never this script's."""
    addresses = [broker_address(node) for node in node_uris]
    answering = [f"{host}:{port}" for host, port in addresses if answers(host, port)]
    if not answering:
        listed = ", ".join(f"{host}:{port}" for host, port in addresses)
        raise BrokerUnavailable(f"no node of AMQP_URI answers ({listed}): start the cluster")
    return (
        f"RabbitMQ answers at {', '.join(answering)} ({len(answering)} of {len(addresses)} nodes)"
    )


def ensure(amqp_uri: str) -> str:
    node_uris = [node for node in amqp_uri.split(";") if node.strip()]
    if len(node_uris) > 1:
        return ensure_cluster(node_uris)
    host, port = broker_address(amqp_uri)
    local_default = is_loopback(host) and port == AMQP_PORT
    if answers(host, port):
        if local_default and not answers(host, MANAGEMENT_PORT):
            enable_management(online=True)
            wait_until_answering(host, MANAGEMENT_PORT, "RabbitMQ's management API")
        created = ensure_vhost(amqp_uri) if local_default else ""
        return f"RabbitMQ answers at {host}:{port}{created}"
    if not local_default:
        raise BrokerUnavailable(
            f"nothing answers at {host}:{port} (AMQP_URI). Only a broker on this machine's "
            f"default port {AMQP_PORT} is started automatically: start yours or fix AMQP_URI."
        )
    if rabbitmq_command("rabbitmq-server") is None:
        install_rabbitmq()
    enable_management(online=False)
    run(rabbitmq_command("rabbitmq-server"), "-detached")
    wait_until_answering(host, port, "RabbitMQ")
    wait_until_answering(host, MANAGEMENT_PORT, "RabbitMQ's management API")
    return f"started RabbitMQ at {host}:{port}{ensure_vhost(amqp_uri)}"


if __name__ == "__main__":
    print("ensure_rabbitmq:", ensure(os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI))
    sys.exit(0)
