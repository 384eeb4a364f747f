"""SELECT: planning (selectors, restrictions, ordering) and execution with paging."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from cassandra.cqltypes import UTF8Type

from localcql.api import UNSET, ColumnSpec, InvalidRequest, ProtocolError, RowsResult
from localcql.cql import ast
from localcql.cqljson import quote, to_json
from localcql.restrictions import analyze
from localcql.rows import Collection, Row
from localcql.schema import CLUSTERING, PARTITION_KEY, STATIC, Column, Table
from localcql.storage import Partition, TableData, partition_key_from_bytes, token_of
from localcql.terms import Binder, compile_term, function_caller, lookup, term_text
from localcql.types import TOP, CqlType


# --------------------------------------------------------------------------- reading cells
def collection_value(t: CqlType, collection: Collection, now: int):
    items = collection.live_items(now)
    if not items:
        return None
    if t.name == "list":
        return [cell.value for _, cell in sorted(items, key=lambda item: item[0])]
    key = t.params[0].sort_key
    items.sort(key=lambda item: key(item[0]))
    if t.name == "set":
        return [path for path, _ in items]
    return {path: cell.value for path, cell in items}


def cell_value(row: Row | None, column: Column, now: int):
    cell = None if row is None else row.cells.get(column.name)
    if cell is None:
        return None
    if isinstance(cell, Collection):
        return collection_value(column.type, cell, now)
    return cell.value if cell.live(now) else None


def reader(column: Column) -> Callable:
    """(ctx, partition, row) -> the column's value; row is None for a partition's static row."""
    position, name = column.position, column.name
    if column.kind == PARTITION_KEY:
        return lambda ctx, p, r: p.key[position]
    if column.kind == CLUSTERING:
        return lambda ctx, p, r: None if r is None else r.clustering[position]
    if column.type.is_multicell:
        if column.kind == STATIC:
            return lambda ctx, p, r: cell_value(p.static, column, ctx.now_seconds)
        return lambda ctx, p, r: cell_value(r, column, ctx.now_seconds)

    def simple(ctx, p, r):
        source = p.static if column.kind == STATIC else r
        if source is None:
            return None
        cell = source.cells.get(name)
        if cell is None or cell.value is None:
            return None
        if cell.expires is not None and cell.expires <= ctx.now_seconds:
            return None
        return cell.value

    return simple


def _cell_metadata(column: Column, function: str) -> Callable:
    def get(ctx, p, r):
        source = p.static if column.kind == STATIC else r
        cell = None if source is None else source.cells.get(column.name)
        if cell is None or not cell.live(ctx.now_seconds):
            return None
        if function == "writetime":
            return cell.timestamp
        return None if cell.expires is None else cell.expires - ctx.now_seconds

    return get


# --------------------------------------------------------------------------- selectors
@dataclass
class Selector:
    name: str
    type: CqlType
    read: Callable | None = None  # (ctx, partition, row) -> value
    aggregate: tuple | None = None  # (initial, step(acc, value), final(acc))


def _aggregate(name: str, arg: Selector | None) -> Selector:
    if name == "count":
        if arg is None:  # count(*) and count(1) count rows
            return Selector(
                "count", CqlType("bigint"), lambda c, p, r: 1, (0, lambda a, v: a + 1, int)
            )
        return Selector(
            f"system.count({arg.name})",
            CqlType("bigint"),
            arg.read,
            (0, lambda a, v: a + (v is not None), int),
        )
    t = arg.type
    label = f"system.{name}({arg.name})"
    if name in ("min", "max"):
        key = t.sort_key
        pick = min if name == "min" else max

        def step(acc, value):
            if value is None:
                return acc
            return value if acc is None else pick(acc, value, key=key)

        return Selector(label, t, arg.read, (None, step, lambda a: a))
    if t.name not in (
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "varint",
        "float",
        "double",
        "decimal",
        "counter",
    ):
        raise InvalidRequest(f"Invalid call to function {name}, none of its type signatures match")
    zero = Decimal(0) if t.name == "decimal" else (0.0 if t.name in ("float", "double") else 0)
    integer = t.name not in ("float", "double", "decimal")

    def step_sum(acc, value):
        return acc if value is None else (acc[0] + value, acc[1] + 1)

    if name == "sum":
        return Selector(label, t, arg.read, ((zero, 0), step_sum, lambda a: a[0]))

    def average(acc):
        total, count = acc
        if count == 0:
            return zero
        return int(total / count) if integer else total / count

    return Selector(label, t, arg.read, ((zero, 0), step_sum, average))


def _cast(value, target: CqlType):
    if value is None:
        return None
    if target.name in ("text", "ascii"):
        return str(value)
    if target.name in ("int", "bigint", "smallint", "tinyint", "varint"):
        return int(value)
    if target.name in ("float", "double"):
        return float(value)
    if target.name == "decimal":
        return Decimal(str(value))
    raise InvalidRequest(f"localcql does not support CAST to {target.cql}")


def compile_selector(selector, table: Table, binder: Binder) -> Selector:
    if isinstance(selector, ast.ColumnSelector):
        column = _column(table, selector.name)
        return Selector(column.name, column.type, reader(column))
    if isinstance(selector, ast.FieldSelector):
        arg = compile_selector(selector.arg, table, binder)
        udt = arg.type.udt
        if udt is None:
            raise InvalidRequest(
                f"Invalid field selection: {arg.name} of type {arg.type.cql} is not a user type"
            )
        if selector.field not in udt.fields:
            raise InvalidRequest(f"{arg.name} of type {arg.type.cql} has no field {selector.field}")
        position = udt.fields.index(selector.field)
        read = arg.read

        def field(c, p, r):
            value = read(c, p, r)
            return None if value is None or position >= len(value) else value[position]

        return Selector(f"{arg.name}.{selector.field}", arg.type.params[position], field)
    if isinstance(selector, ast.CountStar):
        if selector.name != "count":
            raise InvalidRequest(f"Unknown function {selector.name}(*)")
        return _aggregate("count", None)
    if isinstance(selector, ast.CastSelector):
        arg = compile_selector(selector.arg, table, binder)
        target = selector.type
        return Selector(
            f"cast({arg.name} as {target.cql})",
            target,
            lambda c, p, r, read=arg.read: _cast(read(c, p, r), target),
        )
    if isinstance(selector, ast.ConstantSelector):
        raise InvalidRequest("localcql does not support constants as selectors")
    name, args = selector.name, selector.args
    if name in ("writetime", "ttl"):
        if len(args) != 1 or not isinstance(args[0], ast.ColumnSelector):
            raise InvalidRequest(f"Invalid arguments for {name}")
        column = _column(table, args[0].name)
        label = "writeTime" if name == "writetime" else "ttl"
        if column.is_primary_key:
            raise InvalidRequest(
                f"Cannot use selection function {label} on PRIMARY KEY part {column.name}"
            )
        if column.type.is_multicell:
            raise InvalidRequest(
                f"Cannot use selection function {label} on non-frozen collection {column.name}"
            )
        result_type = CqlType("bigint" if name == "writetime" else "int")
        return Selector(f"{name}({column.name})", result_type, _cell_metadata(column, name))
    if name == "token":
        names = [a.name if isinstance(a, ast.ColumnSelector) else None for a in args]
        if names != [c.name for c in table.partition_key]:
            raise InvalidRequest(
                "The token function arguments must be in the partition key order: "
                + ", ".join(c.name for c in table.partition_key)
            )
        return Selector(
            f"system.token({', '.join(names)})",
            CqlType("bigint"),
            lambda c, p, r: token_of(table, p.key),
        )
    if name in ("tojson", "system.tojson"):
        if len(args) != 1 or isinstance(args[0], ast.ConstantSelector):
            raise InvalidRequest("toJson() may only be used on a column or a function call")
        arg = compile_selector(args[0], table, binder)
        return Selector(
            f"system.tojson({arg.name})",
            CqlType("text"),
            lambda c, p, r, read=arg.read, t=arg.type: to_json(t, read(c, p, r)),
        )
    if name == "count" and len(args) == 1 and isinstance(args[0], ast.ConstantSelector):
        return _aggregate("count", None)
    if name in ("count", "min", "max", "sum", "avg"):
        if len(args) != 1:
            raise InvalidRequest(f"Invalid number of arguments in call to function system.{name}")
        return _aggregate(name, compile_selector(args[0], table, binder))
    compiled = []
    for arg in args:
        if isinstance(arg, ast.ConstantSelector):
            compiled.append(None)
        else:
            compiled.append(compile_selector(arg, table, binder))
    function = lookup(name, [c.type if c else None for c in compiled])
    readers = []
    for arg, selector_arg, type_name in zip(compiled, args, function.arg_types, strict=True):
        if arg is None:
            value = compile_term(selector_arg.constant, CqlType(type_name), name, binder)
            readers.append(lambda c, p, r, v=value: v(c))
        else:
            readers.append(arg.read)
    texts = [
        a.name if a is not None else term_text(s.constant)
        for a, s in zip(compiled, args, strict=True)
    ]
    return Selector(
        f"system.{name}({', '.join(texts)})",
        CqlType(function.return_type),
        function_caller(function, readers),
    )


def _column(table: Table, name: str) -> Column:
    column = table.columns.get(name)
    if column is None:
        raise InvalidRequest(f"Undefined column name {name}")
    return column


# --------------------------------------------------------------------------- paging state
class PagingState:
    """Where a page stopped: the last partition and row returned, and the counts so far.

    Encoded as: magic, 4 bytes of the statement's fingerprint, rows returned so far, rows returned
    in the last partition, then the partition key bytes and each clustering value (length-prefixed;
    no clustering when the partition is finished).
    """

    MAGIC = b"LQP1"

    def __init__(self, key: bytes, clustering: tuple | None, returned: int, in_partition: int):
        self.key, self.clustering = key, clustering
        self.returned, self.in_partition = returned, in_partition

    def encode(self, fingerprint: bytes, table: Table) -> bytes:
        parts = [
            self.MAGIC,
            fingerprint,
            struct.pack(">qqi", self.returned, self.in_partition, len(self.key)),
            self.key,
        ]
        if self.clustering is None:
            parts.append(struct.pack(">i", -1))
        else:
            parts.append(struct.pack(">i", len(self.clustering)))
            for column, value in zip(table.clustering, self.clustering, strict=True):
                data = column.type.to_binary(value)
                parts.append(struct.pack(">i", len(data)) + data)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes, fingerprint: bytes, table: Table) -> PagingState:
        try:
            if data[:4] != cls.MAGIC or data[4:8] != fingerprint:
                raise ValueError("not a paging state of this statement")
            returned, in_partition, key_length = struct.unpack_from(">qqi", data, 8)
            offset = 28
            key = data[offset : offset + key_length]
            offset += key_length
            (count,) = struct.unpack_from(">i", data, offset)
            offset += 4
            clustering = None
            if count >= 0:
                values = []
                for column in table.clustering[:count]:
                    (length,) = struct.unpack_from(">i", data, offset)
                    offset += 4
                    values.append(column.type.from_binary(data[offset : offset + length]))
                    offset += length
                clustering = tuple(values)
            if offset != len(data) or len(key) != key_length or returned < 0:
                raise ValueError("truncated")
            return cls(key, clustering, returned, in_partition)
        except Exception as exc:  # anything malformed is the client's error, never a crash
            raise ProtocolError(f"Invalid value for the paging state: {exc}") from None


# --------------------------------------------------------------------------- the plan
class SelectPlan:
    def __init__(self, statement: ast.Select, table: Table, binder: Binder):
        self.table = table
        self.distinct = statement.distinct
        self.fingerprint = b"\0\0\0\0"
        self.restrictions = analyze(
            table, statement.where, binder, reader, statement.allow_filtering
        )
        if statement.items is None:
            selectors = [Selector(c.name, c.type, reader(c)) for c in table.star_columns]
        else:
            selectors = []
            for item in statement.items:
                selector = compile_selector(item.selector, table, binder)
                if item.alias:
                    selector.name = item.alias
                selectors.append(selector)
        self.selectors = selectors
        self.aggregating = any(s.aggregate for s in selectors)
        self.json = statement.json
        if self.json:  # one text column: each row as a JSON object of the selected values
            self.columns = (ColumnSpec(table.keyspace, table.name, "[json]", UTF8Type),)
        else:
            self.columns = tuple(
                ColumnSpec(table.keyspace, table.name, s.name, s.type.driver) for s in selectors
            )
        self.limit = self._limit(statement.limit, "[limit]", binder)
        self.per_partition_limit = self._limit(
            statement.per_partition_limit, "[per_partition_limit]", binder
        )
        self.reversed = self._ordering(statement)
        self.order_by = bool(statement.order_by)
        if self.distinct:
            self._check_distinct(statement)

    def _limit(self, value, name: str, binder: Binder):
        if value is None:
            return None
        if isinstance(value, ast.Marker):
            getter = binder.bind(value, name, CqlType("int"))
        else:

            def getter(ctx, value=value):
                return value

        def checked(ctx):
            limit = getter(ctx)
            if limit is UNSET:  # as Cassandra: an unset limit is no limit
                return None
            if limit is None:
                raise InvalidRequest(f"Invalid null value of {name.strip('[]')}")
            if limit <= 0:
                what = "LIMIT" if name == "[limit]" else "PER PARTITION LIMIT"
                raise InvalidRequest(f"{what} must be strictly positive")
            return limit

        if not isinstance(value, ast.Marker):
            checked(None)
        return checked

    def _ordering(self, statement: ast.Select) -> bool:
        if not statement.order_by:
            return False
        table = self.table
        for name, _ in statement.order_by:
            column = _column(table, name)
            if column.kind != CLUSTERING:
                raise InvalidRequest(
                    "Order by is currently only supported on the clustered columns of the "
                    f"PRIMARY KEY, got {name}"
                )
        if self.restrictions.partition_values is None:
            raise InvalidRequest(
                "ORDER BY is only supported when the partition key is restricted by an EQ or an IN."
            )
        reversals = set()
        for i, (name, descending) in enumerate(statement.order_by):
            column = table.columns[name]
            if column.position != i:
                raise InvalidRequest(
                    "Order by currently only supports the ordering of columns following their "
                    "declared order in the PRIMARY KEY"
                )
            reversals.add(descending != column.descending)
        if len(reversals) != 1:
            raise InvalidRequest("Unsupported order by relation")
        return reversals.pop()

    def _check_distinct(self, statement: ast.Select) -> None:
        if statement.per_partition_limit is not None:
            raise InvalidRequest("PER PARTITION LIMIT is not allowed with SELECT DISTINCT queries")
        items = statement.items or []
        names = set()
        for item in items:
            if not isinstance(item.selector, ast.ColumnSelector):
                continue
            column = _column(self.table, item.selector.name)
            if column.kind not in (PARTITION_KEY, STATIC):
                raise InvalidRequest(
                    "SELECT DISTINCT queries must only request partition key columns and/or "
                    f"static columns (not {column.name})"
                )
            names.add(column.name)
        missing = [c.name for c in self.table.partition_key if c.name not in names]
        if statement.items is None or missing:
            raise InvalidRequest(
                "SELECT DISTINCT queries must request all the partition key columns "
                f"(missing {', '.join(missing)})"
            )

    # ------------------------------------------------------------------ execution
    def execute(self, ctx, data: TableData) -> RowsResult:
        options = ctx.options
        page_size = options.page_size if options.page_size and options.page_size > 0 else None
        if self.order_by and self.restrictions.partition_in and page_size and not self.aggregating:
            keys = self.restrictions.partition_keys(ctx)
            if len(keys) > 1:
                raise InvalidRequest(
                    "Cannot page queries with both ORDER BY and a IN restriction on the partition "
                    "key; you must either remove the ORDER BY or the IN and sort client side, or "
                    "disable paging for this query"
                )
        state = None
        if options.paging_state:
            state = PagingState.decode(options.paging_state, self.fingerprint, self.table)
        limit = self.limit(ctx) if self.limit else None
        rows = self._rows(ctx, data, state)
        if self.order_by and self.restrictions.partition_in:
            # Rows of several partitions come back in the requested clustering order, together.
            rows = sorted(
                rows,
                key=lambda item: data.clustering_key(item[1].clustering),
                reverse=self.reversed,
            )
        if self.aggregating:
            return self._result([self._aggregate(ctx, rows)], None)
        returned = state.returned if state else 0
        if limit is not None and returned >= limit:
            return RowsResult(self.columns, [], None)
        result = []
        for partition, row, count in rows:
            result.append([s.read(ctx, partition, row) for s in self.selectors])
            returned += 1
            if limit is not None and returned >= limit:
                break
            if page_size is not None and len(result) >= page_size:
                # As Cassandra's pagers: a full page is not known to be the last, so it carries a
                # paging state even when no row follows (the next page is then empty), unless
                # it ends the last partition a key restriction names.
                if self._ends_last_partition(ctx, data, partition, row, count):
                    break
                paging = PagingState(
                    data.key_bytes(partition.key),
                    None if row is None else row.clustering,
                    returned,
                    count,
                )
                return self._result(result, paging.encode(self.fingerprint, self.table))
        return self._result(result, None)

    def _result(self, rows: list, paging_state: bytes | None) -> RowsResult:
        if self.json:
            rows = [[self._json_row(row)] for row in rows]
        return RowsResult(self.columns, rows, paging_state)

    def _json_row(self, row: list) -> str:
        """As Cassandra's Selection for SELECT JSON: {"name": value, ...}; a name that is not
        all lower case is quoted as a CQL identifier."""
        entries = []
        for selector, value in zip(self.selectors, row, strict=True):
            name = selector.name
            if name != name.lower():
                name = '"' + name.replace('"', '""') + '"'
            entries.append(f"{quote(name)}: {to_json(selector.type, value)}")
        return "{" + ", ".join(entries) + "}"

    def _ends_last_partition(self, ctx, data, partition: Partition, row, count: int) -> bool:
        """Whether a single-partition pager (Cassandra's SinglePartitionPager) knows it is done:
        its partition has no more rows to give (a row without clustering, a static row, or the
        PER PARTITION LIMIT reached) and it is the last of the partitions the keys name."""
        r = self.restrictions
        if r.partition_values is None:
            return False  # a range scan: Cassandra's range pager knows only by a short page
        per_partition = self.per_partition_limit(ctx) if self.per_partition_limit else None
        finished = row is None or not self.table.clustering
        if not (finished or (per_partition is not None and count >= per_partition)):
            return False
        keys = r.partition_keys(ctx)
        return data.key_bytes(partition.key) == data.key_bytes(keys[-1])

    def _aggregate(self, ctx, rows) -> list:
        accumulators = [s.aggregate[0] if s.aggregate else None for s in self.selectors]
        first = None
        for partition, row, _ in rows:
            if first is None:
                first = [
                    None if s.aggregate else s.read(ctx, partition, row) for s in self.selectors
                ]
            for i, s in enumerate(self.selectors):
                if s.aggregate:
                    accumulators[i] = s.aggregate[1](accumulators[i], s.read(ctx, partition, row))
        return [
            s.aggregate[2](accumulators[i]) if s.aggregate else (first[i] if first else None)
            for i, s in enumerate(self.selectors)
        ]

    def _rows(self, ctx, data: TableData, state: PagingState | None):
        """(partition, row or None for a static-only row, rows so far in partition), in order."""
        r = self.restrictions
        per_partition = self.per_partition_limit(ctx) if self.per_partition_limit else None
        # Evaluated before any partition is read, so bad bound values fail even on no data.
        ranges = None if self.distinct else r.ranges(ctx, data)
        for partition in self._partitions(ctx, data, state):
            after = None
            count = 0
            if state is not None and data.key_bytes(partition.key) == state.key:
                if state.clustering is None:
                    continue  # that partition was finished
                after = data.clustering_key(state.clustering)
                count = state.in_partition
            state = None
            if per_partition is not None and count >= per_partition:
                continue
            if self.distinct:
                if self._has_live_data(ctx, data, partition):
                    yield partition, None, 1
                continue
            produced = False
            for row in self._partition_rows(data, partition, ranges, after):
                if not row.is_live(ctx.now_seconds):
                    continue
                produced = True
                if r.filters and not all(f(ctx, (partition, row)) for f in r.filters):
                    continue
                count += 1
                yield partition, row, count
                if per_partition is not None and count >= per_partition:
                    break
            if (
                not produced
                and after is None
                and not r.clustering_restricted
                and self.table.clustering
                and partition.static_is_live(ctx.now_seconds)
                and not (r.filters and not all(f(ctx, (partition, None)) for f in r.filters))
            ):
                yield partition, None, 1

    def _has_live_data(self, ctx, data: TableData, partition: Partition) -> bool:
        now = ctx.now_seconds
        if partition.static_is_live(now):
            return True
        return any(row.is_live(now) for row in data.rows(partition))

    def _partition_rows(self, data: TableData, partition: Partition, ranges, after):
        ordered = reversed(ranges) if self.reversed else ranges
        for low, high, high_inclusive in ordered:
            low_inclusive = True
            if after is not None:
                if self.reversed:
                    if after <= high:
                        high, high_inclusive = after, False
                elif after >= low:
                    low, low_inclusive = after, False
            bounds = (low, high, high_inclusive)
            yield from data.rows(partition, bounds, low_inclusive, self.reversed)

    def _partitions(self, ctx, data: TableData, state: PagingState | None):
        r = self.restrictions
        if r.partition_values is not None:
            keys = r.partition_keys(ctx)
            found = [data.partition(k) for k in keys]
            started = state is None
            for partition in found:
                if partition is None:
                    continue
                if not started:
                    if data.key_bytes(partition.key) != state.key:
                        continue
                    started = True
                yield partition
            return
        start = None
        if state is not None:
            start = data.partition_position(self._key_from_bytes(state.key))
        if r.index_lookup is not None:
            column, kind, key_type, value = r.index_lookup
            for position in data.index_positions(column, kind, key_type.sort_key(value(ctx))):
                partition = data.partitions.get(position)
                if partition is not None and (start is None or position >= start):
                    yield partition
            return
        if r.token_slice is None:
            yield from data.scan(start)
            return
        low = high = None
        low_inclusive = high_inclusive = True
        s = r.token_slice
        if s.start is not None:
            token = s.start(ctx)
            low, low_inclusive = ((token,), True) if s.start_inclusive else ((token, TOP), True)
        if s.end is not None:
            token = s.end(ctx)
            high = (token, TOP) if s.end_inclusive else (token,)
            high_inclusive = s.end_inclusive
        if start is not None and (low is None or start > low):
            low, low_inclusive = start, True
        for position in data.partitions.irange(low, high, (low_inclusive, high_inclusive)):
            yield data.partitions[position]

    def _key_from_bytes(self, key: bytes) -> tuple:
        try:
            return partition_key_from_bytes(self.table, key)
        except Exception as exc:
            raise ProtocolError(f"Invalid value for the paging state: {exc}") from None

    def set_fingerprint(self, statement_id: bytes) -> None:
        self.fingerprint = hashlib.md5(statement_id, usedforsecurity=False).digest()[:4]
