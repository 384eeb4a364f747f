"""CQL data types: names, the cassandra-driver codec of each, Cassandra's sort order, literals.

A ``CqlType`` wraps the driver's type class (which does all encoding and decoding) with what the
engine needs on top: the CQL spelling stored in system_schema ('frozen<set<text>>'), whether a
collection is multi-cell (non-frozen, stored element by element), and a ``sort_key`` that orders
values the way Cassandra's comparators do, so SortedDicts keep rows in clustering order.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import uuid
from decimal import Decimal
from typing import NamedTuple

from cassandra import cqltypes, util

from localcql.api import InvalidRequest

PROTOCOL_VERSION = 4

SCALARS = [
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "counter",
    "date",
    "decimal",
    "double",
    "duration",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varchar",
    "varint",
]
COLLECTIONS = ("list", "set", "map")
_INTEGERS = {"bigint", "counter", "int", "smallint", "tinyint", "varint"}
_DECIMALS = {"decimal", "double", "float"}
_TEXTS = {"ascii", "text", "varchar"}
_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64, "counter": 64}


class CqlType:
    """One CQL type. Instances are immutable; compare them by ``cql``."""

    __slots__ = ("cql", "driver", "frozen", "name", "params", "sort_key", "udt")

    def __init__(
        self,
        name: str,
        params: tuple[CqlType, ...] = (),
        frozen: bool = False,
        udt: UserTypeName | None = None,
    ):
        self.name = "text" if name == "varchar" else name
        self.params = params
        # Tuples are always frozen in Cassandra.
        self.frozen = frozen or name == "tuple"
        self.udt = udt  # a user-defined type's keyspace, name and field names (name "udt")
        if udt is not None:
            inner = udt.name
            self.driver = _udt_driver_type(udt, params)
        else:
            inner = f"{name}<{', '.join(p.cql for p in params)}>" if params else name
            self.driver = _driver_type(name, inner, params)
        self.cql = f"frozen<{inner}>" if frozen else inner
        self.sort_key = _sort_key_function(self)

    def __repr__(self):
        return f"CqlType({self.cql})"

    def __eq__(self, other):
        return isinstance(other, CqlType) and other.cql == self.cql

    def __hash__(self):
        return hash(self.cql)

    @property
    def is_collection(self) -> bool:
        return self.name in COLLECTIONS

    @property
    def is_multicell(self) -> bool:
        """A non-frozen collection: stored, merged and deleted element by element."""
        return self.is_collection and not self.frozen

    @property
    def is_counter(self) -> bool:
        return self.name == "counter"

    def to_binary(self, value) -> bytes:
        return self.driver.to_binary(value, PROTOCOL_VERSION)

    def from_binary(self, data: bytes):
        return self.driver.from_binary(data, PROTOCOL_VERSION)

    def normalize(self, value):
        """The value in the exact form the driver would decode it to (also validates it)."""
        return self.from_binary(self.to_binary(value))


# The driver makes a new class per parameterized type, and making many slows every later one down
# (superlinearly), so each distinct type gets its class once.
_DRIVER_TYPES: dict[str, type] = {}


def _driver_type(name: str, spelling: str, params: tuple[CqlType, ...]) -> type:
    driver = _DRIVER_TYPES.get(spelling)
    if driver is None:
        base = cqltypes._cqltypes[name]
        driver = base.apply_parameters([p.driver for p in params]) if params else base
        _DRIVER_TYPES[spelling] = driver
    return driver


class UserTypeName(NamedTuple):
    keyspace: str
    name: str
    fields: tuple[str, ...]


def _udt_driver_type(udt: UserTypeName, params: tuple[CqlType, ...]) -> type:
    spelling = (
        f"{udt.keyspace}.{udt.name}<{', '.join(udt.fields)}|{', '.join(p.cql for p in params)}>"
    )
    driver = _DRIVER_TYPES.get(spelling)
    if driver is None:
        driver = cqltypes.UserType.make_udt_class(
            udt.keyspace, udt.name, list(udt.fields), [p.driver for p in params]
        )
        _DRIVER_TYPES[spelling] = driver
    return driver


def user_type(keyspace: str, name: str, fields: dict, is_frozen: bool = False) -> CqlType:
    """A user-defined type: fields maps each field name to its CqlType, in order."""
    udt = UserTypeName(keyspace, name, tuple(fields))
    return CqlType("udt", tuple(frozen(f) for f in fields.values()), is_frozen, udt)


class TypeRef:
    """A type as parsed, naming a user-defined type: resolved against the keyspace's types when
    the statement is planned (``resolve``)."""

    __slots__ = ("frozen", "name", "params")

    def __init__(self, name: str, params=(), is_frozen: bool = False):
        self.name, self.params, self.frozen = name, tuple(params), is_frozen

    def __repr__(self):
        return f"TypeRef({self.name}, {self.params}, frozen={self.frozen})"


def resolve(t, keyspace: str, types: dict[str, CqlType]) -> CqlType:
    """A parsed type with its user-defined types looked up in ``types`` (name -> type)."""
    if isinstance(t, CqlType):
        return t
    params = [resolve(p, keyspace, types) for p in t.params]
    if t.name in ("list", "set", "map", "tuple"):
        for p in params:
            if p.udt is not None and not p.frozen:
                raise InvalidRequest(
                    f"Non-frozen UDTs are not allowed inside collections: {t.name}<...>"
                )
        return make_type(t.name, params, t.frozen)
    found = types.get(t.name)
    if found is None:
        raise InvalidRequest(f"Unknown type {keyspace}.{t.name}")
    return frozen(found) if t.frozen else found


def parsed_type(name: str, params: list) -> CqlType | TypeRef:
    """The parser's type: a CqlType, or a TypeRef where a user-defined type is named."""
    name = name.lower()
    builtin = name in SCALARS or name in ("list", "set", "map", "tuple", "frozen")
    if builtin and not any(isinstance(p, TypeRef) for p in params):
        return make_type(name, params)
    if name == "frozen":
        if len(params) != 1:
            raise InvalidRequest("frozen<> is only allowed on collections, tuples, and UDTs")
        inner = params[0]
        return TypeRef(inner.name, inner.params, True)
    if params and not builtin:
        raise InvalidRequest(f"Type {name} does not take parameters")
    return TypeRef(name, params)


