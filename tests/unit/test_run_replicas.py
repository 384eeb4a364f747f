"""`make run`'s <SERVICE>_REPLICAS: how many processes of each service, their names, and the
order in which they stop (a replica with its service, after the gateway, before the database)."""

import pytest

from scripts import run
from scripts.run import BadReplicas, replica_names, replicas, service_of


def test_one_process_per_service_unless_its_replicas_variable_says_more():
    counts = replicas({"VIDEOS_REPLICAS": "3", "SEARCH_REPLICAS": "", "GATEWAY_REPLICAS": "2"})
    assert counts["videos"] == 3
    assert counts["search"] == 1 and counts["users"] == 1
    assert "gateway" not in counts, "the gateway listens on one port: one process"


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_replicas_variable_that_is_not_a_whole_number_from_1_is_refused(value):
    with pytest.raises(
        BadReplicas, match=f"USERS_REPLICAS must be a whole number from 1, not '{value}'"
    ):
        replicas({"USERS_REPLICAS": value})


def test_replicas_are_named_after_their_service():
    assert replica_names("videos", 1) == ["videos"]
    assert replica_names("videos", 3) == ["videos-1", "videos-2", "videos-3"]
    assert [service_of(name) for name in ("videos-2", "videos", "gateway", "localcql")] == [
        "videos",
        "videos",
        "gateway",
        "localcql",
    ]


def test_replicas_stop_with_their_service(monkeypatch):
    stopped = []
    monkeypatch.setattr(
        run, "stop_together", lambda group: stopped.append(sorted(p.name for p in group))
    )

    class Named:
        def __init__(self, name):
            self.name = name

    run.stop_in_order([Named(n) for n in ("localcql", "videos-1", "videos-2", "users", "gateway")])
    assert stopped == [["gateway"], ["users", "videos-1", "videos-2"], ["localcql"]]
