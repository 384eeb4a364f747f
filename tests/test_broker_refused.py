"""A process that RabbitMQ refuses (no such vhost, wrong password) says why in one line and
exits, instead of retrying for ever, whether as it starts (services/common/container.py) or while
it runs (services/common/brokers.py); and, as every `nameko run` process started by
scripts/processes.py, without eventlet's deprecation notice first."""

import os
import uuid
from urllib.parse import urlsplit

import pytest

from scripts.processes import Child, nameko_run
from services import DOMAIN_SERVICES
from services.common import brokers, config
from services.common.brokers import EXIT_CONFIGURATION_ERROR
from tests.e2e.stack import free_port, rabbit_management, throwaway_vhost
from tests.waiting import wait_until

PROCESSES = [*DOMAIN_SERVICES, "gateway"]
EXIT_DEADLINE_SECONDS = 60  # a start on a busy machine; a process that loops never exits
MOST_LINES = 5  # "starting services" (and the gateway's h2 line), and the one line
WRONG_PASSWORD = "not-the-password-" + uuid.uuid4().hex


def refused_uri(refusal: str) -> str:
    broker = urlsplit(config.load()["AMQP_URI"])
    user = broker.username or "guest"
    where = broker.netloc.rpartition("@")[2]
    if refusal == "vhost":
        password = broker.password or "guest"
        return f"{broker.scheme}://{user}:{password}@{where}/kv_missing_{uuid.uuid4().hex[:12]}"
    return f"{broker.scheme}://{user}:{WRONG_PASSWORD}@{where}{broker.path}"


def run_until_exit(name: str, amqp_uri: str) -> tuple[int, Child]:
    """`nameko run services.<name>.service` on `amqp_uri`: its exit status (it must exit within
    EXIT_DEADLINE_SECONDS) and the child, whose last lines are its output."""
    env = {**os.environ, "AMQP_URI": amqp_uri, "GRPC_BIND_PORT": str(free_port())}
    child = Child(name, nameko_run(f"services.{name}.service"), env, lambda *_: None)
    child.start()
    try:
        return child.popen.wait(EXIT_DEADLINE_SECONDS), child
    finally:
        child.stop()


@pytest.mark.parametrize("refusal", ["vhost", "password"])
@pytest.mark.parametrize("name", PROCESSES)
def test_a_refused_process_names_the_cause_in_one_line_and_exits(name, refusal):
    amqp_uri = refused_uri(refusal)
    exit_code, child = run_until_exit(name, amqp_uri)
    output = "\n".join(child.last_lines)

    assert exit_code == EXIT_CONFIGURATION_ERROR, output
    [refused] = [line for line in child.last_lines if "RabbitMQ at " in line]
    if refusal == "vhost":
        vhost = urlsplit(amqp_uri).path[1:]
        assert f"{name} not started: " in refused
        assert f"refused vhost '{vhost}': NOT_ALLOWED - vhost {vhost} not found" in refused
    else:
        assert "refused user " in refused and "ACCESS_REFUSED" in refused
    assert "Traceback" not in output
    assert "Eventlet is deprecated" not in output
    assert len(child.last_lines) <= MOST_LINES, output
    assert WRONG_PASSWORD not in output


def test_a_list_of_nodes_whose_first_is_down_is_refused_by_the_next_one_without_passwords():
    """AMQP_URI may list a cluster's nodes (services/common/brokers.py): the check tries each."""
    second = refused_uri("vhost")
    down = f"pyamqp://guest:{WRONG_PASSWORD}@127.0.0.1:{free_port()}/kv_missing"
    exit_code, child = run_until_exit("videos", f"{down};{second}")
    output = "\n".join(child.last_lines)
    assert exit_code == EXIT_CONFIGURATION_ERROR, output
    vhost = urlsplit(second).path[1:]
    assert f"NOT_ALLOWED - vhost {vhost} not found" in output
    assert WRONG_PASSWORD not in output


# A domain service's consumers (its RPC and event consumers, without its database), and the
# gateway's.
@pytest.mark.parametrize("module", ["tests.consumers_only", "services.gateway.service"])
def test_a_process_whose_vhost_is_deleted_while_it_runs_says_so_in_one_line_and_exits(module):
    with throwaway_vhost() as amqp_uri:
        env = {**os.environ, "AMQP_URI": amqp_uri, "GRPC_BIND_PORT": str(free_port())}
        child = Child(module, nameko_run(module), env, lambda *_: None)
        child.start()
        try:
            wait_until(
                lambda: any("Connected to " in line for line in child.last_lines),
                EXIT_DEADLINE_SECONDS,
                f"{module} consuming",
            )
            vhost = brokers.vhost_of(amqp_uri)
            rabbit_management().delete_vhost(vhost)
            exit_code = child.popen.wait(EXIT_DEADLINE_SECONDS)
        finally:
            child.stop()
    output = "\n".join(child.last_lines)

    assert exit_code == EXIT_CONFIGURATION_ERROR, output
    # kombu's warning of the lost connection, then one line: not a traceback a second for ever.
    [refused] = [line for line in child.last_lines if "NOT_ALLOWED" in line]
    assert "stopping: RabbitMQ at " in refused, output
    assert f"refused vhost '{vhost}': NOT_ALLOWED - vhost {vhost} not found" in refused
