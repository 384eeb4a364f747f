"""What the server counts, readable with CQL: `SELECT * FROM system_views.localcql_metrics`.

One set of counters per process (a process serves one localcql server): connections opened and
closed, requests by opcode, errors by code, and slow requests. With `--metrics-port`, the same
counters in Prometheus form at http://HOST:PORT/metrics (PrometheusCounters).
"""

from collections import Counter

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self):
        self.counts = Counter()

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] += by

    def rows(self) -> list[tuple[str, int]]:
        counts = dict(self.counts)
        counts["connections.open"] = counts.get("connections.opened", 0) - counts.get(
            "connections.closed", 0
        )
        return sorted(counts.items())


METRICS = Metrics()


class PrometheusCounters(Collector):
    """The counters as Prometheus metrics: localcql_requests_total{opcode},
    localcql_errors_total{error}, localcql_slow_requests_total, localcql_connections_opened_total,
    localcql_connections_closed_total and the gauge localcql_connections_open."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self):
        requests = CounterMetricFamily(
            "localcql_requests", "CQL protocol requests, by opcode", labels=["opcode"]
        )
        errors = CounterMetricFamily(
            "localcql_errors", "Requests answered with an error, by error", labels=["error"]
        )
        counts = dict(self.metrics.rows())
        for name, value in counts.items():
            family, _, label = name.partition(".")
            if family == "requests" and label != "slow":
                requests.add_metric([label], value)
            elif family == "errors":
                errors.add_metric([label], value)
        yield requests
        yield errors
        yield CounterMetricFamily(
            "localcql_slow_requests",
            "Requests slower than --slow-request-ms",
            value=counts.get("requests.slow", 0),
        )
        for what in ("opened", "closed"):
            yield CounterMetricFamily(
                f"localcql_connections_{what}",
                f"Client connections {what}",
                value=counts.get(f"connections.{what}", 0),
            )
        yield GaugeMetricFamily(
            "localcql_connections_open", "Client connections open now", counts["connections.open"]
        )
