"""INSERT, UPDATE, DELETE and BATCH: planning, and turning an execution into Mutations.

A plan validates once at PREPARE what Cassandra validates statically; at EXECUTE it evaluates the
bound values into ``Mutation`` objects (absolute timestamps and expiry times, so they replay
identically), checks lightweight-transaction conditions, and hands the mutations to the store.
"""

from __future__ import annotations

from collections.abc import Callable

from localcql.api import UNSET, ColumnSpec, InvalidRequest, RowsResult, Unauthorized, VoidResult
from localcql.cql import ast
from localcql.cqljson import from_json, loads
from localcql.restrictions import analyze, check_not_empty
from localcql.rows import Collection
from localcql.schema import STATIC, Column, Table
from localcql.select import reader
from localcql.storage import (
    CellWrite,
    Mutation,
    RangeDeletion,
    RowUpdate,
    TableData,
    wrap_counter,
)
from localcql.terms import Binder, compile_term
from localcql.types import CqlType

MAX_TTL = 20 * 365 * 24 * 60 * 60  # Cassandra's limit: 20 years
MAX_EXPIRY = 2**31 - 2  # Cassandra 4.0 stores expiry as 32-bit seconds (CASSANDRA-14092)
APPLIED = "[applied]"


class ListPaths:
    """Paths of list elements: they order the list. Appends grow, prepends shrink, from the clock,
    so lists keep their order across restarts once data is durable."""

    _last = 0

    @classmethod
    def next(cls, now_micros: int) -> int:
        cls._last = max(cls._last + 1, now_micros)
        return cls._last

    @classmethod
    def appended(cls, now_micros: int, count: int) -> list[tuple]:
        return [(1, cls.next(now_micros)) for _ in range(count)]

    @classmethod
    def prepended(cls, now_micros: int, count: int) -> list[tuple]:
        return list(reversed([(0, -cls.next(now_micros)) for _ in range(count)]))


def _current_row(data: TableData, key: tuple, clustering: tuple | None):
    partition = data.partition(key)
    if partition is None:
        return None, None
    if clustering is None:
        return partition, None
    return partition, data.row(partition, data.clustering_key(clustering))


def _targeted_row(plan, ctx, data: TableData):
    """(clustering, partition, row, live) of the row a conditional statement targets: live means
    that row, or the partition's static row when the statement names no clustering, exists now."""
    key, clustering = plan.target(ctx, data)
    partition, row = _current_row(data, key, clustering)
    now = ctx.now_seconds
    if clustering is None:
        live = partition is not None and partition.static_is_live(now)
    else:
        live = row is not None and row.is_live(now)
    return clustering, partition, row, live


def _live_list(data: TableData, key, clustering, column: Column, now: int) -> list[tuple]:
    partition, row = _current_row(data, key, clustering)
    source = partition.static if partition is not None and column.kind == STATIC else row
    cell = None if source is None else source.cells.get(column.name)
    if not isinstance(cell, Collection):
        return []
    return sorted((path, c.value) for path, c in cell.live_items(now))


class Attributes:
    """USING TTL / TIMESTAMP of one statement."""

    def __init__(self, using: ast.Using, binder: Binder, table: Table):
        self.table = table
        self.ttl = self._getter(using.ttl, "[ttl]", "int", binder)
        self.timestamp = self._getter(using.timestamp, "[timestamp]", "bigint", binder)
        self.has_timestamp = using.timestamp is not None
        if isinstance(using.ttl, int):
            self._check_ttl(using.ttl)

    @staticmethod
    def _getter(value, name, type_name, binder):
        if value is None:
            return None
        if isinstance(value, ast.Marker):
            return binder.bind(value, name, CqlType(type_name))
        return lambda ctx: value

    @staticmethod
    def _check_ttl(ttl: int) -> None:
        if ttl < 0:
            raise InvalidRequest(f"A TTL must be greater or equal to 0, but was {ttl}")
        if ttl > MAX_TTL:
            raise InvalidRequest(f"ttl is too large. requested ({ttl}) maximum ({MAX_TTL})")

    def timestamp_of(self, ctx, batch_timestamp: int | None) -> int:
        if self.timestamp is not None:
            value = self.timestamp(ctx)
            if value is not None and value is not UNSET:
                return value
        if batch_timestamp is not None:
            return batch_timestamp
        if ctx.options.default_timestamp is not None:
            return ctx.options.default_timestamp
        return ctx.now_micros

    def expires_of(self, ctx) -> int | None:
        ttl = None
        if self.ttl is not None:
            ttl = self.ttl(ctx)
            if ttl is UNSET:
                ttl = None
        if ttl is None:
            ttl = self.table.default_ttl
        else:
            self._check_ttl(ttl)
        if not ttl:
            return None
        expires = ctx.now_seconds + ttl
        if expires > MAX_EXPIRY:
            raise InvalidRequest(
                f"Request on table {self.table.qualified_name} with ttl of {ttl} seconds exceeds "
                "maximum supported expiration date of 2038-01-19T03:14:06+00:00"
            )
        return expires


