"""Time as KillrVideo stores it: UTC, truncated to milliseconds (Cassandra's precision).

Truncating before writing AND before returning means a client that echoes back a returned
timestamp (as a paging starting point) matches the stored value exactly.
"""

from datetime import UTC, datetime, timedelta

from nameko.extensions import DependencyProvider

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_millis(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime with millisecond precision.

    cassandra-driver returns naive datetimes that are UTC; they are read as such.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch: a write's timestamp in CQL's USING TIMESTAMP."""
    return (to_millis(moment) - EPOCH) // timedelta(microseconds=1)


def utc_now() -> datetime:
    return to_millis(datetime.now(UTC))


class Clock(DependencyProvider):
    """Injects `now()`, so tests can move time (e.g. across day buckets)."""

    def get_dependency(self, worker_ctx):
        return utc_now
