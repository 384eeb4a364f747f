"""The metrics ports of `make run`'s processes, and the Prometheus configuration that scrapes them.

Each process the launcher starts gets a port of its own in the environment variable METRICS_PORT
(config.yaml; localcql reads it too), in start order from METRICS_BASE_PORT (9500 by default:
localcql 9500, then the services, then the gateway), or, with METRICS_BASE_PORT=0, a free port
picked by the launcher for each (the tests). A port already taken (another site on the same
machine) is replaced by a free one: the configuration names the ports in use. A process restarted by
the supervisor keeps its port. Each also gets OTEL_SERVICE_NAME, its name in traces.
`<var>/prometheus.yml` lists every process, a scrape job per name (the replicas of a
service are the targets of its job), and loads the alerting rules of docker/prometheus/alerts.yml:
`prometheus --config.file=var/prometheus.yml` monitors the site.
"""

import os
import socket
from pathlib import Path

from scripts.processes import ROOT

DEFAULT_BASE_PORT = 9500
SCRAPE_INTERVAL = "5s"
ALERT_RULES = ROOT / "docker" / "prometheus" / "alerts.yml"


def free_port(host: str, port: int = 0) -> int:
    """`port` if nothing listens on it yet, else (or for 0) one the system picks."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            sock.bind((host, 0))
        return sock.getsockname()[1]


class ScrapeTargets:
    def __init__(self, var_dir: Path, host: str):
        self.path = var_dir / "prometheus.yml"
        self.host = host
        self.base = int(os.environ.get("METRICS_BASE_PORT") or DEFAULT_BASE_PORT)
        # process name -> the metrics ports of its processes (replicas share a name and a job)
        self.ports: dict[str, list[int]] = {}

    def env_for(self, name: str) -> dict:
        """The environment of the process `name`: its metrics port, and its name for traces
        (used when OTEL_TRACES_EXPORTER turns them on). Writes the config anew."""
        taken = sum(len(ports) for ports in self.ports.values())
        port = free_port(self.host, 0 if self.base == 0 else self.base + taken)
        self.ports.setdefault(name, []).append(port)
        self.write()
        return {"METRICS_PORT": str(port), "OTEL_SERVICE_NAME": name}

    def write(self) -> None:
        lines = [
            "# Written by `make run` (scripts/monitoring.py): every process of this site.",
            "global:",
            f"  scrape_interval: {SCRAPE_INTERVAL}",
            f"  evaluation_interval: {SCRAPE_INTERVAL}",
            "rule_files:",
            f"  - {ALERT_RULES}",
            "scrape_configs:",
        ]
        for name, ports in self.ports.items():
            targets = ", ".join(f"'{self.host}:{port}'" for port in ports)
            lines += [f"  - job_name: {name}", "    static_configs:"]
            lines += [f"      - targets: [{targets}]"]
        self.path.write_text("\n".join(lines) + "\n")

    def summary(self) -> str:
        ports = sorted(port for ports in self.ports.values() for port in ports)
        return (
            f"  metrics (Prometheus): ports {', '.join(map(str, ports))}; "
            f"prometheus --config.file={self.path}"
        )
