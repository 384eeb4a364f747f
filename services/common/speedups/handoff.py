"""Running a green thread that was just given work before the one that gave it
(docs/internals.md, "handoff")."""

import eventlet

from services.common import speedups

VERSIONS = {"eventlet": "0.41.3"}
UPSTREAM = {}


def run_it_first() -> None:
    """Lets the green thread this one just spawned or woke run before this one goes on, when the
    patch is on. Not for the hub's own green thread (a timer's callback), which cannot yield to
    itself."""
    if speedups.enabled("handoff"):
        eventlet.sleep(0)