# --------------------------------------------------------------------------- conditions
def _condition_holds(t: CqlType, operator: str, current, expected) -> bool:
    if operator == "IN":
        return any(_condition_holds(t, "=", current, e) for e in expected)
    if expected is None:
        if operator == "=":
            return current is None
        if operator == "!=":
            return current is not None
        raise InvalidRequest(f'Invalid comparison with null for operator "{operator}"')
    if current is None:
        return operator == "!="
    a, b = t.sort_key(current), t.sort_key(expected)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


class Conditions:
    """IF NOT EXISTS / IF EXISTS / IF col op value: evaluated against the current row."""

    def __init__(self, conditions: ast.Conditions, table: Table, binder: Binder):
        self.if_exists, self.if_not_exists = conditions.if_exists, conditions.if_not_exists
        self.checks = []
        columns = []
        for condition in conditions.columns:
            column = table.columns.get(condition.column)
            if column is None:
                raise InvalidRequest(f"Undefined column name {condition.column}")
            if column.is_primary_key:
                raise InvalidRequest(
                    f"PRIMARY KEY column '{column.name}' cannot have IF conditions"
                )
            if condition.element is not None:
                self.checks.append(self._element_check(condition, column, binder))
                if column not in columns:
                    columns.append(column)
                continue
            if condition.operator == "IN":
                if isinstance(condition.value, ast.Marker):
                    getter = compile_term(
                        condition.value, CqlType("list", (column.type,)), column.name, binder
                    )
                else:
                    getters = [
                        compile_term(v, column.type, column.name, binder) for v in condition.value
                    ]

                    def getter(ctx, getters=getters):
                        return [g(ctx) for g in getters]

            else:
                getter = compile_term(condition.value, column.type, column.name, binder)
            self.checks.append((column.type, condition.operator, getter, reader(column)))
            if column not in columns:
                columns.append(column)
        order = {c.name: i for i, c in enumerate(table.star_columns)}
        self.columns = sorted(columns, key=lambda c: order[c.name])
        self.star = table.star_columns
        self.only_static = bool(columns) and all(c.kind == STATIC for c in columns)

    @staticmethod
    def _element_check(condition: ast.Condition, column: Column, binder: Binder):
        """IF m['a'] = 1, IF l[0] = 'x': the element (null when absent) compared with the
        value, as Cassandra's ColumnCondition.ElementAccessBound."""
        t = column.type
        if t.name not in ("list", "map"):
            raise InvalidRequest(
                f"Invalid element access syntax for non-collection column {column.name}"
                if not t.is_collection
                else f"Invalid element access syntax for set column {column.name}"
            )
        key_type = CqlType("int") if t.name == "list" else t.params[0]
        label = f"idx({column.name})" if t.name == "list" else f"key({column.name})"
        element = compile_term(condition.element, key_type, label, binder)
        value_type = t.params[-1]
        value_label = f"value({column.name})"
        if condition.operator == "IN":
            if isinstance(condition.value, ast.Marker):
                list_type = CqlType("list", (value_type,))
                getter = compile_term(condition.value, list_type, value_label, binder)
            else:
                getters = [
                    compile_term(v, value_type, value_label, binder) for v in condition.value
                ]

                def getter(ctx, getters=getters):
                    return [g(ctx) for g in getters]

        else:
            getter = compile_term(condition.value, value_type, value_label, binder)
        read_column = reader(column)

        def read(ctx, partition, row):
            key = element(ctx)
            if key is None or key is UNSET:
                raise InvalidRequest(
                    f"Invalid null value for {'list index' if t.name == 'list' else 'map key'}"
                )
            whole = read_column(ctx, partition, row)
            if whole is None:
                return None
            if t.name == "list":
                return whole[key] if 0 <= key < len(whole) else None
            return whole.get(key)

        return (value_type, condition.operator, getter, read)

    def evaluate(self, ctx, partition, row, row_live: bool) -> tuple[bool, list[Column]]:
        """(applied, the columns to return with [applied]=False)."""
        if self.if_not_exists:
            return (not row_live, self.star)
        if self.if_exists:
            return (row_live, [])
        exists = row_live or (self.only_static and partition is not None)
        applied = all(
            _condition_holds(cql_type, operator, read(ctx, partition, row), getter(ctx))
            for cql_type, operator, getter, read in self.checks
        )
        if not exists:
            applied = applied and all(
                op in ("=",) and g(ctx) is None for _, op, g, _ in self.checks
            )
            return applied, []
        return applied, self.columns


