"""CQL values to and from JSON, as Cassandra's toJSONString / fromJSONObject of each type.

SELECT JSON, toJson(), INSERT JSON and fromJson() use these. The JSON a type gives is the one
Cassandra 4.1 gives (docs: cql/json.html): numbers for numeric types, strings for the others
(timestamps as "2020-01-02 03:04:05.678Z", blobs as "0x...", durations as "1h30m"), arrays for
lists, sets and tuples, objects for maps, whose keys are strings (a non-text key's JSON quoted).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import math
import struct
import uuid

from cassandra import util

from localcql.api import InvalidRequest
from localcql.types import CqlType, parse_date, parse_duration, parse_inet, parse_timestamp

EPOCH = datetime.datetime(1970, 1, 1)
_INTEGERS = {"tinyint", "smallint", "int", "bigint", "varint", "counter"}
_TEXTS = {"ascii", "text"}


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --------------------------------------------------------------------------- to JSON
def to_json(t: CqlType, value) -> str:
    if value is None:
        return "null"
    name = t.name
    if name in _TEXTS:
        return quote(value)
    if name in _INTEGERS:
        return str(value)
    if name == "boolean":
        return "true" if value else "false"
    if name == "double":
        return _java_double(value, 17)
    if name == "float":
        return _java_double(value, 9)
    if name == "decimal":
        return str(value)
    if name in ("uuid", "timeuuid"):
        return quote(str(value))
    if name == "timestamp":
        millis = (value - EPOCH) // datetime.timedelta(milliseconds=1)
        stamp = EPOCH + datetime.timedelta(milliseconds=millis)
        return quote(stamp.strftime("%Y-%m-%d %H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z")
    if name == "date":
        return quote(str(value))
    if name == "time":
        return quote(str(value))
    if name == "blob":
        return quote("0x" + bytes(value).hex())
    if name == "inet":
        return quote(_java_host_address(value))
    if name == "duration":
        return quote(_duration_text(value))
    if name in ("list", "set"):
        element = t.params[0]
        return "[" + ", ".join(to_json(element, v) for v in value) + "]"
    if name == "tuple":
        items = zip(t.params, value, strict=False)
        return "[" + ", ".join(to_json(p, v) for p, v in items) + "]"
    if name == "udt":
        fields = zip(t.udt.fields, t.params, value, strict=False)
        return "{" + ", ".join(f"{quote(f)}: {to_json(p, v)}" for f, p, v in fields) + "}"
    if name == "map":
        key_type, value_type = t.params
        entries = []
        for k, v in value.items():
            key = to_json(key_type, k)
            if not key.startswith('"'):
                key = quote(key)
            entries.append(f"{key}: {to_json(value_type, v)}")
        return "{" + ", ".join(entries) + "}"
    raise InvalidRequest(f"localcql does not support JSON for type {t.cql}")


def _java_double(value: float, digits: int) -> str:
    """Java's Double/Float.toString: NaN, Infinity, 1.0, 1.5E10."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = repr(value) if digits == 17 else _shortest_float32(value)
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    number = abs(value)
    if not exponent and (number == 0 or 1e-3 <= number < 1e7):
        return mantissa
    # Scientific, as Java writes it: one digit before the point.
    sign = "-" if value < 0 else ""
    digits_text = f"{abs(decimal.Decimal(text)):E}"
    lead, _, power = digits_text.partition("E")
    lead = lead.rstrip("0").rstrip(".") if "." in lead else lead
    if "." not in lead:
        lead += ".0"
    return f"{sign}{lead}E{int(power)}"


def _shortest_float32(value: float) -> str:
    for precision in range(1, 10):
        text = f"{value:.{precision}g}"
        if struct.unpack(">f", struct.pack(">f", float(text)))[0] == value:
            return text
    return repr(value)


def _java_host_address(value: str) -> str:
    address = ipaddress.ip_address(value)
    if address.version == 4:
        return str(address)
    packed = address.packed  # Java prints every group, unabbreviated: 0:0:0:0:0:0:0:1
    return ":".join(f"{int.from_bytes(packed[i : i + 2], 'big'):x}" for i in range(0, 16, 2))


