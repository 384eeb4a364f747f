"""docker/: what can be checked without a Docker engine (none runs on our machines).

The compose file is parsed with its anchors and merge keys, as Compose reads it, and checked
against the repository: every command names a module that exists and imports, every variable it
gives the services is one config.yaml reads, every dependency exists, the stateful services have
healthchecks, each domain service's replicas are configurable, the gateway is `backend:50101`.
The Dockerfile is multi-stage, installs from the hash-checked lock and runs as a non-root user.
`docker compose config` (or the standalone `docker-compose config`) runs too when installed.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from localcql.metrics import Metrics as LocalCqlCounters
from localcql.metrics import PrometheusCounters
from services import DOMAIN_SERVICES
from services.common import metrics  # noqa: F401 (registers its families in REGISTRY)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
BACKENDS = {*DOMAIN_SERVICES, "schema", "backend"}


class ComposeLoader(yaml.SafeLoader):
    """SafeLoader without the resolver nameko's config loading adds to it (it substitutes
    `${VAR:default}`, nameko's syntax, and would read Compose's own variables)."""


ComposeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "!env_var"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.load(COMPOSE.read_text(), Loader=ComposeLoader)  # noqa: S506 (a safe loader)


def module_of(command: list[str]) -> str:
    """The Python module a service's command runs (`nameko run X` or `python -m X`)."""
    if command[:2] == ["nameko", "run"]:
        return command[2]
    assert command[:2] == ["python", "-m"], command
    return command[2]


def test_every_backend_runs_a_module_of_this_repository(compose):
    services = compose["services"]
    assert set(services) >= BACKENDS
    for name in BACKENDS:
        module = module_of(services[name]["command"])
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    for name in DOMAIN_SERVICES:
        assert services[name]["command"][2] == f"services.{name}.service"
    assert module_of(services["backend"]["command"]) == "services.gateway.service"