def frozen(t: CqlType) -> CqlType:
    if t.frozen or not t.params:
        return t
    return CqlType(t.name, t.params, frozen=True, udt=t.udt)


def make_type(name: str, params: list[CqlType], is_frozen: bool = False) -> CqlType:
    """Builds a type from its parsed spelling; raises InvalidRequest for unknown or bad types."""
    name = name.lower()
    if name == "frozen":
        if len(params) != 1 or not params[0].params:
            raise InvalidRequest("frozen<> is only allowed on collections, tuples, and UDTs")
        return frozen(params[0])
    if name in SCALARS:
        if params:
            raise InvalidRequest(f"Type {name} does not take parameters")
        return CqlType(name)
    expected = {"list": 1, "set": 1, "map": 2}.get(name)
    if name == "tuple" and params:
        return CqlType(name, tuple(frozen(p) for p in params))
    if expected is None:
        raise InvalidRequest(f"Unknown type {name}")
    if len(params) != expected:
        raise InvalidRequest(f"Invalid {name} type: expected {expected} type parameter(s)")
    for p in params:
        if p.is_counter:
            raise InvalidRequest("Counters are not allowed inside collections: " + name)
        if p.is_multicell:
            raise InvalidRequest("Non-frozen collections are not allowed inside collections")
    return CqlType(name, tuple(params), frozen=is_frozen)


# --------------------------------------------------------------------------- sort order
def _signed_bytes_key(data: bytes) -> bytes:
    """Orders bytes as Java compares signed bytes (0x80 lowest, 0x7f highest)."""
    return bytes(b ^ 0x80 for b in data)


def _timeuuid_key(u: uuid.UUID):
    return (u.time, _signed_bytes_key(u.bytes[8:]))


