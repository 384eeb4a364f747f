"""Request deadlines: when the caller of the request a worker runs gives up, and the time left.

Every RPC carries its caller's deadline in nameko's context data (DEADLINE_KEY, the AMQP header
``nameko.deadline``), so nameko's own clients pass it on: a service calling another hands on the
deadline it was given, and a standalone client (`nameko shell`) sends one if it is made with
``context_data=deadlines.within(seconds)``. A request without one has no deadline.

The deadline is an absolute time (seconds since the epoch): the clocks of the hosts running the
gateway and the services must be in sync (NTP), or a service drops requests too early (its clock
ahead) or runs them a little late (behind). The gateway's clients also set the broker's own
per-message expiration, which needs no clock, for requests still queued.

A domain service (services.common.rpc) drops a request whose deadline has passed instead of
running it, and its database queries (services.common.cassandra) get no more than the time left:
a worker's green thread knows its request's deadline (current(), time_left()) from the start of
its method, set by the service's CassandraRepository (every domain service has one). The events
a request publishes do not carry its deadline (services.common.events).
"""

import contextvars
import time
from collections import Counter

DEADLINE_KEY = "deadline"

# The share of a request's time left that one database query may take: the rest is for the
# service's answer to travel back to its caller before the caller gives up.
QUERY_SHARE = 0.9
# What a query still gets once its request has run past its deadline (the caller has given up):
# little, so that the rest of that request fails fast instead of running late.
MIN_QUERY_TIMEOUT = 0.1

# Requests dropped because their deadline had passed, by "service.method" (for metrics).
dropped = Counter()

_current = contextvars.ContextVar("request_deadline", default=None)


def within(seconds: float) -> dict:
    """Context data giving a request `seconds` from now (for a nameko client's context_data)."""
    return {DEADLINE_KEY: time.time() + seconds}


def without_deadline(context_data: dict) -> dict:
    """Context data to hand on to work that is not the request's own (an event it publishes)."""
    return {key: value for key, value in context_data.items() if key != DEADLINE_KEY}


def deadline_of(context_data: dict) -> float | None:
    """The deadline a request's context data carries, if any (anything not a number is none)."""
    deadline = context_data.get(DEADLINE_KEY)
    if isinstance(deadline, int | float) and not isinstance(deadline, bool):
        return float(deadline)
    return None


def seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.time()


def has_passed(deadline: float | None) -> bool:
    return deadline is not None and time.time() >= deadline


def enter(context_data: dict) -> None:
    """Makes a request's deadline the current one, for the green thread that runs it (each green
    thread has its own: a worker's is its request's)."""
    _current.set(deadline_of(context_data))


def current() -> float | None:
    """The deadline of the request this green thread runs, if it has one."""
    return _current.get()


def time_left() -> float | None:
    """Seconds until the current request's deadline (negative once passed); None without one."""
    return seconds_left(_current.get())


def query_timeout(default: float) -> float:
    """The timeout of one database query of the current request: `default`, and at most its
    share of the time left."""
    left = time_left()
    if left is None:
        return default
    return min(default, max(left * QUERY_SHARE, MIN_QUERY_TIMEOUT))