# --------------------------------------------------------------------------- the plans
class ModificationPlan:
    """Shared by INSERT, UPDATE and DELETE: keys, attributes, conditions, execution."""

    table: Table
    conditions: Conditions | None

    def __init__(self, table: Table, using: ast.Using, conditions: ast.Conditions, binder):
        if table.virtual:
            raise Unauthorized(f"{table.keyspace} keyspace is not user-modifiable.")
        self.table = table
        self.is_counter = table.is_counter
        self.attributes = Attributes(using, binder, table)
        self.conditions = None
        if conditions.any:
            if table.is_counter:
                raise InvalidRequest("Conditional updates are not supported on counter tables")
            if using.timestamp is not None:
                raise InvalidRequest("Cannot provide custom timestamp for conditional updates")
            self.conditions = Conditions(conditions, table, binder)

    def _check_conditional_keys(self) -> None:
        if self.conditions is None:
            return
        if self.restrictions.partition_in:
            raise InvalidRequest(
                "IN on the partition key is not supported with conditional updates"
            )

    # subclasses: writes(ctx, data, timestamp) -> list[Mutation]; targets(ctx, data) -> keys
    def mutations(self, ctx, data: TableData, batch_timestamp: int | None = None) -> list[Mutation]:
        timestamp = self.attributes.timestamp_of(ctx, batch_timestamp)
        return self.writes(ctx, data, timestamp)

    def check(self, ctx, data: TableData) -> tuple[bool, list[ColumnSpec], list]:
        """Evaluates the IF conditions against the row the statement targets."""
        _, partition, row, live = _targeted_row(self, ctx, data)
        applied, columns = self.conditions.evaluate(ctx, partition, row, live)
        specs = [
            ColumnSpec(self.table.keyspace, self.table.name, APPLIED, CqlType("boolean").driver)
        ]
        values = [applied]
        if not applied:
            for column in columns:
                specs.append(
                    ColumnSpec(
                        self.table.keyspace, self.table.name, column.name, column.type.driver
                    )
                )
                values.append(reader(column)(ctx, partition, row))
        return applied, specs, values

    def execute(self, ctx, data: TableData, apply: Callable):
        if self.conditions is None:
            for mutation in self.mutations(ctx, data):
                apply(mutation)
            return VoidResult()
        applied, specs, values = self.check(ctx, data)
        if applied:
            for mutation in self.mutations(ctx, data):
                apply(mutation)
        return RowsResult(specs, [values])


def _check_key(column: Column, value):
    if value is UNSET:
        raise InvalidRequest(f"Invalid unset value for column {column.name}")
    if value is None:
        raise InvalidRequest(f"Invalid null value in condition for column {column.name}")
    return value


