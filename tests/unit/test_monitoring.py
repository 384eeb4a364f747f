"""scripts/monitoring.py: the metrics port of each process of `make run`, and the Prometheus
configuration listing them (a real Prometheus reads it in tests/e2e/test_monitoring.py)."""

import socket

import yaml

from scripts.monitoring import ALERT_RULES, ScrapeTargets


def test_ports_follow_the_base_in_start_order_and_replicas_share_a_job(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICS_BASE_PORT", "9600")
    targets = ScrapeTargets(tmp_path, "127.0.0.1")
    envs = [targets.env_for(name) for name in ("localcql", "videos", "videos", "gateway")]

    assert [env["METRICS_PORT"] for env in envs] == ["9600", "9601", "9602", "9603"]
    assert envs[1]["OTEL_SERVICE_NAME"] == "videos"
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    scrapes = config["scrape_configs"]
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrapes}
    assert jobs == {
        "localcql": ["127.0.0.1:9600"],
        "videos": ["127.0.0.1:9601", "127.0.0.1:9602"],
        "gateway": ["127.0.0.1:9603"],
    }
    assert config["rule_files"] == [str(ALERT_RULES)]


def test_base_port_zero_picks_a_free_port_for_each(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICS_BASE_PORT", "0")
    targets = ScrapeTargets(tmp_path, "127.0.0.1")
    ports = {targets.env_for(name)["METRICS_PORT"] for name in ("videos", "gateway")}
    assert len(ports) == 2 and "0" not in ports


def test_a_port_taken_by_another_site_is_replaced_by_a_free_one(tmp_path, monkeypatch):
    with socket.socket() as other_site:
        other_site.bind(("127.0.0.1", 0))
        other_site.listen()
        taken = other_site.getsockname()[1]
        monkeypatch.setenv("METRICS_BASE_PORT", str(taken))
        port = ScrapeTargets(tmp_path, "127.0.0.1").env_for("localcql")["METRICS_PORT"]
    assert port != str(taken)
