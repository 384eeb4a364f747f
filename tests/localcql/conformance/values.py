"""YAML value convention and result comparison for the conformance corpus (see README.md)."""

from __future__ import annotations

import datetime
import math
import re
import struct
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from cassandra.query import UNSET_VALUE
from cassandra.util import Date, Duration, OrderedMap, SortedSet, Time

EPOCH = datetime.datetime(1970, 1, 1)


# --------------------------------------------------------------------------- tagged values
def parse_timestamp(text: str) -> datetime.datetime:
    """'2020-01-02 03:04:05.678' (UTC, naive, as the driver returns it); an optional 'T' and 'Z'."""
    text = text.strip().replace("T", " ").removesuffix("Z")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"bad !timestamp {text!r}")


def float32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


class Matcher:
    """An expectation that is not a plain value."""

    def matches(self, actual: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class AnyValue(Matcher):
    def matches(self, actual):
        return True

    def __repr__(self):
        return "!any"


class NotNull(Matcher):
    def matches(self, actual):
        return actual is not None

    def __repr__(self):
        return "!notnull"


class Between(Matcher):
    def __init__(self, low, high):
        self.low, self.high = low, high

    def matches(self, actual):
        try:
            return actual is not None and self.low <= actual <= self.high
        except TypeError:
            return False

    def __repr__(self):
        return f"!between [{self.low!r}, {self.high!r}]"


class UuidVersion(Matcher):
    def __init__(self, version: int):
        self.version = version

    def matches(self, actual):
        return isinstance(actual, uuid.UUID) and actual.version == self.version

    def __repr__(self):
        return f"!uuid_v{self.version}"


class RecentTimestamp(Matcher):
    """A timestamp within 10 minutes of the test's clock (UTC)."""

    def matches(self, actual):
        if not isinstance(actual, datetime.datetime):
            return False
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return abs((now - actual).total_seconds()) < 600

    def __repr__(self):
        return "!recent_timestamp"


class RecentMicros(Matcher):
    """A write time (microseconds since the epoch) within 10 minutes of the test's clock."""

    def matches(self, actual):
        if not isinstance(actual, int):
            return False
        now = datetime.datetime.now(datetime.UTC).timestamp() * 1_000_000
        return abs(now - actual) < 600 * 1_000_000

    def __repr__(self):
        return "!recent_micros"


class Regex(Matcher):
    def __init__(self, pattern: str):
        self.pattern = pattern

    def matches(self, actual):
        return isinstance(actual, str) and re.search(self.pattern, actual) is not None

    def __repr__(self):
        return f"!regex {self.pattern!r}"


class Loader(yaml.SafeLoader):
    pass


def _scalar(fn):
    return lambda loader, node: fn(loader.construct_scalar(node))


def _seq(fn):
    return lambda loader, node: fn(loader.construct_sequence(node, deep=True))


Loader.add_constructor("!uuid", _scalar(lambda s: uuid.UUID(s.strip())))
Loader.add_constructor("!timeuuid", _scalar(lambda s: uuid.UUID(s.strip())))
Loader.add_constructor("!timestamp", _scalar(parse_timestamp))


def parse_date(text: str) -> Date:
    """'2020-02-29', or a number of days since the epoch (dates Python cannot write: year < 1)."""
    text = text.strip()
    return Date(int(text)) if re.fullmatch(r"-?\d+", text) else Date(text)


Loader.add_constructor("!date", _scalar(parse_date))
Loader.add_constructor("!time", _scalar(lambda s: Time(s.strip())))
Loader.add_constructor(
    "!blob", _scalar(lambda s: bytes.fromhex(s.strip().removeprefix("0x").replace(" ", "")))
)
Loader.add_constructor("!decimal", _scalar(lambda s: Decimal(s.strip())))
Loader.add_constructor("!float", _scalar(lambda s: float32(float(s))))
Loader.add_constructor("!varint", _scalar(lambda s: int(s)))
Loader.add_constructor("!set", _seq(lambda items: SortedSet(items)))
Loader.add_constructor("!tuple", _seq(tuple))
Loader.add_constructor("!duration", _seq(lambda items: Duration(*items)))
Loader.add_constructor("!unset", lambda loader, node: UNSET_VALUE)
Loader.add_constructor("!any", lambda loader, node: AnyValue())
Loader.add_constructor("!notnull", lambda loader, node: NotNull())
Loader.add_constructor("!between", _seq(lambda items: Between(*items)))
Loader.add_constructor("!uuid_v1", lambda loader, node: UuidVersion(1))
Loader.add_constructor("!uuid_v4", lambda loader, node: UuidVersion(4))
Loader.add_constructor("!recent_timestamp", lambda loader, node: RecentTimestamp())
Loader.add_constructor("!recent_micros", lambda loader, node: RecentMicros())
Loader.add_constructor("!regex", _scalar(Regex))


def load_file(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader subclass
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of cases")
    return data


# --------------------------------------------------------------------------- placeholders
def substitute(value: Any, keyspace: str) -> Any:
    """Replace ``{ks}`` in every string (queries, params, expected values) by the case keyspace."""
    if isinstance(value, str):
        return value.replace("{ks}", keyspace)
    if isinstance(value, list):
        return [substitute(v, keyspace) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, keyspace) for v in value)
    if isinstance(value, dict):
        return {substitute(k, keyspace): substitute(v, keyspace) for k, v in value.items()}
    if isinstance(value, SortedSet):
        return SortedSet(substitute(v, keyspace) for v in value)
    return value


# --------------------------------------------------------------------------- comparison
def normalize(value: Any) -> Any:
    """A comparable, hashable form of a driver value or a YAML expectation."""
    if isinstance(value, Matcher) or value is None:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return ("nan",) if math.isnan(value) else value
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    if isinstance(value, Date):
        return ("date", value.days_from_epoch)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return ("timestamp", value)
    if isinstance(value, datetime.date):
        return ("date", (value - EPOCH.date()).days)
    if isinstance(value, Time):
        return ("time", value.nanosecond_time)
    if isinstance(value, datetime.time):
        return ("time", Time(value).nanosecond_time)
    if isinstance(value, Duration):
        return ("duration", value.months, value.days, value.nanoseconds)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, set | frozenset | SortedSet):
        return ("set", frozenset(normalize(v) for v in value))
    if isinstance(value, dict | OrderedMap):
        return ("map", frozenset((normalize(k), normalize(v)) for k, v in value.items()))
    if isinstance(value, tuple):
        return ("tuple", tuple(normalize(v) for v in value))
    if isinstance(value, list):
        return ("list", tuple(normalize(v) for v in value))
    return value


def values_match(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Matcher):
        return expected.matches(actual)
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(
            values_match(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return normalize(expected) == normalize(actual)


def row_matches(expected: list, actual: tuple) -> bool:
    if len(expected) != len(actual):
        return False
    return all(values_match(e, a) for e, a in zip(expected, actual, strict=True))


def rows_match(expected: list[list], actual: list[tuple], ordered: bool) -> bool:
    if len(expected) != len(actual):
        return False
    if ordered:
        return all(row_matches(e, a) for e, a in zip(expected, actual, strict=True))
    remaining = list(actual)
    for exp in expected:
        for i, act in enumerate(remaining):
            if row_matches(exp, act):
                del remaining[i]
                break
        else:
            return False
    return True