def _uuid_key(u: uuid.UUID):
    # Cassandra's UUIDType: version first, time-based uuids by time, then the raw bytes.
    if u.version == 1:
        return (1, u.time, _signed_bytes_key(u.bytes[8:]))
    return (u.version or 0, 0, u.bytes)


def _nullable(key):
    return lambda v: (0,) if v is None else (1, key(v))


def _sort_key_function(t: CqlType):
    name = t.name
    if name == "timeuuid":
        return _timeuuid_key
    if name == "uuid":
        return _uuid_key
    if name == "date":
        return lambda v: v.days_from_epoch
    if name == "time":
        return lambda v: v.nanosecond_time
    if name == "inet":
        return lambda v: ipaddress.ip_address(v).packed
    if name == "list":
        element = t.params[0].sort_key
        return lambda v: tuple(element(e) for e in v)
    if name == "set":
        element = t.params[0].sort_key
        return lambda v: tuple(sorted(element(e) for e in v))
    if name == "map":
        key, value = t.params[0].sort_key, t.params[1].sort_key
        return lambda v: tuple(sorted((key(k), value(x)) for k, x in v.items()))
    if name in ("tuple", "udt"):
        keys = [_nullable(p.sort_key) for p in t.params]
        return lambda v: tuple(k(x) for k, x in zip(keys, v, strict=False))
    return _identity


def _identity(v):
    return v


