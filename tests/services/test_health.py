"""A process's /healthz and /readyz, beside its /metrics (services/common/health.py): what the
Kubernetes probes of the domain services ask (deploy/kubernetes/base/domain-service-probes.yaml)
and docker/compose.yaml's healthcheck runs."""

import gc
import sys
import urllib.error
import urllib.request

import eventlet
import pytest
import yaml
from eventlet.green import subprocess
from nameko import config as nameko_config
from nameko.rpc import rpc
from nameko.standalone.rpc import ServiceRpcClient
from prometheus_client import REGISTRY

from scripts.monitoring import free_port
from services.common import metrics
from services.common.container import CheckedServiceContainer
from services.common.metrics import Metrics
from tests.test_docker import COMPOSE, ComposeLoader
from tests.waiting import wait_until


class Holding:
    """A service whose one call runs until the test lets it finish."""

    name = "holding"
    metrics = Metrics()
    release = None  # set by the test: an eventlet Event

    @rpc
    def hold(self):
        Holding.release.wait()
        return "released"


class Idle:
    name = "idle"
    metrics = Metrics()

    @rpc
    def nothing(self):
        pass


def busy() -> float:
    return REGISTRY.get_sample_value("killrvideo_workers_busy", {"service": "holding"})


def served_at(path: str) -> tuple[int, bytes]:
    """The status and the body the process's metrics port answers for `path`."""
    try:
        url = f"http://127.0.0.1:{metrics._serving_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def status(path: str) -> int:
    return served_at(path)[0]


@pytest.fixture
def served(rabbit_config):
    """The process's metrics port, serving (once per process: it may already be, from another
    test), and no container of an earlier test left in the process."""
    gc.collect()  # a container is held in cycles: collected, it counts no more
    with nameko_config.patch({"METRICS_PORT": free_port("127.0.0.1")}):
        if metrics._serving_port is None:
            metrics.serve(metrics.configured_port(), "127.0.0.1")
        yield


def test_a_process_is_ready_from_its_service_s_start_until_it_begins_to_stop(served):
    Holding.release = eventlet.Event()
    container = CheckedServiceContainer(Holding)
    assert status("/readyz") == 503, "created, not started"
    assert status("/healthz") == 200

    container.start()
    assert status("/readyz") == 200
    with ServiceRpcClient("holding", timeout=10) as holding:
        call = holding.hold.call_async()
        wait_until(lambda: busy() == 1, 5, "the call running")

        stopping = eventlet.spawn(container.stop)
        # The stop waits for the running call: meanwhile, the process is no longer ready.
        wait_until(lambda: status("/readyz") == 503, 5, "not ready once stopping")
        assert not stopping.dead, "still stopping: the call holds it"
        assert status("/healthz") == 200, "alive while it stops"

        Holding.release.send()
        assert call.result() == "released"
    stopping.wait()
    assert status("/readyz") == 503, "stopped"
    assert b"killrvideo_workers_busy" in served_at("/metrics")[1], (
        "every other path is the metrics'"
    )


def test_a_process_is_ready_when_every_container_it_runs_has_started(served):
    first, second = CheckedServiceContainer(Holding), CheckedServiceContainer(Idle)
    first.start()
    try:
        assert status("/readyz") == 503, "the second is not started"
        second.start()
        assert status("/readyz") == 200
    finally:
        second.stop()
        first.stop()


def test_compose_s_healthcheck_passes_only_while_the_process_is_ready(served):
    compose = yaml.load(COMPOSE.read_text(), Loader=ComposeLoader)  # noqa: S506 (a safe loader)
    check, *command = compose["services"]["videos"]["healthcheck"]["test"]
    assert check == "CMD"
    environment = {"METRICS_PORT": str(metrics._serving_port), "PATH": "/usr/bin:/bin"}

    def healthy() -> bool:
        command[0] = sys.executable  # the image's `python`
        return (
            subprocess.run(command, env=environment, capture_output=True, timeout=10).returncode
            == 0
        )

    container = CheckedServiceContainer(Idle)
    assert not healthy(), "not started"
    container.start()
    try:
        assert healthy()
    finally:
        container.stop()
    assert not healthy(), "stopped"