class InsertPlan(ModificationPlan):
    def __init__(self, statement: ast.Insert, table: Table, binder: Binder):
        super().__init__(table, statement.using, statement.conditions, binder)
        if table.is_counter:
            raise InvalidRequest(
                "INSERT statements are not allowed on counter tables, use UPDATE instead"
            )
        if statement.json is not None:
            values = _json_values(statement, table, binder)
        else:
            values = self._values(statement, table, binder)
        missing = [c.name for c in table.partition_key if c.name not in values]
        if missing:
            raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
        self.key = [values[c.name][1] for c in table.partition_key]
        missing = [c.name for c in table.clustering if c.name not in values]
        non_static = [c for c, _ in values.values() if not c.is_primary_key and c.kind != STATIC]
        if missing and (non_static or len(missing) != len(table.clustering)):
            raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing)}")
        # INSERT of a partition key and static columns only writes the static row.
        self.static_only = bool(missing)
        self.clustering = [values[c.name][1] for c in table.clustering] if not missing else None
        self.cells = [(c, g) for c, g in values.values() if not c.is_primary_key]
        self.restrictions = None

    @staticmethod
    def _values(statement: ast.Insert, table: Table, binder: Binder) -> dict:
        if len(statement.columns) != len(statement.values):
            raise InvalidRequest("Unmatched column names/values")
        if len(set(statement.columns)) != len(statement.columns):
            raise InvalidRequest("The column names contains duplicates")
        values = {}
        for name, term in zip(statement.columns, statement.values, strict=True):
            column = table.columns.get(name)
            if column is None:
                raise InvalidRequest(f"Undefined column name {name}")
            values[name] = (column, compile_term(term, column.type, name, binder))
        return values

    def target(self, ctx, data):
        key = tuple(
            _check_key(c, g(ctx)) for c, g in zip(self.table.partition_key, self.key, strict=True)
        )
        check_not_empty(self.table.partition_key, key)
        if self.clustering is None:
            return key, None
        clustering = tuple(
            _check_key(c, g(ctx))
            for c, g in zip(self.table.clustering, self.clustering, strict=True)
        )
        return key, clustering

    def writes(self, ctx, data, timestamp):
        key, clustering = self.target(ctx, data)
        expires = self.attributes.expires_of(ctx)
        row = RowUpdate(clustering or ())
        static = RowUpdate((), static=True)
        if not self.static_only:
            row.marker = (timestamp, expires)
        for column, getter in self.cells:
            value = getter(ctx)
            if value is UNSET:
                continue
            target = static if column.kind == STATIC else row
            write_value(target, column, value, timestamp, expires, ctx)
        rows = [u for u in (static, row) if u.cells or u.marker or u.collection_deletions]
        return [Mutation(self.table.id, key, rows=rows)]


