"""deploy/kubernetes/: what can be checked without a cluster.

Every overlay is rendered with `kubectl kustomize` (the kubectl on PATH: the project's machines
have one; the rendering tests skip, saying so, where there is none) and every resource it yields
is validated offline, strictly (no unknown field), against the Kubernetes schemas of the oldest
version the manifests claim and of the newest the locked kubernetes-validate knows. Then the
invariants that matter to the site: each process runs the module docker/compose.yaml runs, gets
every setting config.yaml reads, from the ConfigMap or the one Secret (whose example holds
exactly the keys referenced), with requests, limits and a hardened security context; the gateway
is backend:50101 with probes on its own port, liveness not tied to the domain services; every
service serves its metrics where its scrape annotations say, and the domain services are probed
on that port (/healthz, /readyz);
production runs two or more replicas of each, spread, each under a PodDisruptionBudget; the
example operator resources agree with the settings.
"""

import copy
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from services import DOMAIN_SERVICES
from services.common.cassandra import CassandraSettings
from services.gateway.service import HEALTH_NEEDS
from tests.test_docker import COMPOSE, DOCKERFILE, ComposeLoader, config_variables

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(path.name for path in (KUBERNETES / "overlays").iterdir() if path.is_dir())
# The oldest Kubernetes the manifests claim (docs/deploying.md), and the newest schemas the locked
# kubernetes-validate carries.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
# kubectl is a Go binary that no well-kept Python package carries (PyPI's are third-party
# repackagings of it), and Debian's kubernetes-client is too old for these manifests: the one on
# PATH, kustomize 5 or newer (kubectl 1.27+).
KUBECTL = shutil.which("kubectl")
SECRET = "killrvideo-secrets"
GATEWAY_ONLY_VARIABLES = {"GRPC_BIND_HOST", "GRPC_BIND_PORT"}


def kustomize(directory: Path) -> list[dict]:
    if KUBECTL is None:
        pytest.skip("no kubectl on PATH to render the manifests: install kubectl 1.27 or newer")
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    return list(yaml.safe_load_all(rendered.stdout))


@pytest.fixture(scope="module")
def overlays() -> dict[str, list[dict]]:
    return {name: kustomize(KUBERNETES / "overlays" / name) for name in OVERLAYS}


def of_kind(resources: list[dict], kind: str) -> list[dict]:
    return [resource for resource in resources if resource["kind"] == kind]


def workloads(resources: list[dict]) -> list[dict]:
    """The Deployments and Jobs: everything that runs a process of the image."""
    return of_kind(resources, "Deployment") + of_kind(resources, "Job")


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container(workload: dict) -> dict:
    (only,) = pod_spec(workload)["containers"]
    return only


def deployment(resources: list[dict], name: str) -> dict:
    (found,) = [d for d in of_kind(resources, "Deployment") if d["metadata"]["name"] == name]
    return found


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) == {"matchLabels"}, selector  # the only form these manifests use
    return selector["matchLabels"].items() <= labels.items()


def test_there_are_a_dev_and_a_production_overlay():
    assert {"dev", "production"} <= set(OVERLAYS)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_resource_is_valid_kubernetes(overlays, version):
    for name, resources in overlays.items():
        assert resources, name
        for resource in resources:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {resource['kind']} {resource['metadata']['name']}: {error}")


def test_the_validation_rejects_a_misspelled_field(overlays):
    gateway = copy.deepcopy(deployment(overlays["production"], "gateway"))
    container(gateway)["resource"] = container(gateway).pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError, match="resource"):
        kubernetes_validate.validate(gateway, KUBERNETES_VERSIONS[0], strict=True)


def test_every_process_runs_what_docker_compose_runs(overlays):
    compose = yaml.load(COMPOSE.read_text(), Loader=ComposeLoader)["services"]  # noqa: S506
    compose_name = {"gateway": "backend", "killrvideo-schema": "schema"}
    for name, resources in overlays.items():
        names = {d["metadata"]["name"] for d in of_kind(resources, "Deployment")}
        assert names == {*DOMAIN_SERVICES, "gateway"}, name
        for workload in workloads(resources):
            workload_name = workload["metadata"]["name"]
            expected = compose[compose_name.get(workload_name, workload_name)]["command"]
            assert container(workload)["command"] == expected, (name, workload_name)


