"""Terms (literals, bind markers, function calls) compiled into getters, and native functions.

A compiled term is a function ``get(ctx) -> value``, ctx being the execution ``Context``: constants
are converted once at PREPARE, bind markers read the decoded bound value, non-deterministic
functions (now(), uuid()) run at each execution.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cassandra import util

from localcql.api import UNSET, ColumnSpec, InvalidRequest
from localcql.cql import ast
from localcql.cqljson import from_json, loads
from localcql.types import SCALARS, CqlType, constant_value, timestamp_millis

EPOCH = datetime.datetime(1970, 1, 1)


@dataclass
class Context:
    """What one execution sees: bound values, the time, the options."""

    values: list
    now_micros: int
    options: Any
    session: Any

    @property
    def now_seconds(self) -> int:
        return self.now_micros // 1_000_000


class Binder:
    """Collects the receiver (name and type) of every bind marker of a statement."""

    def __init__(self, keyspace: str, table: str):
        self.keyspace, self.table = keyspace, table
        self.specs: dict[int, ColumnSpec] = {}
        self.types: dict[int, CqlType] = {}
        # What each marker binds to (a column name, or "[limit]", "in(k)"...), whatever its name.
        self.receivers: dict[int, str] = {}

    def bind(self, marker: ast.Marker, name: str, cql_type: CqlType):
        self.specs[marker.index] = ColumnSpec(
            self.keyspace, self.table, marker.name or name, cql_type.driver
        )
        self.types[marker.index] = cql_type
        self.receivers[marker.index] = name
        index = marker.index
        return lambda ctx: ctx.values[index]


class Getter:
    """A compiled term: call it with a Context. ``constant`` tells whether it can be folded."""

    __slots__ = ("constant", "get")

    def __init__(self, get: Callable, constant: bool):
        self.get = get
        self.constant = constant

    def __call__(self, ctx):
        return self.get(ctx)


def const(value) -> Getter:
    return Getter(lambda ctx: value, True)


def compile_term(term, cql_type: CqlType, receiver: str, binder: Binder) -> Getter:
    if isinstance(term, ast.Constant):
        if term.kind == "null":
            return const(None)
        return const(constant_value(term.kind, term.value, cql_type, receiver))
    if isinstance(term, ast.Marker):
        return Getter(binder.bind(term, receiver, cql_type), False)
    if isinstance(term, ast.Collection):
        return _compile_collection(term, cql_type, receiver, binder)
    if isinstance(term, ast.Tuple):
        if cql_type.name != "tuple":
            raise InvalidRequest(f"Invalid tuple literal for {receiver} of type {cql_type.cql}")
        if len(term.items) > len(cql_type.params):
            raise InvalidRequest(
                f"Invalid tuple literal for {receiver}: too many elements. Type {cql_type.cql} "
                f"expects {len(cql_type.params)} but got {len(term.items)}"
            )
        receivers = [receiver] * len(term.items)
        return compile_tuple_items(term.items, cql_type.params, receivers, binder)
    if isinstance(term, ast.FunctionCall):
        return compile_function_term(term, cql_type, receiver, binder)
    if isinstance(term, ast.UserTypeLiteral):
        return _compile_user_type(term, cql_type, receiver, binder)
    raise InvalidRequest(f"localcql does not support this term: {term}")


def _compile_user_type(term: ast.UserTypeLiteral, t: CqlType, receiver: str, binder: Binder):
    """{street: 'x', zip: 1}: a value with every field of the type, those not given null."""
    if t.udt is None:
        raise InvalidRequest(f"Invalid user type literal for {receiver} of type {t.cql}")
    given = dict(term.fields)
    unknown = [name for name in given if name not in t.udt.fields]
    if unknown:
        raise InvalidRequest(
            f"Unknown field '{unknown[0]}' in value of user defined type {t.udt.name}"
        )
    items = [
        compile_term(given[name], field_type, f"{receiver}.{name}", binder)
        if name in given
        else const(None)
        for name, field_type in zip(t.udt.fields, t.params, strict=True)
    ]
    return _combine(items, lambda values: t.normalize(tuple(values)))


def compile_tuple_items(items, types, receivers, binder: Binder) -> Getter:
    """A tuple literal whose items have receivers of their own: in ``(c1, c2) > (?, ?)`` each
    marker is named after its column, as in Cassandra."""
    getters = [
        compile_term(t, p, r, binder) for t, p, r in zip(items, types, receivers, strict=False)
    ]
    return _combine(getters, lambda values: tuple(values))


def _combine(items: list[Getter], build: Callable) -> Getter:
    def get(ctx):
        return build([item(ctx) for item in items])

    getter = Getter(get, all(i.constant for i in items))
    if getter.constant:
        return const(get(None))
    return getter


def check_no_nulls(elements) -> None:
    """Cassandra refuses a null (or unset) element, key or value inside a collection."""
    for element in elements:
        if element is None or element is UNSET:
            raise InvalidRequest("null is not supported inside collections")


def _compile_collection(term: ast.Collection, t: CqlType, receiver: str, binder: Binder):
    kind = term.kind
    if kind == "set" and not term.items and t.name == "map":
        kind = "map"  # {} is both the empty set and the empty map
    if t.name != kind:
        raise InvalidRequest(f"Invalid {kind} literal for {receiver} of type {t.cql}")
    multicell = t.is_multicell
    if kind == "map":
        key_type, value_type = t.params
        keys = [compile_term(k, key_type, receiver, binder) for k, _ in term.items]
        values = [compile_term(v, value_type, receiver, binder) for _, v in term.items]
        half = len(keys)

        def build_map(items):
            check_no_nulls(items)
            pairs = sorted(
                zip(items[:half], items[half:], strict=True),
                key=lambda kv: key_type.sort_key(kv[0]),
            )
            result = dict(pairs)
            return None if multicell and not result else t.normalize(result)

        return _combine(keys + values, build_map)
    element_type = t.params[0]
    items = [compile_term(e, element_type, receiver, binder) for e in term.items]
    if kind == "list":

        def build_list(values):
            check_no_nulls(values)
            return None if multicell and not values else t.normalize(values)

        return _combine(items, build_list)

    def build_set(values):
        check_no_nulls(values)
        unique = {element_type.sort_key(v): v for v in values}
        ordered = [unique[k] for k in sorted(unique)]
        return None if multicell and not ordered else t.normalize(ordered)

    return _combine(items, build_set)


# --------------------------------------------------------------------------- native functions
@dataclass
class Function:
    name: str
    arg_types: list[str]  # CQL type names
    return_type: str
    impl: Callable  # impl(ctx, *args); None args short-circuit to None
    deterministic: bool = True


def _timeuuid_millis(value: uuid.UUID) -> int:
    return (value.time - 0x01B21DD213814000) // 10_000


def _as_datetime(millis: int) -> datetime.datetime:
    return EPOCH + datetime.timedelta(milliseconds=millis)


def _date_of(stamp: datetime.datetime) -> util.Date:
    return util.Date((stamp - EPOCH) // datetime.timedelta(days=1))


def _now_timeuuid(ctx) -> uuid.UUID:
    return util.uuid_from_time(ctx.now_micros / 1_000_000)


def _timeuuid_bound(stamp: datetime.datetime, extra: int, low_bits: int) -> uuid.UUID:
    """Cassandra's min/maxTimeuuid: the millisecond's first or last 100ns tick, fixed low bits
    (which compare lowest or highest as signed bytes)."""
    ticks = timestamp_millis(stamp) * 10_000 + 0x01B21DD213814000 + extra
    high = (
        (ticks & 0xFFFFFFFF) << 32
        | ((ticks >> 32) & 0xFFFF) << 16
        | 0x1000
        | (ticks >> 48) & 0x0FFF
    )
    return uuid.UUID(int=high << 64 | low_bits)


def _max_timeuuid(stamp: datetime.datetime) -> uuid.UUID:
    return _timeuuid_bound(stamp, 9999, 0x7F7F7F7F7F7F7F7F)


def _min_timeuuid(stamp: datetime.datetime) -> uuid.UUID:
    return _timeuuid_bound(stamp, 0, 0x8080808080808080)


_FUNCTIONS: dict[str, list[Function]] = {}


def _register(*functions: Function) -> None:
    for f in functions:
        _FUNCTIONS.setdefault(f.name, []).append(f)


_register(
    Function("now", [], "timeuuid", _now_timeuuid, deterministic=False),
    Function("currenttimeuuid", [], "timeuuid", _now_timeuuid, deterministic=False),
    Function("uuid", [], "uuid", lambda ctx: uuid.uuid4(), deterministic=False),
    Function(
        "currenttimestamp",
        [],
        "timestamp",
        lambda ctx: _as_datetime(ctx.now_micros // 1000),
        deterministic=False,
    ),
    Function(
        "currentdate",
        [],
        "date",
        lambda ctx: _date_of(_as_datetime(ctx.now_micros // 1000)),
        deterministic=False,
    ),
    Function(
        "totimestamp", ["timeuuid"], "timestamp", lambda c, u: _as_datetime(_timeuuid_millis(u))
    ),
    Function(
        "totimestamp",
        ["date"],
        "timestamp",
        lambda c, d: _as_datetime(d.days_from_epoch * 86400000),
    ),
    Function("dateof", ["timeuuid"], "timestamp", lambda c, u: _as_datetime(_timeuuid_millis(u))),
    Function(
        "todate", ["timeuuid"], "date", lambda c, u: _date_of(_as_datetime(_timeuuid_millis(u)))
    ),
    Function("todate", ["timestamp"], "date", lambda c, t: _date_of(t)),
    Function("tounixtimestamp", ["timeuuid"], "bigint", lambda c, u: _timeuuid_millis(u)),
    Function("tounixtimestamp", ["timestamp"], "bigint", lambda c, t: timestamp_millis(t)),
    Function("tounixtimestamp", ["date"], "bigint", lambda c, d: d.days_from_epoch * 86400000),
    Function("unixtimestampof", ["timeuuid"], "bigint", lambda c, u: _timeuuid_millis(u)),
    Function("mintimeuuid", ["timestamp"], "timeuuid", lambda c, t: _min_timeuuid(t)),
    Function("maxtimeuuid", ["timestamp"], "timeuuid", lambda c, t: _max_timeuuid(t)),
)
for _name in SCALARS:
    if _name in ("counter", "blob"):
        continue
    _type = CqlType(_name)
    _register(
        Function(f"{_name}asblob", [_name], "blob", lambda c, v, t=_type: t.to_binary(v)),
        Function(f"blobas{_name}", ["blob"], _name, lambda c, b, t=_type: t.from_binary(b)),
    )


_TYPE_ALIASES = {"varchar": "text"}  # varcharAsBlob takes a text column: one type, two names


def lookup(name: str, arg_types: list[CqlType | None]) -> Function:
    """The overload of a native function for the given argument types (None = unknown)."""
    overloads = _FUNCTIONS.get(name.lower().removeprefix("system."))
    if not overloads:
        raise InvalidRequest(f"Unknown function {name}")
    for function in overloads:
        if len(function.arg_types) != len(arg_types):
            continue
        if all(
            a is None or a.cql == e or a.name == _TYPE_ALIASES.get(e, e)
            for a, e in zip(arg_types, function.arg_types, strict=True)
        ):
            return function
    raise InvalidRequest(
        f"Invalid arguments for function {name}: "
        f"({', '.join(a.cql if a else '?' for a in arg_types)}); "
        f"expected {' or '.join('(' + ', '.join(f.arg_types) + ')' for f in overloads)}"
    )


def function_caller(function: Function, args: list[Callable]) -> Callable:
    """A function of ctx (or of ctx and a row) applying ``function`` to evaluated arguments."""
    impl = function.impl

    def call(*context):
        values = [arg(*context) for arg in args]
        if any(v is None or v is UNSET for v in values):
            return None
        try:
            return impl(context[0], *values)
        except InvalidRequest:
            raise
        except Exception as exc:  # the driver's codecs: struct.error, UnicodeDecodeError, ...
            raise InvalidRequest(_function_error(function, values, exc)) from None

    return call


def _function_error(function: Function, values: list, exc: Exception) -> str:
    if function.name.startswith("blobas"):
        return (
            f"In call to function system.{function.name}, value 0x{values[0].hex()} is not a "
            f"valid binary representation for type {function.return_type}"
        )
    return f"Error in call to function system.{function.name}: {exc}"


def _compile_from_json(term: ast.FunctionCall, cql_type: CqlType, receiver: str, binder):
    """fromJson('...'): the JSON text as a value of the receiver's type (Cassandra's
    FromJsonFct: "null" is null)."""
    if len(term.args) != 1:
        raise InvalidRequest("fromJson() accepts only one argument")
    text = compile_term(term.args[0], CqlType("text"), argument_receiver("fromjson", 0), binder)

    def get(ctx):
        raw = text(ctx)
        if raw is None or raw is UNSET:
            return None
        try:
            document = loads(raw)
        except ValueError as exc:
            raise InvalidRequest(f"Could not decode JSON string '{raw}': {exc}") from None
        value = from_json(cql_type, document, receiver)
        return None if value is None else cql_type.normalize(value)

    return const(get(None)) if text.constant else Getter(get, False)


def argument_receiver(function: str, index: int) -> str:
    """How Cassandra names a function argument's bind marker (FunctionResolver.makeArgSpec)."""
    return f"arg{index}(system.{function.lower().removeprefix('system.')})"