def _json_values(statement: ast.Insert, table: Table, binder: Binder) -> dict:
    """INSERT JSON: a getter per column of the table, reading the JSON object (a literal, or a
    bound string named "[json]"); a column it omits is null, or unset with DEFAULT UNSET."""
    text = compile_term(statement.json, CqlType("text"), "[json]", binder)
    missing = UNSET if statement.json_default_unset else None
    last: list = [None, None]  # the last JSON text and its values: every column reads them

    def parsed(ctx) -> dict:
        raw = text(ctx)
        if raw is None or raw is UNSET:
            raise InvalidRequest("Got null for INSERT JSON values")
        if raw is last[0]:
            return last[1]
        try:
            document = loads(raw)
        except ValueError as exc:
            raise InvalidRequest(f"Could not decode JSON string as a map: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidRequest(f"Could not decode JSON string as a map: {raw}")
        found = {}
        for key, value in document.items():
            name = key[1:-1] if len(key) > 1 and key[0] == key[-1] == '"' else key.lower()
            column = table.columns.get(name)
            if column is None:
                raise InvalidRequest(f"JSON values map contains unrecognized column: {name}")
            found[name] = from_json(column.type, value, name)
        last[0], last[1] = raw, found
        return found

    if text.constant:
        parsed(None)  # a literal is checked at PREPARE, as Cassandra does
    return {
        name: (column, lambda ctx, name=name: parsed(ctx).get(name, missing))
        for name, column in table.columns.items()
    }


def write_value(update: RowUpdate, column: Column, value, timestamp, expires, ctx) -> None:
    """Sets a whole column (None deletes it); a collection is replaced, older elements dropped."""
    if not column.type.is_multicell:
        update.cells.append(
            CellWrite(column.name, value, timestamp, expires if value is not None else None)
        )
        return
    update.collection_deletions[column.name] = timestamp - 1
    if value is not None:
        _add_elements(update, column, value, timestamp, expires, ctx)


def _add_elements(update: RowUpdate, column: Column, value, timestamp, expires, ctx, prepend=False):
    kind = column.type.name
    if kind == "set":
        for element in value:
            update.cells.append(CellWrite(column.name, True, timestamp, expires, path=element))
    elif kind == "map":
        for k, v in value.items():
            update.cells.append(CellWrite(column.name, v, timestamp, expires, path=k))
    else:
        make = ListPaths.prepended if prepend else ListPaths.appended
        for path, element in zip(make(ctx.now_micros, len(value)), value, strict=True):
            update.cells.append(CellWrite(column.name, element, timestamp, expires, path=path))


class _KeyedPlan(ModificationPlan):
    """UPDATE and DELETE: the WHERE clause names the rows."""

    def _analyze(self, where, binder):
        self.restrictions = analyze(self.table, where, binder, reader, False, for_select=False)
        if self.conditions is not None:
            self._check_conditional_keys()

    def keys(self, ctx) -> list[tuple]:
        keys = self.restrictions.partition_keys(ctx)
        for key in keys:
            check_not_empty(self.table.partition_key, key)
        return keys

    def target(self, ctx, data):
        keys = self.keys(ctx)
        prefixes = self.restrictions.prefixes(ctx, data) if self.full_clustering else [None]
        if len(keys) != 1 or len(prefixes) != 1:
            raise InvalidRequest(
                "IN on the clustering key columns is not supported with conditional updates"
            )
        return keys[0], prefixes[0]

    @property
    def full_clustering(self) -> bool:
        """Whether the WHERE clause names whole rows (every clustering column is restricted)."""
        r = self.restrictions
        if not self.table.clustering or r.prefix_tuples is not None:
            return True
        return len(r.prefix) == len(self.table.clustering) and r.slice is None


class UpdatePlan(_KeyedPlan):
    def __init__(self, statement: ast.Update, table: Table, binder: Binder):
        super().__init__(table, statement.using, statement.conditions, binder)
        self.operations = [self._operation(a, binder) for a in statement.assignments]
        self._analyze(statement.where, binder)
        if self.restrictions.slice is not None:
            raise InvalidRequest(
                "Slice restrictions are not supported on the clustering columns in UPDATE "
                "statements"
            )
        only_static = all(table.columns[a.column].kind == STATIC for a in statement.assignments)
        only_static = only_static and all(
            table.columns[c.column].kind == STATIC for c in statement.conditions.columns
        )
        if only_static and table.clustering and self.restrictions.clustering_restricted:
            raise InvalidRequest(
                "Invalid restrictions on clustering columns since the UPDATE statement modifies "
                "only static columns"
            )
        if (
            table.clustering
            and not self.full_clustering
            and (not only_static or self.restrictions.prefix)
        ):
            missing = [c.name for c in table.clustering[len(self.restrictions.prefix) :]]
            raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing)}")
        self.static_only = bool(table.clustering) and not self.full_clustering
        if self.is_counter and self.attributes.ttl is not None:
            raise InvalidRequest("Cannot provide custom TTL for counter updates")
        if self.is_counter and self.attributes.has_timestamp:
            raise InvalidRequest("Cannot provide custom timestamp for counter updates")

    def target(self, ctx, data):
        if self.static_only:
            keys = self.keys(ctx)
            if len(keys) != 1:
                raise InvalidRequest(
                    "IN on the partition key is not supported with conditional updates"
                )
            return keys[0], None
        return super().target(ctx, data)

    def _operation(self, assignment: ast.Assignment, binder: Binder):
        table = self.table
        column = table.columns.get(assignment.column)
        if column is None:
            raise InvalidRequest(f"Undefined column name {assignment.column}")
        if column.is_primary_key:
            raise InvalidRequest(f"PRIMARY KEY part {column.name} found in SET part")
        t, kind = column.type, assignment.kind
        if t.is_counter:
            if kind == "set":
                raise InvalidRequest(f"Cannot set the value of counter column {column.name}")
            if kind not in ("add", "subtract"):
                raise InvalidRequest(
                    f"Invalid operation ({assignment.text}) for counter column {column.name}"
                )
            getter = compile_term(assignment.value, t, column.name, binder)
            sign = 1 if kind == "add" else -1

            def counter(ctx, update, timestamp, expires, locate):
                delta = getter(ctx)
                if delta is UNSET:
                    return
                if delta is None:
                    raise InvalidRequest("Invalid null value for counter increment")
                update.cells.append(
                    CellWrite(column.name, wrap_counter(sign * delta), timestamp, delta=True)
                )

            return column, counter
        if kind == "field":
            return column, self._field_operation(assignment, column, binder)
        if kind == "set":
            getter = compile_term(assignment.value, t, column.name, binder)

            def set_value(ctx, update, timestamp, expires, locate):
                value = getter(ctx)
                if value is not UNSET:
                    write_value(update, column, value, timestamp, expires, ctx)

            return column, set_value
        if kind in ("add", "subtract", "prepend") and not t.is_collection:
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for non counter column {column.name}"
            )
        if t.frozen and kind != "set":
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for frozen collection column {column.name}"
            )
        if kind == "prepend" and t.name != "list":
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for non list column {column.name}"
            )
        if kind == "element":
            return column, self._element_operation(assignment, column, binder)
        value_type = (
            CqlType("set", (t.params[0],)) if (t.name == "map" and kind == "subtract") else t
        )
        getter = compile_term(assignment.value, value_type, column.name, binder)

        def collection_operation(ctx, update, timestamp, expires, locate):
            value = getter(ctx)
            if value is UNSET or value is None:
                return
            if kind in ("add", "prepend"):
                _add_elements(
                    update, column, value, timestamp, expires, ctx, prepend=kind == "prepend"
                )
            elif t.name == "list":
                doomed = {t.params[0].sort_key(v) for v in value}
                for path, element in _live_list(*locate(), column, ctx.now_seconds):
                    if t.params[0].sort_key(element) in doomed:
                        update.cells.append(CellWrite(column.name, None, timestamp, path=path))
            else:
                for element in value:
                    update.cells.append(CellWrite(column.name, None, timestamp, path=element))

        return column, collection_operation

    def _field_operation(self, assignment, column: Column, binder):
        """UPDATE ... SET address.city = ?: the value with that field replaced. localcql keeps a
        user-defined type value in one cell, so the update reads the current value."""
        t = column.type
        if t.udt is None:
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for non-UDT column {column.name}"
            )
        if t.frozen:
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for frozen UDT column {column.name}"
            )
        if assignment.element not in t.udt.fields:
            raise InvalidRequest(
                f"UDT column {column.name} does not have a field named {assignment.element}"
            )
        position = t.udt.fields.index(assignment.element)
        getter = compile_term(
            assignment.value, t.params[position], f"{column.name}.{assignment.element}", binder
        )
        read = reader(column)

        def set_field(ctx, update, timestamp, expires, locate):
            value = getter(ctx)
            if value is UNSET:
                return
            data, key, clustering = locate()
            partition, row = _current_row(data, key, clustering)
            current = None if partition is None else read(ctx, partition, row)
            fields = list(current or (None,) * len(t.params))
            fields += [None] * (len(t.params) - len(fields))
            fields[position] = value
            write_value(update, column, t.normalize(tuple(fields)), timestamp, expires, ctx)

        return set_field

    def _element_operation(self, assignment, column: Column, binder):
        t = column.type
        if not t.is_collection:
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for non collection column {column.name}"
            )
        if t.name == "set":
            raise InvalidRequest(
                f"Invalid operation ({assignment.text}) for set column {column.name}"
            )
        key_type = CqlType("int") if t.name == "list" else t.params[0]
        label = f"idx({column.name})" if t.name == "list" else f"key({column.name})"
        element = compile_term(assignment.element, key_type, label, binder)
        getter = compile_term(assignment.value, t.params[-1], f"value({column.name})", binder)

        def set_element(ctx, update, timestamp, expires, locate):
            key, value = element(ctx), getter(ctx)
            if key is None:
                raise InvalidRequest(f"Invalid null value for {column.name} index or key")
            if value is UNSET:
                return
            path = key
            if t.name == "list":
                items = _live_list(*locate(), column, ctx.now_seconds)
                if not 0 <= key < len(items):
                    raise InvalidRequest(
                        f"List index {key} out of bound, list has size {len(items)}"
                    )
                path = items[key][0]
            update.cells.append(
                CellWrite(
                    column.name, value, timestamp, expires if value is not None else None, path=path
                )
            )

        return set_element

    def writes(self, ctx, data, timestamp):
        expires = None if self.is_counter else self.attributes.expires_of(ctx)
        mutations = []
        for key in self.keys(ctx):
            prefixes = [None] if self.static_only else self.restrictions.prefixes(ctx, data)
            rows = []
            for clustering in prefixes:
                row = RowUpdate(clustering or ())
                static = RowUpdate((), static=True)
                for column, operation in self.operations:
                    target = static if column.kind == STATIC else row
                    operation(
                        ctx, target, timestamp, expires, lambda k=key, c=clustering: (data, k, c)
                    )
                rows.extend(u for u in (static, row) if u.cells or u.collection_deletions)
            mutations.append(Mutation(self.table.id, key, rows=rows))
        return mutations