def test_every_deployment_selects_its_own_pods_only(overlays):
    for name, resources in overlays.items():
        deployments = of_kind(resources, "Deployment")
        for each in deployments:
            selector = each["spec"]["selector"]
            matched = [
                d
                for d in deployments
                if selects(selector, d["spec"]["template"]["metadata"]["labels"])
            ]
            assert matched == [each], (name, each["metadata"]["name"])


def test_every_process_has_requests_limits_and_a_hardened_security_context(overlays):
    image_user = re.search(r"useradd .*--uid (\d+)", DOCKERFILE.read_text()).group(1)
    for name, resources in overlays.items():
        for workload in workloads(resources):
            where = (name, workload["metadata"]["name"])
            spec, process = pod_spec(workload), container(workload)
            for bound in ("requests", "limits"):
                assert set(process["resources"][bound]) == {"cpu", "memory"}, where
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert str(spec["securityContext"]["runAsUser"]) == image_user, where
            assert process["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, where
            assert spec["automountServiceAccountToken"] is False, where
            # Service links would inject CASSANDRA_PORT=tcp://... next to a Service `cassandra`.
            assert spec["enableServiceLinks"] is False, where
            assert spec["terminationGracePeriodSeconds"] >= 30, where


def settings_of(workload: dict, resources: list[dict]) -> set[str]:
    """Every environment variable the process gets, the referenced ConfigMaps' keys included."""
    config_maps = {c["metadata"]["name"]: c for c in of_kind(resources, "ConfigMap")}
    process = container(workload)
    names = {variable["name"] for variable in process.get("env", [])}
    for source in process.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source  # secrets are named one by one
        names |= set(config_maps[source["configMapRef"]["name"]]["data"])
    return names


def test_every_process_gets_every_setting_config_yaml_reads_and_no_other(overlays):
    known = config_variables()
    for name, resources in overlays.items():
        for workload in workloads(resources):
            needed = (
                known
                if workload["metadata"]["name"] == "gateway"
                else known - GATEWAY_ONLY_VARIABLES
            )
            assert settings_of(workload, resources) == needed, (name, workload["metadata"]["name"])


def secret_references(workload: dict) -> set[tuple[str, str]]:
    return {
        (ref["name"], ref["key"])
        for variable in container(workload).get("env", [])
        if (ref := variable.get("valueFrom", {}).get("secretKeyRef"))
    }


def test_the_secret_referenced_is_the_example_one_with_placeholders_only(overlays):
    example = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    assert example["kind"] == "Secret" and example["metadata"]["name"] == SECRET
    for key, value in example["stringData"].items():
        assert "CHANGE-ME" in value, key
    for name, resources in overlays.items():
        # The placeholders are never applied with the site: the Secret comes from elsewhere.
        assert not of_kind(resources, "Secret"), name
        for workload in workloads(resources):
            expected = {(SECRET, key) for key in example["stringData"]}
            assert secret_references(workload) == expected, (name, workload["metadata"]["name"])
            for variable in container(workload)["env"]:
                if "valueFrom" in variable:
                    assert variable["name"] == variable["valueFrom"]["secretKeyRef"]["key"]
                    assert not variable["valueFrom"]["secretKeyRef"].get("optional")


def test_the_gateway_is_backend_50101_with_probes_on_its_port(overlays):
    for name, resources in overlays.items():
        gateway = deployment(resources, "gateway")
        process = container(gateway)
        (port,) = [port for port in process["ports"] if port["name"] == "grpc"]
        environment = {v["name"]: v.get("value") for v in process["env"]}
        assert port == {"name": "grpc", "containerPort": 50101}, name
        assert (
            environment["GRPC_BIND_PORT"] == "50101" and environment["GRPC_BIND_HOST"] == "0.0.0.0"
        )
        (service,) = [
            s for s in of_kind(resources, "Service") if s["metadata"]["name"] == "backend"
        ]
        (service_port,) = service["spec"]["ports"]
        assert service_port["port"] == 50101 and service_port["targetPort"] == "grpc", name
        assert selects(
            {"matchLabels": service["spec"]["selector"]},
            gateway["spec"]["template"]["metadata"]["labels"],
        )

        # Readiness asks the gateway's grpc.health.v1 Check for a service it knows and that needs
        # a domain service to answer over this gateway's broker connection; not "" (all of them).
        readiness = process["readinessProbe"]["grpc"]
        assert readiness["port"] == 50101, name
        assert readiness["service"] != "" and HEALTH_NEEDS.get(readiness["service"]), name
        # Liveness must not restart gateways because a domain service is down: every health
        # name the gateway answers depends on one, so it checks the port itself.
        assert process["livenessProbe"]["tcpSocket"] == {"port": "grpc"}, name

        # The pause before SIGTERM, then calls in flight (RPC_TIMEOUT), within the grace period.
        (_, pause) = process["lifecycle"]["preStop"]["exec"]["command"]
        rpc_timeout = int(of_kind(resources, "ConfigMap")[0]["data"]["RPC_TIMEOUT"])
        assert int(pause) + rpc_timeout < pod_spec(gateway)["terminationGracePeriodSeconds"]


def test_every_probe_targets_a_port_the_container_declares(overlays):
    for name, resources in overlays.items():
        for workload in workloads(resources):
            process = container(workload)
            declared = {p["name"] for p in process.get("ports", [])} | {
                p["containerPort"] for p in process.get("ports", [])
            }
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                for handler in ("grpc", "tcpSocket", "httpGet"):
                    if handler in process.get(kind, {}):
                        port = process[kind][handler]["port"]
                        assert port in declared, (name, workload["metadata"]["name"], kind)


def test_every_service_serves_its_metrics_where_its_annotations_say(overlays):
    for name, resources in overlays.items():
        metrics_port = int(of_kind(resources, "ConfigMap")[0]["data"]["METRICS_PORT"])
        for workload in of_kind(resources, "Deployment"):
            (port,) = [p for p in container(workload)["ports"] if p["name"] == "metrics"]
            annotations = workload["spec"]["template"]["metadata"]["annotations"]
            assert port["containerPort"] == metrics_port, (name, workload["metadata"]["name"])
            assert annotations["prometheus.io/scrape"] == "true"
            assert int(annotations["prometheus.io/port"]) == metrics_port
            assert annotations["prometheus.io/path"] == "/metrics"
        for job in of_kind(resources, "Job"):  # it serves nothing: a scrape of it would fail
            assert "annotations" not in job["spec"]["template"]["metadata"], name
            assert "ports" not in container(job), name


def test_domain_services_are_probed_on_their_metrics_port(overlays):
    for name, resources in overlays.items():
        for service in DOMAIN_SERVICES:
            process = container(deployment(resources, service))
            for kind, path in (
                ("startupProbe", "/healthz"),
                ("livenessProbe", "/healthz"),
                ("readinessProbe", "/readyz"),
            ):
                assert process[kind]["httpGet"] == {"path": path, "port": "metrics"}, (name, kind)
            # Startup outlasts the process's own tries to connect to Cassandra, which end with an
            # error of its own.
            startup = process["startupProbe"]
            waited = startup["periodSeconds"] * startup["failureThreshold"]
            assert waited > CassandraSettings.connect_timeout, name


def test_domain_services_count_as_available_only_after_staying_up(overlays):
    for name, resources in overlays.items():
        for service in DOMAIN_SERVICES:
            assert deployment(resources, service)["spec"]["minReadySeconds"] >= 10, (name, service)


def test_the_schema_job_runs_once_without_restarting_in_place(overlays):
    for name, resources in overlays.items():
        (job,) = of_kind(resources, "Job")
        assert pod_spec(job)["restartPolicy"] == "Never", name
        assert job["spec"]["backoffLimit"] >= 1, name


def test_one_image_for_every_process(overlays):
    compose_image = yaml.load(COMPOSE.read_text(), Loader=ComposeLoader)["x-backend"]["image"]  # noqa: S506
    for name, resources in overlays.items():
        images = {container(workload)["image"] for workload in workloads(resources)}
        assert len(images) == 1, (name, images)
        (image,) = images
        repository = image.rsplit(":", 1)[0]
        assert repository.rsplit("/", 1)[-1] == compose_image.split(":")[0], (name, image)


def test_production_runs_replicas_spread_under_disruption_budgets(overlays):
    resources = overlays["production"]
    budgets = of_kind(resources, "PodDisruptionBudget")
    for each in of_kind(resources, "Deployment"):
        name = each["metadata"]["name"]
        assert each["spec"]["replicas"] >= 2, name
        spread = pod_spec(each)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        labels = each["spec"]["template"]["metadata"]["labels"]
        for constraint in spread:
            assert selects(constraint["labelSelector"], labels), name
            assert "app.kubernetes.io/name" in constraint["matchLabelKeys"], name
        (budget,) = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert budget["spec"]["maxUnavailable"] < each["spec"]["replicas"], name


def test_every_disruption_budget_selects_the_pods_of_one_deployment(overlays):
    for name, resources in overlays.items():
        templates = [
            d["spec"]["template"]["metadata"]["labels"] for d in of_kind(resources, "Deployment")
        ]
        for budget in of_kind(resources, "PodDisruptionBudget"):
            matched = [
                labels for labels in templates if selects(budget["spec"]["selector"], labels)
            ]
            assert len(matched) == 1, (name, budget["metadata"]["name"])


def test_the_example_operator_resources_agree_with_the_settings(overlays):
    examples = KUBERNETES / "examples"
    rabbitmq = yaml.safe_load((examples / "rabbitmq.yaml").read_text())
    cassandra = yaml.safe_load((examples / "cassandra.yaml").read_text())
    assert (rabbitmq["apiVersion"], rabbitmq["kind"]) == ("rabbitmq.com/v1beta1", "RabbitmqCluster")
    assert rabbitmq["spec"]["replicas"] == 3
    assert (cassandra["apiVersion"], cassandra["kind"]) == (
        "k8ssandra.io/v1alpha1",
        "K8ssandraCluster",
    )
    (datacenter,) = cassandra["spec"]["cassandra"]["datacenters"]
    assert datacenter["size"] == 3

    # Not part of any overlay: the operators, not this site, own them.
    for name, resources in overlays.items():
        kinds = {resource["kind"] for resource in resources}
        assert not kinds & {"RabbitmqCluster", "K8ssandraCluster"}, name

    # The names the operators give their Services are the ones the settings use.
    settings = of_kind(overlays["production"], "ConfigMap")[0]["data"]
    dc = datacenter["metadata"]["name"]
    assert settings["CASSANDRA_CONTACT_POINTS"] == f"{cassandra['metadata']['name']}-{dc}-service"
    assert settings["CASSANDRA_LOCAL_DC"] == dc
    assert int(settings["CASSANDRA_REPLICATION_FACTOR"]) == datacenter["size"]
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    broker = urlsplit(secret["stringData"]["AMQP_URI"])
    assert (broker.scheme, broker.hostname, broker.port) == (
        "pyamqp",
        rabbitmq["metadata"]["name"],
        5672,
    )


def test_the_documented_first_apply_selects_the_settings_and_the_schema_job(overlays):
    """docs/deploying.md applies the ConfigMap and the schema Job first, by label, and waits."""
    docs = (ROOT / "docs" / "deploying.md").read_text()
    selector = re.search(r"kubectl apply -k \S+ -l '([\w./-]+) in \(([\w,]+)\)'", docs)
    key, values = selector.group(1), set(selector.group(2).split(","))
    assert "job/killrvideo-schema" in docs
    for name, resources in overlays.items():
        first = [r for r in resources if r["metadata"].get("labels", {}).get(key) in values]
        assert sorted(r["kind"] for r in first) == ["ConfigMap", "Job"], name