class Descending:
    """Wraps a sort key to reverse its order (clustering columns declared DESC)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other):
        return other.key < self.key if isinstance(other, Descending) else NotImplemented

    def __gt__(self, other):
        return other.key > self.key if isinstance(other, Descending) else NotImplemented

    def __le__(self, other):
        return other.key <= self.key if isinstance(other, Descending) else NotImplemented

    def __ge__(self, other):
        return other.key >= self.key if isinstance(other, Descending) else NotImplemented

    def __eq__(self, other):
        return isinstance(other, Descending) and other.key == self.key

    def __hash__(self):
        return hash(self.key)


class _Top:
    """Greater than every sort key: closes a clustering prefix range (prefix + (TOP,))."""

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return other is not self

    def __le__(self, other):
        return other is self

    def __ge__(self, other):
        return True

    def __eq__(self, other):
        return other is self

    __hash__ = object.__hash__


TOP = _Top()


# --------------------------------------------------------------------------- literals
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: str) -> datetime.datetime:
    """Cassandra's accepted timestamp literals, as a naive UTC datetime like the driver's."""
    match = _TIMESTAMP.match(text.strip())
    if not match:
        raise ValueError(f"Unable to coerce '{text}' to a formatted date (long)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0").ljust(9, "0")[:6])
    stamp = datetime.datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros
    )
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        stamp -= sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return stamp


_DURATION_UNITS = {  # unit -> (months, days, nanoseconds)
    "y": (12, 0, 0),
    "mo": (1, 0, 0),
    "w": (0, 7, 0),
    "d": (0, 1, 0),
    "h": (0, 0, 3_600_000_000_000),
    "m": (0, 0, 60_000_000_000),
    "s": (0, 0, 1_000_000_000),
    "ms": (0, 0, 1_000_000),
    "us": (0, 0, 1_000),
    "µs": (0, 0, 1_000),
    "ns": (0, 0, 1),
}
_ISO_DATE_UNITS = {"Y": "y", "M": "mo", "W": "w", "D": "d"}
_ISO_TIME_UNITS = {"H": "h", "M": "m", "S": "s"}


def parse_duration(text: str) -> util.Duration:
    """A duration literal: 1h30m style or ISO 8601 (P1Y2M3D, PT2H, P3W)."""
    negative = text.startswith("-")
    body = text.lstrip("-")
    if body.upper().startswith("P"):
        date, _, time_part = body[1:].partition("T")
        parts = [(n, _ISO_DATE_UNITS[u]) for n, u in re.findall(r"(\d+)([YMWD])", date)]
        parts += [(n, _ISO_TIME_UNITS[u]) for n, u in re.findall(r"(\d+)([HMS])", time_part)]
    else:
        parts = re.findall(r"(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)", body.lower())
    months = days = nanos = 0
    for number, unit in parts:
        m, d, n = _DURATION_UNITS[unit]
        months, days, nanos = (
            months + int(number) * m,
            days + int(number) * d,
            nanos + int(number) * n,
        )
    sign = -1 if negative else 1
    return util.Duration(sign * months, sign * days, sign * nanos)


_DATE = re.compile(r"^(-?\d+)-(\d{1,2})-(\d{1,2})$")


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, year 0 being 1 BC (ISO 8601, as
    Cassandra's java.time); Python's datetime stops at year 1."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_date(text: str) -> util.Date:
    """A date literal: 'yyyy-mm-dd' with any year, negative too ('-0001-01-01'), or a number
    of days where 2^31 is the epoch (Cassandra's SimpleDateSerializer)."""
    text = text.strip()
    if text.isdigit():
        return util.Date(int(text) - 2**31)
    match = _DATE.match(text)
    if not match:
        raise ValueError(f"Unable to coerce '{text}' to a formatted date (long)")
    year, month, day = (int(g) for g in match.groups())
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise ValueError(f"Unable to coerce '{text}' to a formatted date (long)")
    if year > 0:
        datetime.date(min(year, 9999), month, day)  # refuses 2021-02-30
    days = days_from_civil(year, month, day)
    if not -(2**31) <= days < 2**31:
        raise ValueError(f"Input date {text} is out of the supported range")
    return util.Date(days)


def parse_inet(text: str) -> str:
    """An inet literal. Like Java's InetAddress, which Cassandra parses them with, an
    IPv4-mapped IPv6 address (::ffff:1.2.3.4) is the IPv4 address."""
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def timestamp_millis(stamp: datetime.datetime) -> int:
    return (stamp - datetime.datetime(1970, 1, 1)) // datetime.timedelta(milliseconds=1)


def _integer(text):
    return int(text)


def _decimal_or_float(t: CqlType):
    return Decimal if t.name == "decimal" else float


# (literal kind, type name) -> converter from the literal's Python value
def _literal_converter(kind: str, t: CqlType):
    name = t.name
    if kind == "string":
        if name in _TEXTS:
            return str
        if name == "timestamp":
            return parse_timestamp
        if name == "date":
            return parse_date
        if name == "time":
            return util.Time
        if name == "inet":
            return parse_inet
    elif kind == "integer":
        if name in _INTEGERS:
            return _integer
        if name in _DECIMALS:
            return _decimal_or_float(t)
        if name == "timestamp":
            return _integer
    elif kind == "float":
        if name in _DECIMALS:
            return _decimal_or_float(t)
    elif kind == "duration":
        if name == "duration":
            return parse_duration
    elif kind == "boolean":
        if name == "boolean":
            return lambda s: s.lower() == "true"
    elif kind == "uuid":
        if name == "uuid":
            return uuid.UUID
        if name == "timeuuid":
            return _timeuuid
    elif kind == "hex" and name == "blob":
        return lambda s: bytes.fromhex(s[2:])
    return None


def _timeuuid(text):
    value = uuid.UUID(text)
    if value.version != 1:
        raise ValueError(f"Unsupported UUID type {value.version}, expected a time-based UUID")
    return value


def constant_value(kind: str, text: str, t: CqlType, receiver: str):
    """The canonical value of a literal constant for a receiver (column or marker) of type t."""
    convert = _literal_converter(kind, t)
    bad = f'Invalid {kind.upper()} constant ({text}) for "{receiver}" of type {t.cql}'
    if convert is None:
        raise InvalidRequest(bad)
    if kind == "integer" and t.name in _INTEGER_BITS:
        bits = _INTEGER_BITS[t.name]
        if not -(2 ** (bits - 1)) <= int(text) < 2 ** (bits - 1):
            raise InvalidRequest(f"{bad}: Unable to make {t.name} from '{text}'")
    try:
        return t.normalize(convert(text))
    except Exception as exc:  # the driver's codecs raise struct.error, TypeError, ...
        raise InvalidRequest(f"{bad}: {exc}") from exc
