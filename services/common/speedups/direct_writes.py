"""cassandra-driver's eventlet connection, the one place the project names the driver's eventlet
reactor (deprecated in cassandra-driver 3.30: docs/internals.md, "The reactor's runway"), and a
subclass of it that sends each request from the green thread that makes it (docs/internals.md,
"direct_writes")."""

import logging

import eventlet
from cassandra.io.eventletreactor import EventletConnection
from eventlet import hubs
from eventlet.semaphore import Semaphore

from services.common import speedups

VERSIONS = {"cassandra-driver": "3.30.1", "eventlet": "0.41.3"}
UPSTREAM = {
    "cassandra.io.eventletreactor.EventletConnection.push": "6c8e6840430d08ec",
    "cassandra.io.eventletreactor.EventletConnection.create_timer": "194bd6cd92b9d8f5",
    "cassandra.io.eventletreactor.EventletConnection.handle_write": "269eb2c12e41a22e",
}

log = logging.getLogger(__name__)


def eventlet_connection_class() -> type:
    """The driver's connection class for a process on eventlet: nameko's green threads must
    cooperate with the driver's I/O."""
    return DirectWriteConnection if speedups.enabled("direct_writes") else EventletConnection


class DirectWriteConnection(EventletConnection):
    """The driver's eventlet connection, sending a request from the green thread that makes it.

    The stock one queues every request for a writer green thread of the connection. Here the
    caller writes it, one writer at a time (a write may yield on a full socket, and requests
    must not interleave). A failed write fails the connection, as the writer thread would, and
    with it the requests in flight, this one included. A request the connection's reader makes (the
    driver re-preparing a statement as it reads an answer) still goes through the writer: a
    reader waiting for room to write could wait on a server that waits for it to read."""

    def __init__(self, *args, **kwargs):
        self.writing = Semaphore()  # before the connection's first request (its OPTIONS)
        super().__init__(*args, **kwargs)

    @classmethod
    def create_timer(cls, timeout, callback):
        """A request's deadline, as a timer of the hub, rather than in the driver's own list
        that its timer green thread is woken for on every request. The callback runs in a green
        thread of its own, as it does there: it takes the request's locks, which the hub itself
        must never wait on."""
        return hubs.get_hub().schedule_call_global(timeout, eventlet.spawn_n, callback)

    def push(self, data):
        if eventlet.getcurrent() is self._read_watcher:
            return super().push(data)
        try:
            with self.writing:
                self._socket.sendall(data)
        except OSError as error:
            log.debug("Exception during socket send for %s: %s", self, error)
            self.defunct(error)