def test_the_image_entrypoints_run_outside_docker():
    modules = [f"services.{name}.service" for name in (*DOMAIN_SERVICES, "gateway")]
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]",
            *modules,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0, imported.stderr
    schema_help = subprocess.run(
        [sys.executable, "-m", "services.common.schema", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert schema_help.returncode == 0 and "usage" in schema_help.stdout


def config_variables() -> set[str]:
    """The environment variables config.yaml reads (its comments mention the syntax too)."""
    text = re.sub(r"#.*", "", (ROOT / "config.yaml").read_text())
    return set(re.findall(r"\$\{(\w+):", text))


def test_the_backends_get_only_variables_config_yaml_reads(compose):
    known = config_variables()
    for name in BACKENDS:
        environment = compose["services"][name]["environment"]
        # OTEL_*: OpenTelemetry's own, read by its SDK (services/common/tracing.py).
        ours = {variable for variable in environment if not variable.startswith("OTEL_")}
        assert ours <= known, (name, ours - known)
    assert compose["services"]["backend"]["environment"]["GRPC_BIND_HOST"] == "0.0.0.0"


def test_secrets_come_from_the_environment_not_the_file(compose):
    text = COMPOSE.read_text()
    assert "${RABBITMQ_PASSWORD:?" in text and "${PAGING_STATE_SECRET:?" in text
    assert "guest" not in text
    assert "docker/.env" in (ROOT / ".gitignore").read_text()


def test_dependencies_exist_and_wait_for_health(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    for name in ("cassandra", "rabbitmq"):
        assert services[name]["healthcheck"]["test"]
    assert services["schema"]["depends_on"]["cassandra"]["condition"] == "service_healthy"
    for name in DOMAIN_SERVICES:
        conditions = services[name]["depends_on"]
        assert conditions["schema"]["condition"] == "service_completed_successfully"
        assert conditions["rabbitmq"]["condition"] == "service_healthy"
    # Every process of a service is healthy when ready (tests/services/test_health.py runs the
    # command); the schema job serves nothing.
    for name in [*DOMAIN_SERVICES, "backend"]:
        assert services[name]["healthcheck"] == services["users"]["healthcheck"], name
        assert "/readyz" in services[name]["healthcheck"]["test"][-1]
    assert services["schema"]["healthcheck"] == {"disable": True}


def test_replicas_are_configurable_and_the_gateway_is_backend_50101(compose):
    services = compose["services"]
    for name in DOMAIN_SERVICES:
        assert services[name]["deploy"]["replicas"] == f"${{{name.upper()}_REPLICAS:-1}}"
    assert "50101:50101" in services["backend"]["ports"]
    assert services["web"]["image"].startswith("killrvideo/killrvideo-web:")
    assert "3000:3000" in services["web"]["ports"]
    assert re.fullmatch(r"cassandra:[45]\.\d+", services["cassandra"]["image"])
    assert services["rabbitmq"]["image"].endswith("-management")


# The commit-log lines of cassandra.yaml as the cassandra:5.0 image ships them.
SHIPPED_COMMITLOG_SETTINGS = """\
# the default option is "periodic" where writes may be acked immediately
# and the CommitLog is simply synced every commitlog_sync_period
# milliseconds.
commitlog_sync: periodic
# Min unit: ms
commitlog_sync_period: 10000ms
"""


def test_cassandra_acknowledges_a_write_once_its_commit_log_is_on_disk(compose, tmp_path):
    cassandra = compose["services"]["cassandra"]
    # Compose reads $$ as a literal $.
    command = [part.replace("$$", "$") for part in cassandra["entrypoint"] + cassandra["command"]]
    (tmp_path / "cassandra.yaml").write_text(SHIPPED_COMMITLOG_SETTINGS)
    image_entrypoint = tmp_path / "bin" / "docker-entrypoint.sh"
    image_entrypoint.parent.mkdir()
    image_entrypoint.write_text('#!/bin/sh\necho "$@"\n')
    image_entrypoint.chmod(0o755)
    env = {"PATH": f"{image_entrypoint.parent}:/usr/bin:/bin", "CASSANDRA_CONF": str(tmp_path)}
    for _ in range(2):  # a container started again runs it again
        started = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        assert started.stdout == "cassandra -f\n"  # then the image's entrypoint, as without it
    settings = yaml.safe_load((tmp_path / "cassandra.yaml").read_text())
    # Cassandra refuses a sync period beside batch mode.
    assert settings == {"commitlog_sync": "batch"}


def test_the_dockerfile_is_multi_stage_from_the_lock_and_not_root():
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert "--require-hashes" in text and "requirements.lock" in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / source).exists(), source


def compose_command() -> list[str] | None:
    """The Compose CLI installed here: the Docker plugin, else the standalone docker-compose."""
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


@pytest.mark.skipif(compose_command() is None, reason="no Docker Compose CLI is installed here")
def test_docker_compose_parses_it():
    checked = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"RABBITMQ_PASSWORD": "x", "PAGING_STATE_SECRET": "x", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


MONITORING = COMPOSE.parent / "prometheus" / "prometheus.yml"
DASHBOARD = COMPOSE.parent / "grafana" / "dashboards" / "killrvideo.json"
DATASOURCES = COMPOSE.parent / "grafana" / "provisioning" / "datasources" / "datasources.yml"


def test_prometheus_grafana_and_jaeger_are_provisioned_from_the_repository(compose):
    services = compose["services"]
    for name in ("prometheus", "grafana", "jaeger"):
        for volume in services[name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (COMPOSE.parent / source).exists(), (name, source)
    backend = services["backend"]["environment"]
    assert backend["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_prometheus_scrapes_every_replica_of_every_backend_and_loads_the_alerts(compose):
    config = yaml.safe_load(MONITORING.read_text())
    port = int(compose["services"]["backend"]["environment"]["METRICS_PORT"])
    scraped = {
        name: job["job_name"]
        for job in config["scrape_configs"]
        for discovery in job["dns_sd_configs"]
        if discovery["port"] == port and discovery["type"] == "A"
        for name in discovery["names"]
    }
    assert set(scraped) == {*DOMAIN_SERVICES, "backend"}
    mounted = dict(v.split(":")[:2] for v in compose["services"]["prometheus"]["volumes"])
    assert [mounted["./prometheus/alerts.yml"]] == config["rule_files"]


def test_the_dashboard_queries_its_provisioned_data_source_and_metrics_that_exist():
    families = {metric.name for metric in REGISTRY.collect()}  # services.common.metrics's
    families |= {metric.name for metric in PrometheusCounters(LocalCqlCounters()).collect()}
    datasources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    uids = {source["uid"] for source in datasources}
    panels = [panel for panel in json.loads(DASHBOARD.read_text())["panels"] if "targets" in panel]
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        for target in panel["targets"]:
            for name in re.findall(r"\b((?:killrvideo|localcql)_\w+)", target["expr"]):
                family = re.sub(r"_(total|bucket|count|sum)$", "", name)
                assert family in families, (panel["title"], name)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_compose_prometheus_config(tmp_path):
    # The rules file at its path in the repository instead of in the container.
    config = MONITORING.read_text().replace(
        "/etc/prometheus/alerts.yml", str(COMPOSE.parent / "prometheus" / "alerts.yml")
    )
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