class DeletePlan(_KeyedPlan):
    def __init__(self, statement: ast.Delete, table: Table, binder: Binder):
        super().__init__(table, statement.using, statement.conditions, binder)
        if self.attributes.ttl is not None:
            raise InvalidRequest("TTL is not supported on DELETE statements")
        self.targets = []
        for target in statement.targets:
            column = table.columns.get(target.column)
            if column is None:
                raise InvalidRequest(f"Undefined column name {target.column}")
            if column.is_primary_key:
                raise InvalidRequest(
                    f"Invalid identifier {column.name} for deletion "
                    "(should not be a PRIMARY KEY part)"
                )
            element = None
            if target.element is not None:
                t = column.type
                if not t.is_multicell:
                    raise InvalidRequest(
                        f"Invalid deletion operation for non collection column {column.name}"
                    )
                key_type = CqlType("int") if t.name == "list" else t.params[0]
                label = f"idx({column.name})" if t.name == "list" else f"key({column.name})"
                element = compile_term(target.element, key_type, label, binder)
            self.targets.append((column, element))
        self._analyze(statement.where, binder)
        r = self.restrictions
        regular_targets = [c for c, _ in self.targets if c.kind != STATIC]
        if self.targets and not regular_targets and r.clustering_restricted:
            raise InvalidRequest(
                "Invalid restrictions on clustering columns since the DELETE statement modifies "
                "only static columns"
            )
        if self.targets and not self.full_clustering and table.clustering:
            if r.slice is not None:
                raise InvalidRequest("Range deletions are not supported for specific columns")
            if regular_targets:
                missing = [c.name for c in table.clustering[len(r.prefix) :]]
                raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing)}")
        if (
            r.slice is not None
            and r.prefix_tuples is None
            and len(r.prefix) + 1 < len(table.clustering)
        ):
            pass  # a slice on a middle column deletes a range of rows all the same
        self.static_only = bool(self.targets) and not regular_targets and not self.full_clustering

    def target(self, ctx, data):
        if self.static_only or (not self.targets and not self.full_clustering):
            keys = self.keys(ctx)
            if len(keys) != 1:
                raise InvalidRequest(
                    "IN on the partition key is not supported with conditional updates"
                )
            return keys[0], None
        return super().target(ctx, data)

    def writes(self, ctx, data, timestamp):
        r = self.restrictions
        mutations = []
        for key in self.keys(ctx):
            mutation = Mutation(self.table.id, key)
            if not self.targets:
                if self.full_clustering and self.table.clustering:
                    for clustering in r.prefixes(ctx, data):
                        mutation.rows.append(RowUpdate(clustering, deletion=timestamp))
                elif not self.table.clustering:
                    mutation.rows.append(RowUpdate((), deletion=timestamp))
                elif r.prefix or r.slice is not None:
                    mutation.range_deletions.extend(self._ranges(ctx, data, timestamp))
                else:
                    mutation.partition_deletion = timestamp
            else:
                prefixes = (
                    [None]
                    if self.static_only
                    else r.prefixes(ctx, data)
                    if self.table.clustering
                    else [()]
                )
                for clustering in prefixes:
                    row = RowUpdate(clustering or ())
                    static = RowUpdate((), static=True)
                    for column, element in self.targets:
                        update = static if column.kind == STATIC else row
                        self._delete(ctx, data, update, column, element, timestamp, key, clustering)
                    mutation.rows.extend(
                        u for u in (static, row) if u.cells or u.collection_deletions
                    )
            mutations.append(mutation)
        return mutations

    def _ranges(self, ctx, data, timestamp):
        r = self.restrictions
        start = end = None
        start_inclusive = end_inclusive = True
        if r.slice is not None:
            if r.slice.start is not None:
                start, start_inclusive = r.slice.start(ctx), r.slice.start_inclusive
            if r.slice.end is not None:
                end, end_inclusive = r.slice.end(ctx), r.slice.end_inclusive
        return [
            RangeDeletion(prefix, timestamp, start, start_inclusive, end, end_inclusive)
            for prefix in r.prefixes(ctx, data)
        ]

    def _delete(self, ctx, data, update, column, element, timestamp, key, clustering):
        if element is None:
            if column.type.is_multicell:
                update.collection_deletions[column.name] = timestamp
            else:
                update.cells.append(CellWrite(column.name, None, timestamp))
            return
        path = element(ctx)
        if path is None or path is UNSET:
            raise InvalidRequest(f"Invalid null value for {column.name} index or key")
        if column.type.name == "list":
            items = _live_list(data, key, clustering, column, ctx.now_seconds)
            if not 0 <= path < len(items):
                raise InvalidRequest(f"List index {path} out of bound, list has size {len(items)}")
            path = items[path][0]
        update.cells.append(CellWrite(column.name, None, timestamp, path=path))


