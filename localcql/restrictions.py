"""WHERE clauses: which partitions and clustering ranges a statement touches, and what to filter.

The analysis happens once at PREPARE and applies Cassandra's rules (StatementRestrictions): the
partition key is restricted by = / IN on every part or by token(); clustering columns by = / IN on a
prefix, then at most one slice (single column or a tuple relation); anything else needs ALLOW
FILTERING and becomes a row filter.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from localcql.api import UNSET, InvalidRequest
from localcql.cql import ast
from localcql.schema import Column, Table
from localcql.storage import RangeDeletion, token_of
from localcql.terms import Binder, Getter, compile_term, compile_tuple_items, term_text
from localcql.types import TOP, CqlType

FILTERING_MESSAGE = (
    "Cannot execute this query as it might involve data filtering and thus may have unpredictable "
    "performance. If you want to execute this query despite the performance unpredictability, "
    "use ALLOW FILTERING"
)
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


def _check_value(column: Column, value, what: str = "condition"):
    if value is UNSET:
        raise InvalidRequest(f"Invalid unset value for column {column.name}")
    if value is None:
        raise InvalidRequest(f"Invalid null value in {what} for column {column.name}")
    return value


def _values_getter(relation: ast.Relation, column: Column, binder: Binder) -> Callable:
    """ctx -> the list of values an = or IN relation allows for one column."""
    if relation.operator == "=":
        getter = compile_term(relation.value, column.type, column.name, binder)
        return lambda ctx: [_check_value(column, getter(ctx))]
    if isinstance(relation.value, ast.Marker):  # IN ?: one bound list
        list_type = CqlType("list", (column.type,))
        getter = compile_term(relation.value, list_type, f"in({column.name})", binder)
        return lambda ctx: [_check_value(column, v) for v in _check_value(column, getter(ctx))]
    getters = [compile_term(v, column.type, column.name, binder) for v in relation.value]
    return lambda ctx: [_check_value(column, g(ctx)) for g in getters]


def _compare(cql_type: CqlType, operator: str, left, right) -> bool:
    if left is None or right is None:
        return False
    if operator in ("=", "!="):
        equal = cql_type.sort_key(left) == cql_type.sort_key(right)
        return equal if operator == "=" else not equal
    a, b = cql_type.sort_key(left), cql_type.sort_key(right)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


def _tuple_compare(columns: list[Column], operator: str, left: tuple, right: tuple) -> bool:
    """Lexicographic comparison on the column values, whatever each column's clustering order."""
    a = tuple(c.type.sort_key(v) for c, v in zip(columns, left, strict=False))
    b = tuple(c.type.sort_key(v) for c, v in zip(columns, right, strict=False))
    return {"=": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[operator]


_WHOLE_PARTITION = [((), (TOP,), True)]


def check_not_empty(columns: list[Column], key: tuple) -> None:
    if len(columns) == 1 and columns[0].type.name in ("text", "ascii", "blob") and not key[0]:
        raise InvalidRequest("Key may not be empty")


@dataclass
class Slice:
    """A range on one clustering column, after an = / IN prefix."""

    start: Getter | None = None
    start_inclusive: bool = True
    end: Getter | None = None
    end_inclusive: bool = True

    def add(self, operator: str, getter: Getter, column: str) -> None:
        if operator in (">", ">="):
            if self.start is not None:
                raise InvalidRequest(
                    f"More than one restriction was found for the start bound on {column}"
                )
            self.start, self.start_inclusive = getter, operator == ">="
        elif operator in ("<", "<="):
            if self.end is not None:
                raise InvalidRequest(
                    f"More than one restriction was found for the end bound on {column}"
                )
            self.end, self.end_inclusive = getter, operator == "<="
        else:
            raise InvalidRequest(f'Unsupported "{operator}" relation on {column}')


@dataclass
class Restrictions:
    table: Table
    partition_values: list[Callable] | None = None  # per partition key column, when all = / IN
    partition_in: bool = False
    token_slice: Slice | None = None
    prefix: list[Callable] = field(default_factory=list)  # = / IN on leading clustering columns
    prefix_tuples: Callable | None = None  # (a, b) IN ((..), (..)): whole prefixes
    slice: Slice | None = None  # on clustering column len(prefix)
    filters: list[Callable] = field(default_factory=list)  # (ctx, read) -> bool
    needs_filtering: bool = False
    # A scan an index narrows: (column, index kind, key type, ctx -> the value looked up).
    index_lookup: tuple | None = None

    @property
    def clustering_restricted(self) -> bool:
        return bool(self.prefix or self.prefix_tuples or self.slice)

    def partition_keys(self, ctx) -> list[tuple]:
        """Every partition key the = / IN restrictions allow, in key order, without duplicates."""
        columns = self.table.partition_key
        candidates = [values(ctx) for values in self.partition_values]
        if all(len(c) == 1 for c in candidates):  # the common point lookup: nothing to sort
            key = tuple(c[0] for c in candidates)
            check_not_empty(columns, key)
            return [key]
        combos = itertools.product(*candidates)
        unique = {}
        for key in combos:
            check_not_empty(columns, key)
            unique[tuple(c.type.sort_key(v) for c, v in zip(columns, key, strict=True))] = key
        return [unique[k] for k in sorted(unique)]

    def prefixes(self, ctx, data) -> list[tuple]:
        """The clustering prefixes the = / IN restrictions allow, in clustering order."""
        if self.prefix_tuples is not None:
            candidates = self.prefix_tuples(ctx)
        else:
            candidates = itertools.product(*(values(ctx) for values in self.prefix))
        unique = {data.clustering_key(p): tuple(p) for p in candidates}
        return [unique[k] for k in sorted(unique)]

    def ranges(self, ctx, data) -> list[tuple]:
        """Sort-key ranges (low, high, high_inclusive) of the rows to read, in clustering order."""
        if not self.clustering_restricted:
            return _WHOLE_PARTITION
        start = end = None
        start_inclusive = end_inclusive = True
        if self.slice is not None:
            if self.slice.start is not None:
                start, start_inclusive = self.slice.start(ctx), self.slice.start_inclusive
            if self.slice.end is not None:
                end, end_inclusive = self.slice.end(ctx), self.slice.end_inclusive
        return [
            data.range_bounds(RangeDeletion(prefix, 0, start, start_inclusive, end, end_inclusive))
            for prefix in self.prefixes(ctx, data)
        ]


def analyze(
    table: Table,
    where: list[ast.Relation],
    binder: Binder,
    reader: Callable[[Column], Callable],
    allow_filtering: bool,
    for_select: bool = True,
) -> Restrictions:
    """``reader(column)`` gives a function (ctx, partition, row) -> value, used by filters."""
    r = Restrictions(table)
    # As Cassandra: one relation an index answers makes the query an index query, which may
    # leave the partition key partly restricted and skip clustering columns without ALLOW
    # FILTERING; any other relation that filters still needs it.
    index_relation = next(
        (
            rel
            for rel in where
            if rel.kind in ("single", "contains")
            and any(index.supports(rel) for index in table.indexes.values())
        ),
        None,
    )
    indexed = for_select and index_relation is not None
    by_column: dict[str, list[ast.Relation]] = {}
    for relation in where:
        for name in relation.columns:
            if name not in table.columns:
                raise InvalidRequest(f"Undefined column name {name}")
        if relation.kind == "token":
            if not for_select:
                raise InvalidRequest(
                    "The token function cannot be used in WHERE clauses for UPDATE and DELETE "
                    "statements"
                )
            _token_relation(r, relation, binder)
            continue
        if relation.kind in ("multi", "multi_in"):
            by_column.setdefault("\0multi", []).append(relation)
            continue
        by_column.setdefault(relation.columns[0], []).append(relation)

    for name, relations in by_column.items():
        if len(relations) > 1 and any(rel.operator in ("=", "IN") for rel in relations):
            raise InvalidRequest(
                f"{name} cannot be restricted by more than one relation if it includes an Equal"
            )

    # ---------------------------------------------------------------- partition key
    pk_values = []
    for column in table.partition_key:
        relations = by_column.pop(column.name, [])
        eq = [rel for rel in relations if rel.operator in ("=", "IN")]
        others = [rel for rel in relations if rel.operator not in ("=", "IN")]
        if others and not (for_select and allow_filtering):
            raise InvalidRequest(
                "Only EQ and IN relation are supported on the partition key (unless you use the "
                "token() function or allow filtering)"
            )
        for rel in others:
            r.filters.append(_filter(rel, column, binder, reader))
        if eq:
            pk_values.append(_values_getter(eq[0], column, binder))
            r.partition_in |= eq[0].operator == "IN"
        else:
            pk_values.append(None)
    if all(v is not None for v in pk_values):
        r.partition_values = pk_values
        if r.token_slice is not None:
            # token(k) > x AND k = y: the keys, kept if their token is in range (Cassandra's
            # TokenFilter), no filtering needed.
            r.filters.append(_token_filter(table, r.token_slice))
            r.token_slice = None
    elif any(v is not None for v in pk_values):
        if not for_select:
            missing = [
                c.name for c, v in zip(table.partition_key, pk_values, strict=True) if v is None
            ]
            raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
        # A partially restricted partition key can only be filtered.
        r.needs_filtering |= not indexed
        for column, values in zip(table.partition_key, pk_values, strict=True):
            if values is not None:
                r.filters.append(_in_filter(values, column, reader))
    elif not for_select:
        missing = [c.name for c in table.partition_key]
        raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")

    # ---------------------------------------------------------------- clustering columns
    multi = by_column.pop("\0multi", [])
    clustering = table.clustering
    position = 0
    previous_slice: Column | None = None
    gap: Column | None = None
    for column in clustering:
        if multi and multi[0].columns[0] == column.name and gap is None and previous_slice is None:
            start = position
            position = _multi_relations(r, multi, table, position, binder)
            if r.slice is not None:
                # (a, b) > (1, 2) AND a < 3: the single-column bounds on the tuple's columns
                # narrow the range row by row (its lead column's range stays coarse).
                width = max(len(rel.columns) for rel in multi)
                for covered in clustering[start : start + width]:
                    for rel in by_column.pop(covered.name, []):
                        if rel.operator in ("=", "IN", "!="):
                            raise InvalidRequest(
                                f'Column "{covered.name}" cannot be restricted by both a tuple '
                                "notation inequality and a single column relation"
                            )
                        r.filters.append(_filter(rel, covered, binder, reader))
                previous_slice = clustering[position]
                position += 1
            multi = []
            continue
        relations = by_column.pop(column.name, [])
        if column.position < position:
            if relations:
                raise InvalidRequest(
                    f'Column "{column.name}" cannot be restricted by both a tuple notation '
                    f"inequality and a single column relation"
                )
            continue
        if not relations:
            gap = gap or column
            continue
        if gap is not None or previous_slice is not None:
            if not (allow_filtering or indexed) or not for_select:
                if previous_slice is not None:
                    raise InvalidRequest(
                        f'Clustering column "{column.name}" cannot be restricted (preceding column '
                        f'"{previous_slice.name}" is restricted by a non-EQ relation)'
                    )
                raise InvalidRequest(
                    f'PRIMARY KEY column "{column.name}" cannot be restricted as preceding column '
                    f'"{gap.name}" is not restricted'
                )
            r.filters.extend(_filter(rel, column, binder, reader) for rel in relations)
            r.needs_filtering |= not indexed
            continue
        eq = [rel for rel in relations if rel.operator in ("=", "IN")]
        if eq:
            r.prefix.append(_values_getter(eq[0], column, binder))
            position += 1
            continue
        r.slice = Slice()
        for rel in relations:
            if rel.operator == "!=":
                raise InvalidRequest(f'Unsupported "!=" relation: {column.name} != ...')
            getter = compile_term(rel.value, column.type, column.name, binder)
            r.slice.add(rel.operator, getter, column.name)
        previous_slice = column
        position += 1
    if multi:
        raise InvalidRequest(
            "Clustering columns must appear in the PRIMARY KEY order in multi-column relations"
        )

    # ---------------------------------------------------------------- other columns
    for name, relations in by_column.items():
        column = table.columns[name]
        if not for_select:
            raise InvalidRequest(f"Non PRIMARY KEY columns found in where clause: {name}")
        r.needs_filtering |= any(rel is not index_relation for rel in relations)
        r.filters.extend(_filter(rel, column, binder, reader) for rel in relations)
    if for_select and r.partition_values is None and r.clustering_restricted and not indexed:
        r.needs_filtering = True
    if indexed and r.partition_values is None and r.token_slice is None:
        r.index_lookup = _index_lookup(table, index_relation, binder)
    if r.needs_filtering and not allow_filtering:
        raise InvalidRequest(FILTERING_MESSAGE)
    return r


def _token_relation(r: Restrictions, relation: ast.Relation, binder: Binder) -> None:
    table = r.table
    if relation.columns != [c.name for c in table.partition_key]:
        raise InvalidRequest(
            "The token function arguments must be in the partition key order: "
            + ", ".join(c.name for c in table.partition_key)
        )
    if relation.operator in ("!=", "IN"):
        raise InvalidRequest(f"{relation.operator} cannot be used with the token function")
    if isinstance(relation.value, ast.FunctionCall) and relation.value.name == "token":
        getter = _token_of_terms(table, relation.value.args, binder)
    else:
        getter = compile_term(relation.value, CqlType("bigint"), "partition key token", binder)
    if r.token_slice is None:
        r.token_slice = Slice()
    if relation.operator == "=":  # the one token: the range [token, token]
        r.token_slice.add(">=", getter, "token")
        r.token_slice.add("<=", getter, "token")
    else:
        r.token_slice.add(relation.operator, getter, "token")


def _index_lookup(table: Table, relation: ast.Relation, binder: Binder) -> tuple:
    """What an index query looks up: compiled as its filter compiles the relation's value, so
    a bind marker gets the same name and type."""
    column = table.columns[relation.columns[0]]
    t = column.type
    index = next(i for i in table.indexes.values() if i.supports(relation))
    if relation.operator == "=":
        key_type = t
    elif relation.operator == "CONTAINS KEY" or t.name != "map":
        key_type = t.params[0]
    else:
        key_type = t.params[1]
    getter = compile_term(relation.value, key_type, column.name, binder)
    return column.name, index.kind, key_type, lambda ctx: _check_value(column, getter(ctx))


def _token_filter(table: Table, bounds: Slice) -> Callable:
    def accept(ctx, rowref):
        token = token_of(table, rowref[0].key)
        if bounds.start is not None:
            start = bounds.start(ctx)
            if token < start or (token == start and not bounds.start_inclusive):
                return False
        if bounds.end is not None:
            end = bounds.end(ctx)
            if token > end or (token == end and not bounds.end_inclusive):
                return False
        return True

    return accept


def _token_of_terms(table: Table, args, binder: Binder) -> Getter:
    if len(args) != len(table.partition_key):
        raise InvalidRequest("Invalid number of arguments to token()")
    getters = [
        compile_term(a, c.type, c.name, binder)
        for a, c in zip(args, table.partition_key, strict=True)
    ]
    return Getter(lambda ctx: token_of(table, tuple(g(ctx) for g in getters)), False)


def _multi_relations(r: Restrictions, relations, table: Table, position: int, binder) -> int:
    """Tuple relations on clustering columns starting at ``position``; returns the new position."""
    clustering = table.clustering
    for relation in relations:
        names = relation.columns
        expected = [c.name for c in clustering[position : position + len(names)]]
        if names != expected:
            raise InvalidRequest(
                "Clustering columns must appear in the PRIMARY KEY order in multi-column relations"
            )
    columns = [table.columns[n] for n in relations[0].columns]
    tuple_type = CqlType("tuple", tuple(c.type for c in columns))
    name = "(" + ",".join(c.name for c in columns) + ")"
    first = relations[0]
    if first.operator == "=" and len(relations) == 1:
        getter = _tuple_term(first.value, columns, binder)
        for i, column in enumerate(columns):
            r.prefix.append(lambda ctx, g=getter, i=i, c=column: [_check_value(c, g(ctx)[i])])
        return position + len(columns)
    if first.operator == "IN" and len(relations) == 1:
        if position:
            raise InvalidRequest("localcql does not support a tuple IN after other restrictions")
        if isinstance(first.value, ast.Marker):
            list_type = CqlType("list", (tuple_type,))
            getter = compile_term(first.value, list_type, f"in{name}", binder)
        else:
            getters = [_tuple_term(v, columns, binder) for v in first.value]

            def getter(ctx, getters=getters):
                return [g(ctx) for g in getters]

        r.prefix_tuples = lambda ctx: [tuple(t) for t in getter(ctx)]
        return position + len(columns)
    # Tuple slices: a coarse range on the first column, then the exact lexicographic check.
    r.slice = Slice()
    lead = columns[0]
    for relation in relations:
        if relation.operator in ("=", "IN", "!="):
            raise InvalidRequest(f"localcql does not support mixing tuple {relation.operator} here")
        rel_columns = [table.columns[n] for n in relation.columns]
        getter = _non_null_tuple(_tuple_term(relation.value, rel_columns, binder), rel_columns)
        operator = relation.operator
        coarse = Getter(lambda ctx, g=getter: g(ctx)[0], False)
        r.slice.add("<=" if operator.startswith("<") else ">=", coarse, lead.name)
        offset = position

        def exact(ctx, read, g=getter, op=operator, cols=rel_columns, offset=offset):
            row = read[1]
            if row is None:
                return False
            values = row.clustering[offset : offset + len(cols)]
            return _tuple_compare(cols, op, values, g(ctx))

        r.filters.append(exact)
    return position


def _tuple_term(term, columns: list[Column], binder: Binder) -> Getter:
    """The value of a tuple relation: a literal's items bind to their columns, a single marker to
    the tuple, named "(c1,c2)" as in Cassandra."""
    if isinstance(term, ast.Tuple):
        if len(term.items) != len(columns):
            raise InvalidRequest(
                f"Expected {len(columns)} elements in value tuple, but got {len(term.items)}: "
                f"{term_text(term)}"
            )
        types = [c.type for c in columns]
        return compile_tuple_items(term.items, types, [c.name for c in columns], binder)
    tuple_type = CqlType("tuple", tuple(c.type for c in columns))
    return compile_term(term, tuple_type, "(" + ",".join(c.name for c in columns) + ")", binder)


def _non_null_tuple(getter: Getter, columns: list[Column]) -> Getter:
    def get(ctx):
        value = _check_value(columns[0], getter(ctx))
        for column, component in zip(columns, value, strict=False):
            _check_value(column, component)
        return value

    return Getter(get, False)


def _contains_filter(relation: ast.Relation, column: Column, binder: Binder, reader) -> Callable:
    t = column.type
    if not t.is_collection:
        raise InvalidRequest(f"Cannot use CONTAINS on non-collection column {column.name}")
    by_key = relation.operator == "CONTAINS KEY"
    if by_key and t.name != "map":
        raise InvalidRequest(f"Cannot use CONTAINS KEY on non-map column {column.name}")
    element_type = t.params[0] if by_key or t.name != "map" else t.params[1]
    getter = compile_term(relation.value, element_type, column.name, binder)
    read, key = reader(column), element_type.sort_key

    def accept(ctx, rowref):
        value = read(ctx, *rowref)
        if value is None:
            return False
        elements = value.values() if t.name == "map" and not by_key else value
        wanted = key(_check_value(column, getter(ctx)))
        return any(key(e) == wanted for e in elements)

    return accept


def _filter(relation: ast.Relation, column: Column, binder: Binder, reader) -> Callable:
    if relation.kind == "contains":
        return _contains_filter(relation, column, binder, reader)
    read = reader(column)
    if relation.operator == "IN":
        return _in_filter(_values_getter(relation, column, binder), column, reader)
    getter = compile_term(relation.value, column.type, column.name, binder)
    operator = relation.operator

    def accept(ctx, rowref):
        return _compare(column.type, operator, read(ctx, *rowref), getter(ctx))

    return accept


def _in_filter(values: Callable, column: Column, reader) -> Callable:
    read = reader(column)
    key = column.type.sort_key

    def accept(ctx, rowref):
        value = read(ctx, *rowref)
        return value is not None and key(value) in {key(v) for v in values(ctx)}

    return accept