def _duration_text(value: util.Duration) -> str:
    """Cassandra's Duration.toString: 1y2mo3d4h5m6s7ms8us9ns, with a leading - if negative."""
    months, days, nanos = value.months, value.days, value.nanoseconds
    negative = months < 0 or days < 0 or nanos < 0
    months, days, nanos = abs(months), abs(days), abs(nanos)
    parts = []
    for amount, unit in ((months // 12, "y"), (months % 12, "mo"), (days, "d")):
        if amount:
            parts.append(f"{amount}{unit}")
    for size, unit in (
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ):
        if nanos >= size:
            parts.append(f"{nanos // size}{unit}")
            nanos %= size
    return ("-" if negative else "") + ("".join(parts) or "0s")


# --------------------------------------------------------------------------- from JSON
def loads(text: str):
    """JSON text as Python, decimals exact (Cassandra reads numbers with full precision)."""
    return json.loads(text, parse_float=decimal.Decimal)


def from_json(t: CqlType, value, receiver: str):
    """The value of a receiver of type t from parsed JSON; InvalidRequest if it does not fit."""
    try:
        converted = _from_json(t, value)
        # Through the type's codec: refuses what it cannot hold (an int of 2^31...).
        return None if converted is None else t.normalize(converted)
    except InvalidRequest:
        raise
    except Exception as exc:
        raise InvalidRequest(f"Error decoding JSON value for {receiver}: {exc}") from None


def _expect(value, kinds, what: str):
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"Expected {what}, but got a {type(value).__name__}: {value}")
    return value


def _from_json(t: CqlType, value):
    if value is None:
        return None
    name = t.name
    if name in _TEXTS:
        return _expect(value, (str,), "a UTF-8 string")
    if name in _INTEGERS:
        if isinstance(value, str):
            return int(value)
        if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
            return int(value)
        return _expect(value, (int,), "an integer")
    if name in ("float", "double"):
        if isinstance(value, str):
            return float(value)
        return float(_expect(value, (int, decimal.Decimal), "a number"))
    if name == "decimal":
        if isinstance(value, str):
            return decimal.Decimal(value)
        return decimal.Decimal(_expect(value, (int, decimal.Decimal), "a number"))
    if name == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return _expect(value, (bool,), "a boolean")
    if name == "uuid":
        return uuid.UUID(_expect(value, (str,), "a string"))
    if name == "timeuuid":
        parsed = uuid.UUID(_expect(value, (str,), "a string"))
        if parsed.version != 1:
            raise ValueError("Invalid version for TimeUUID type.")
        return parsed
    if name == "timestamp":
        if isinstance(value, int) and not isinstance(value, bool):
            return EPOCH + datetime.timedelta(milliseconds=value)
        return parse_timestamp(_expect(value, (str,), "a string"))
    if name == "date":
        return parse_date(_expect(value, (str,), "a string"))
    if name == "time":
        if isinstance(value, int) and not isinstance(value, bool):
            return util.Time(value)
        return util.Time(_expect(value, (str,), "a string"))
    if name == "blob":
        text = _expect(value, (str,), "a string")
        if not text.startswith("0x"):
            raise ValueError(f"String representation of blob is missing 0x prefix: {text}")
        return bytes.fromhex(text[2:])
    if name == "inet":
        return parse_inet(_expect(value, (str,), "a string"))
    if name == "duration":
        return parse_duration(_expect(value, (str,), "a string"))
    if name in ("list", "set"):
        element = t.params[0]
        items = [_from_json(element, v) for v in _expect(value, (list,), "a list")]
        if any(v is None for v in items):
            raise InvalidRequest("null is not supported inside collections")
        return t.normalize(items)
    if name == "tuple":
        items = _expect(value, (list,), "a list")
        if len(items) != len(t.params):
            raise ValueError(f"Tuple contains {len(items)} items, expected {len(t.params)}")
        return tuple(_from_json(p, v) for p, v in zip(t.params, items, strict=True))
    if name == "udt":
        document = _expect(value, (dict,), "a map")
        unknown = [f for f in document if f not in t.udt.fields]
        if unknown:
            raise ValueError(f"Unknown field '{unknown[0]}' in value of user defined type")
        return tuple(
            _from_json(p, document.get(f)) for f, p in zip(t.udt.fields, t.params, strict=True)
        )
    if name == "map":
        key_type, value_type = t.params
        result = {}
        for key, item in _expect(value, (dict,), "a map").items():
            parsed_key = key if key_type.name in _TEXTS else loads(key)
            converted = _from_json(key_type, parsed_key), _from_json(value_type, item)
            if None in converted:
                raise InvalidRequest("null is not supported inside collections")
            result[converted[0]] = converted[1]
        return t.normalize(dict(sorted(result.items(), key=lambda kv: key_type.sort_key(kv[0]))))
    raise InvalidRequest(f"localcql does not support JSON for type {t.cql}")