# --------------------------------------------------------------------------- batches
def check_batch(kind: str, plans: list[ModificationPlan]) -> None:
    counters = [p.is_counter for p in plans]
    if kind == "LOGGED" and any(counters):
        raise InvalidRequest("Cannot include a counter statement in a logged batch")
    if kind == "COUNTER" and not all(counters):
        raise InvalidRequest("Cannot include non-counter statement in a counter batch")
    if any(counters) and not all(counters):
        raise InvalidRequest("Counter and non-counter mutations cannot exist in the same batch")


def _failed_batch(conditional: list, stores) -> RowsResult:
    """What a failed conditional batch answers, as Cassandra's buildCasFailureResultSet: for each
    row its conditions read that exists, [applied] = false, its primary key columns and the
    columns of the conditions (every column if one is IF [NOT] EXISTS); a lone [applied] = false
    when none exists."""
    table = conditional[0][0].table
    data = stores.data(table)
    if any(p.conditions.if_exists or p.conditions.if_not_exists for p, _ in conditional):
        columns = list(table.star_columns)
    else:
        columns = [*table.partition_key, *table.clustering]
        for plan, _ in conditional:
            columns += [c for c in plan.conditions.columns if c not in columns]
    applied = ColumnSpec(table.keyspace, table.name, APPLIED, CqlType("boolean").driver)
    specs = [applied] + [
        ColumnSpec(table.keyspace, table.name, c.name, c.type.driver) for c in columns
    ]
    rows = {}
    for plan, ctx in conditional:
        clustering, partition, row, live = _targeted_row(plan, ctx, data)
        if live:
            sort_key = () if clustering is None else data.clustering_key(clustering)
            rows[sort_key] = [False] + [reader(c)(ctx, partition, row) for c in columns]
    if not rows:
        return RowsResult([applied], [[False]])
    return RowsResult(specs, [rows[k] for k in sorted(rows)])


def execute_batch(kind: str, entries: list, stores, batch_timestamp: int | None):
    """entries: (plan, ctx) pairs. All mutations are built (and validated) before any applies."""
    plans = [plan for plan, _ in entries]
    check_batch(kind, plans)
    conditional = [(p, c) for p, c in entries if p.conditions is not None]
    if conditional:
        targets = {
            (p.table.id, stores.data(p.table).key_bytes(p.target(c, stores.data(p.table))[0]))
            for p, c in entries
        }
        if len(targets) > 1:
            raise InvalidRequest("Batch with conditions cannot span multiple partitions")
        if not all(plan.check(ctx, stores.data(plan.table))[0] for plan, ctx in conditional):
            return _failed_batch(conditional, stores)
    mutations = []
    for plan, ctx in entries:
        mutations.extend(plan.mutations(ctx, stores.data(plan.table), batch_timestamp))
    for mutation in mutations:
        stores.apply(mutation)
    if conditional:
        table = conditional[0][0].table
        spec = ColumnSpec(table.keyspace, table.name, APPLIED, CqlType("boolean").driver)
        return RowsResult([spec], [[True]])
    return VoidResult()
