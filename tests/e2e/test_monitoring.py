"""Monitoring of `make run`: every process serves Prometheus metrics on a port of its own, and a
real Prometheus, configured by the var/prometheus.yml the launcher writes, scrapes them all and
evaluates the dashboard's panels and the alerting rules (docker/grafana, docker/prometheus).

Needs Debian's prometheus package (`make test` installs it: scripts/ensure_prometheus.py).
"""

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import grpc
import pytest
import yaml

from killrvideo.common.common_types_pb2 import Uuid
from killrvideo.video_catalog import video_catalog_service_pb2, video_catalog_service_pb2_grpc
from scripts.monitoring import ALERT_RULES
from scripts.processes import ROOT, Child
from scripts.run import READY_LINE
from services import DOMAIN_SERVICES
from tests.e2e.make_run import READY_SECONDS, MakeRun, site_environment
from tests.e2e.stack import free_port
from tests.waiting import wait_until

DASHBOARD = ROOT / "docker" / "grafana" / "dashboards" / "killrvideo.json"
GET_VIDEO_CALLS = 5
SCRAPED_SECONDS = 60  # a few scrape intervals (5 s) and rule evaluations


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own servers)
        return response.read().decode()


def prometheus_api(address: str, path: str, **params) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    reply = json.loads(http_get(f"http://{address}/api/v1/{path}{query}"))
    assert reply["status"] == "success", reply
    return reply["data"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`make run` with free metrics ports, after a few gRPC calls: its environment."""
    var_dir = tmp_path_factory.mktemp("monitored") / "var"
    with site_environment(var_dir) as env:
        env = {**env, "METRICS_BASE_PORT": "0"}
        running = MakeRun(env)
        try:
            running.wait_for(READY_LINE, READY_SECONDS)
            video_id = make_calls(env)
            config = Path(env["KILLRVIDEO_VAR_DIR"]) / "prometheus.yml"
            assert f"prometheus --config.file={config}" in "".join(running.output), "the banner"
            yield {**env, "SUBMITTED_VIDEO_ID": video_id}
        finally:
            running.interrupt()


def make_calls(env) -> str:
    """A SubmitYouTubeVideo, then GET_VIDEO_CALLS GetVideo of it: the video's id."""
    with grpc.insecure_channel(f"127.0.0.1:{env['GRPC_BIND_PORT']}") as channel:
        videos = video_catalog_service_pb2_grpc.VideoCatalogServiceStub(channel)
        submitted = video_catalog_service_pb2.SubmitYouTubeVideoRequest(
            video_id=Uuid(value=str(uuid.uuid4())),
            user_id=Uuid(value=str(uuid.uuid4())),
            name="Monitored cats",
            description="watched",
            tags=["monitoring"],
            you_tube_video_id="dQw4w9WgXcQ",
        )
        videos.SubmitYouTubeVideo(submitted, timeout=10)
        for _ in range(GET_VIDEO_CALLS):
            videos.GetVideo(
                video_catalog_service_pb2.GetVideoRequest(video_id=submitted.video_id), timeout=10
            )
    return submitted.video_id.value


def scrape_targets(env) -> dict[str, str]:
    """job name -> host:port (one process each here), from the launcher's var/prometheus.yml."""
    config = yaml.safe_load((ROOT / env["KILLRVIDEO_VAR_DIR"] / "prometheus.yml").read_text())
    jobs = {}
    for job in config["scrape_configs"]:
        [static] = job["static_configs"]
        [jobs[job["job_name"]]] = static["targets"]
    return jobs


def test_every_process_serves_its_metrics(site):
    targets = scrape_targets(site)
    assert set(targets) == {"localcql", *DOMAIN_SERVICES, "gateway"}
    assert len(set(targets.values())) == len(targets), "a port of its own for each process"
    metrics = {job: http_get(f"http://{target}/metrics") for job, target in targets.items()}

    gateway = metrics["gateway"]
    assert f'killrvideo_grpc_requests_total{{code="OK",method="GetVideo"}} {GET_VIDEO_CALLS}.0' in (
        gateway
    )
    assert 'killrvideo_grpc_request_duration_seconds_count{method="GetVideo"}' in gateway
    assert 'killrvideo_grpc_request_size_bytes_count{method="GetVideo"}' in gateway
    assert "killrvideo_grpc_requests_in_flight 0.0" in gateway

    videos = metrics["videos"]
    expected = 'killrvideo_rpc_requests_total{method="get_video",outcome="ok",service="videos"}'
    assert f"{expected} {GET_VIDEO_CALLS}.0" in videos
    assert 'killrvideo_workers_max{service="videos"} 10.0' in videos
    assert 'killrvideo_cql_hosts_up{service="videos"} 1.0' in videos
    assert 'statement="select videos"' in videos, "queries labelled by verb and table"

    # The SubmitYouTubeVideo's event, handled by search and suggestions.
    for service, handler in (("search", "index_video"), ("suggestions", "remember_video")):
        wait_until(
            lambda service=service, handler=handler: (
                f'handler="{handler}",outcome="ok",service="{service}"'
                in http_get(f"http://{targets[service]}/metrics")
            ),
            30,
            f"{service}.{handler} counted the event it handled",
        )
    assert 'localcql_requests_total{opcode="EXECUTE"}' in metrics["localcql"]

    # Beside its metrics, each nameko process answers the probes (services/common/health.py).
    for job, target in targets.items():
        if job != "localcql":
            assert http_get(f"http://{target}/healthz") == "alive\n", job
            assert http_get(f"http://{target}/readyz") == "ready\n", job
    assert not [job for job, text in metrics.items() if site["SUBMITTED_VIDEO_ID"] in text], (
        "no id in a label"
    )


@pytest.fixture(scope="module")
def prometheus(site, tmp_path_factory):
    """A Prometheus server scraping the site as its var/prometheus.yml says: its address."""
    if not shutil.which("prometheus"):
        pytest.fail("Prometheus is not installed: `make prometheus` installs it")
    address = f"127.0.0.1:{free_port()}"
    storage = tmp_path_factory.mktemp("prometheus-data")
    server = Child(
        "prometheus",
        [
            "prometheus",
            f"--config.file={ROOT / site['KILLRVIDEO_VAR_DIR'] / 'prometheus.yml'}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address={address}",
        ],
        dict(site),
        lambda name, line: None,
    ).start()
    try:
        wait_until(lambda: ready(address), 30, "Prometheus is ready")
        yield address
    finally:
        server.stop()


def ready(address: str) -> bool:
    try:
        http_get(f"http://{address}/-/ready")
    except OSError:
        return False
    return True


def test_the_config_and_rules_pass_promtool(site):
    config = ROOT / site["KILLRVIDEO_VAR_DIR"] / "prometheus.yml"
    for command in (["check", "config", str(config)], ["check", "rules", str(ALERT_RULES)]):
        checked = subprocess.run(["promtool", *command], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prometheus_scrapes_every_process_and_evaluates_the_dashboard_and_alerts(site, prometheus):
    def targets_up():
        targets = prometheus_api(prometheus, "targets")["activeTargets"]
        return len(targets) == 9 and all(t["health"] == "up" for t in targets)

    wait_until(targets_up, SCRAPED_SECONDS, "every process of the site is scraped and up")

    def get_video_calls() -> float:
        query = 'sum(killrvideo_grpc_requests_total{method="GetVideo",code="OK"})'
        result = prometheus_api(prometheus, "query", query=query)["result"]
        return float(result[0]["value"][1]) if result else 0.0

    # Calls after Prometheus has seen the counters once, so that their rates are not zero.
    wait_until(lambda: get_video_calls() == GET_VIDEO_CALLS, SCRAPED_SECONDS, "calls scraped")
    make_calls(site)
    wait_until(lambda: get_video_calls() == 2 * GET_VIDEO_CALLS, SCRAPED_SECONDS, "new calls")

    panels = [
        panel for panel in json.loads(DASHBOARD.read_text())["panels"] if panel.get("targets")
    ]

    def panels_show_the_calls():
        results = {
            panel["title"]: prometheus_api(prometheus, "query", query=target["expr"])["result"]
            for panel in panels
            for target in panel["targets"]
        }
        # The traffic panels show the calls made (a rate over the last minute: not zero), once
        # the gateway's and the videos service's scrapes both came after them.
        api = [
            r
            for r in results["Traffic per API method"]
            if r["metric"]["method"] == "GetVideo" and float(r["value"][1])
        ]
        services = [
            r
            for r in results["Traffic per service"]
            if r["metric"] == {"service": "videos", "method": "get_video"} and float(r["value"][1])
        ]
        return api and services

    # Every panel's query evaluates (prometheus_api fails on an error) and the traffic shows.
    wait_until(panels_show_the_calls, SCRAPED_SECONDS, "the traffic panels show the calls")

    def rules_evaluated():
        groups = prometheus_api(prometheus, "rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules and all(rule["health"] == "ok" for rule in rules) and rules

    rules = wait_until(rules_evaluated, SCRAPED_SECONDS, "every alerting rule evaluates")
    assert {rule["name"] for rule in rules} == {
        "KillrVideoHighErrorRatio",
        "KillrVideoSlowCalls",
        "KillrVideoDeadLetters",
        "KillrVideoProcessDown",
    }
    assert not [rule for rule in rules if rule["state"] == "firing"], "a healthy site"