def compile_function_term(term: ast.FunctionCall, cql_type: CqlType, receiver: str, binder):
    if term.name in ("fromjson", "system.fromjson"):
        return _compile_from_json(term, cql_type, receiver, binder)
    overloads = _FUNCTIONS.get(term.name)
    if not overloads:
        raise InvalidRequest(f"Unknown function {term.name}")
    candidates = [f for f in overloads if len(f.arg_types) == len(term.args)]
    if not candidates:
        raise InvalidRequest(f"Invalid number of arguments in call to function {term.name}")
    function = candidates[0]
    if function.return_type != cql_type.name and not (
        function.return_type == "timeuuid" and cql_type.name == "uuid"
    ):
        raise InvalidRequest(
            f"Type error: cannot assign result of function system.{term.name} "
            f"(type {function.return_type}) to {receiver} (type {cql_type.cql})"
        )
    args = [
        compile_term(arg, CqlType(t), argument_receiver(term.name, i), binder)
        for i, (arg, t) in enumerate(zip(term.args, function.arg_types, strict=True))
    ]
    caller = function_caller(function, args)
    getter = Getter(caller, function.deterministic and all(a.constant for a in args))
    return const(caller(None)) if getter.constant else getter


def term_text(term) -> str:
    """How Cassandra prints a term inside a result column name."""
    if isinstance(term, ast.Constant):
        return term.text
    if isinstance(term, ast.Marker):
        return "?"
    if isinstance(term, ast.FunctionCall):
        return f"system.{term.name}({', '.join(term_text(a) for a in term.args)})"
    if isinstance(term, ast.Tuple):
        return f"({', '.join(term_text(a) for a in term.items)})"
    return "..."
