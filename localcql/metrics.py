"""What the server counts, readable with CQL: `SELECT * FROM system_views.localcql_metrics`.

One set of counters per process (a process serves one localcql server): connections opened and
closed, requests by opcode, errors by code, and slow requests.
"""

from collections import Counter


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
