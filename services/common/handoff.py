"""Running a green thread that was just given work before the one that gave it.

eventlet runs a green thread that another spawned or woke only once the other waits: a service's
consumer that spawns a worker for a request first returns through nameko, kombu and py-amqp and
re-arms its wait on the socket; the gateway's connection that starts a call first handles the
rest of what the client sent and re-arms its wait; the gateway's reply listener that wakes a call
with its answer does the same. None of that is anyone's latency, yet each time the caller of a
gRPC call waited for it. Yielding to the hub at once lets the woken thread run first, until it
next waits itself (for the database, the broker, or its reply), and the other after it.

Measured on GetVideo through the whole stack, with both ways alternating in rounds of 300 to 500
calls in one stack (a signal switching between them): in five runs, p50 2 to 8% lower with the
yields, lower in 59 of the 90 rounds.
"""

import eventlet


def run_it_first() -> None:
    """Lets the green thread this one just spawned or woke run before this one goes on. Not for
    the hub's own green thread (a timer's callback), which cannot yield to itself."""
    eventlet.sleep(0)
