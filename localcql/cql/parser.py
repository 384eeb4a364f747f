"""Parses CQL text into ``localcql.cql.ast`` statements with lark (LALR, grammar.lark)."""

from __future__ import annotations

import re
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from localcql.api import CqlSyntaxError, InvalidRequest
from localcql.cql import ast
from localcql.types import parsed_type

_PARSER = lark.Lark(
    (Path(__file__).with_name("grammar.lark")).read_text(),
    parser="lalr",
    lexer="contextual",
    propagate_positions=False,
    maybe_placeholders=True,
)

# Statements CQL has and localcql refuses on purpose, so they get a clear message instead of a
# syntax error that would suggest the query is malformed.
_UNSUPPORTED = [
    (re.compile(r"^\s*(create|drop|alter)\s+materialized\s+view\b", re.I), "materialized views"),
    (
        re.compile(r"^\s*(create|drop)\s+(or\s+replace\s+)?function\b", re.I),
        "user-defined functions",
    ),
    (
        re.compile(r"^\s*(create|drop)\s+(or\s+replace\s+)?aggregate\b", re.I),
        "user-defined aggregates",
    ),
    (re.compile(r"^\s*(create|drop)\s+trigger\b", re.I), "triggers"),
    (
        re.compile(r"^\s*((create|drop|alter)\s+(role|user)|grant|revoke|list)\b", re.I),
        "roles and permissions",
    ),
    (re.compile(r"^\s*select\b.*\bgroup\s+by\b", re.I | re.S), "GROUP BY"),
]


# Cassandra's reserved keywords: not names unless quoted. (token and set stay usable as
# names here because the grammar reads token() calls and the set type through names.)
RESERVED = set(
    [
        "add",
        "allow",
        "alter",
        "and",
        "apply",
        "asc",
        "authorize",
        "batch",
        "begin",
        "by",
        "columnfamily",
        "create",
        "delete",
        "desc",
        "describe",
        "drop",
        "entries",
        "execute",
        "from",
        "full",
        "grant",
        "if",
        "in",
        "index",
        "infinity",
        "insert",
        "into",
        "keyspace",
        "limit",
        "modify",
        "nan",
        "norecursive",
        "not",
        "null",
        "of",
        "on",
        "or",
        "order",
        "primary",
        "rename",
        "replace",
        "revoke",
        "schema",
        "select",
        "table",
        "to",
        "truncate",
        "unlogged",
        "update",
        "use",
        "using",
        "view",
        "where",
        "with",
    ]
)


def parse(query: str) -> ast.Statement:
    if re.match(r"^\s*alter\s+table\s+\S+\s+alter\b", query, re.I):
        raise InvalidRequest("Altering column types is no longer supported")
    try:
        tree = _PARSER.parse(query)
    except lark.exceptions.UnexpectedInput as exc:
        for pattern, feature in _UNSUPPORTED:
            if pattern.search(query):
                raise InvalidRequest(f"localcql does not support {feature}") from None
        raise CqlSyntaxError(_syntax_message(query, exc)) from None
    except lark.exceptions.VisitError as exc:  # raised inside the transformer (e.g. bad type)
        raise exc.orig_exc from None
    try:
        return _ToAst().transform(tree)
    except lark.exceptions.VisitError as exc:
        raise exc.orig_exc from None


def _syntax_message(query: str, exc: lark.exceptions.UnexpectedInput) -> str:
    line, column = exc.line, exc.column
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return f"line {line}:{column} no viable alternative at input '<EOF>'"
        return f"line {line}:{column} no viable alternative at input '{token}'"
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        return f"line {line}:{column} token recognition error at: '{query[exc.pos_in_stream]}'"
    return f"line {line}:{column} {exc}"


def _unquote(text: str, quote: str) -> str:
    return text[1:-1].replace(quote * 2, quote)


@v_args(inline=True)
class _ToAst(Transformer):
    """Bottom-up, left to right: bind markers are numbered in the order they appear."""

    def __init__(self):
        super().__init__()
        self._markers = 0

    # ------------------------------------------------------------------ names and types
    def name(self, token):
        if token.type == "QUOTED_NAME":
            return _unquote(str(token), '"')
        name = str(token).lower()
        if name in RESERVED:
            raise CqlSyntaxError(
                f"line {token.line}:{token.column - 1} no viable alternative at input '{token}'"
            )
        return name

    def table_name(self, first, second=None):
        return ast.TableName(first, second) if second is not None else ast.TableName(None, first)

    def cql_type(self, name, *rest):
        params = [p for p in rest if not isinstance(p, Token)]
        return parsed_type(str(name), params)

    # ------------------------------------------------------------------ terms
    def _constant(kind):
        def build(self, token):
            return ast.Constant(kind, str(token), str(token))

        return build

    integer = _constant("integer")
    duration = _constant("duration")
    float = _constant("float")
    uuid = _constant("uuid")
    hex = _constant("hex")

    def string(self, token):
        return ast.Constant("string", _unquote(str(token), "'"), str(token))

    def dollar_string(self, token):
        return ast.Constant("string", str(token)[2:-2], str(token))

    def boolean(self, token):
        return ast.Constant("boolean", str(token).lower(), str(token).lower())

    def null(self, token):
        return ast.Constant("null", "null", "null")

    def positional_marker(self):
        self._markers += 1
        return ast.Marker(self._markers - 1)

    def named_marker(self, name):
        self._markers += 1
        return ast.Marker(self._markers - 1, name)

    def list_literal(self, *items):
        return ast.Collection("list", tuple(i for i in items if i is not None))

    def set_literal(self, *items):
        return ast.Collection("set", tuple(i for i in items if i is not None))

    def map_literal(self, *entries):
        return ast.Collection("map", tuple(entries))

    def map_entry(self, key, value):
        return (key, value)

    def udt_literal(self, *fields):
        names = [name for name, _ in fields]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise InvalidRequest(f"Duplicate field '{duplicate}' in user type literal")
        return ast.UserTypeLiteral(tuple(fields))

    def field_value(self, name, value):
        return (name, value)

    def tuple_literal(self, *items):
        return ast.Tuple(tuple(items))

    def function_term(self, name, *args):
        return ast.FunctionCall(name, tuple(a for a in args if a is not None))

    def operator(self, token):
        return str(token)

    # ------------------------------------------------------------------ SELECT
    def select(self, *parts):
        clauses = dict(p for p in parts if isinstance(p, tuple))
        table = next(p for p in parts if isinstance(p, ast.TableName))
        return ast.Select(
            table=table,
            distinct=clauses.get("distinct", False),
            items=clauses["selection"],
            where=clauses.get("where", []),
            order_by=clauses.get("order_by", []),
            per_partition_limit=clauses.get("per_partition_limit"),
            limit=clauses.get("limit"),
            allow_filtering=clauses.get("allow_filtering", False),
            json=clauses.get("json", False),
        )

    def distinct(self):
        return ("distinct", True)

    def json(self):
        return ("json", True)

    def select_all(self):
        return ("selection", None)

    def selection(self, *items):
        return ("selection", list(items))

    def selector_item(self, selector, alias=None):
        return ast.SelectItem(selector, alias)

    def column_selector(self, name):
        return ast.ColumnSelector(name)

    def field_selector(self, arg, field):
        return ast.FieldSelector(arg, field)

    def function_selector(self, name, *args):
        return ast.FunctionSelector(name, tuple(a for a in args if a is not None))

    def count_star_selector(self, name):
        return ast.CountStar(name)

    def cast_selector(self, arg, cql_type):
        return ast.CastSelector(arg, cql_type)

    def constant_selector(self, constant):
        return ast.ConstantSelector(constant)

    def where(self, *relations):
        return ("where", list(relations))

    def single_relation(self, name, operator, value):
        return ast.Relation("single", [name], operator, value)

    def in_relation(self, name, values):
        return ast.Relation("in", [name], "IN", values)

    def token_relation(self, *parts):
        *names, operator, value = parts
        return ast.Relation("token", list(names), operator, value)

    def multi_relation(self, *parts):
        *names, operator, value = parts
        return ast.Relation("multi", list(names), operator, value)

    def multi_in_relation(self, *parts):
        *names, values = parts
        return ast.Relation("multi_in", list(names), "IN", values)

    def contains_relation(self, name, value):
        return ast.Relation("contains", [name], "CONTAINS", value)

    def contains_key_relation(self, name, value):
        return ast.Relation("contains", [name], "CONTAINS KEY", value)

    def in_values(self, *items):
        if len(items) == 1 and isinstance(items[0], ast.Marker):
            return items[0]
        return [i for i in items if i is not None]

    def order_by(self, *orderings):
        return ("order_by", list(orderings))

    def ordering(self, name, direction=None):
        return (name, direction is not None and direction.type == "DESC")

    def per_partition_limit(self, value):
        return ("per_partition_limit", _limit_value(value))

    def limit(self, value):
        return ("limit", _limit_value(value))

    def allow_filtering(self):
        return ("allow_filtering", True)

    # ------------------------------------------------------------------ writes
    def insert(self, table, *parts):
        names = [p for p in parts if isinstance(p, str)]
        values = [p for p in parts if not isinstance(p, str | tuple | ast.Using)]
        using = next((p for p in parts if isinstance(p, ast.Using)), ast.Using())
        if_not_exists = any(p == ("if_not_exists", True) for p in parts if isinstance(p, tuple))
        return ast.Insert(table, names, values, ast.Conditions(if_not_exists=if_not_exists), using)

    def insert_json(self, table, value, *parts):
        using = next((p for p in parts if isinstance(p, ast.Using)), ast.Using())
        if_not_exists = ("if_not_exists", True) in parts
        unset = ("json_default", "UNSET") in parts
        conditions = ast.Conditions(if_not_exists=if_not_exists)
        return ast.Insert(table, [], [], conditions, using, json=value, json_default_unset=unset)

    def json_default(self, token):
        return ("json_default", token.type)

    def if_not_exists(self):
        return ("if_not_exists", True)

    def if_exists(self):
        return ("if_exists", True)

    def using(self, *items):
        using = ast.Using()
        for kind, value in items:
            setattr(using, kind, value)
        return using

    def using_ttl(self, value):
        return ("ttl", _limit_value(value))

    def using_timestamp(self, value):
        return ("timestamp", _limit_value(value))

    def update(self, table, *parts):
        parts = [p for p in parts if not isinstance(p, Token)]  # the SET keyword
        using = next((p for p in parts if isinstance(p, ast.Using)), ast.Using())
        assignments = [p for p in parts if isinstance(p, ast.Assignment)]
        _check_compatible_settings(assignments)
        where = next(p[1] for p in parts if isinstance(p, tuple) and p[0] == "where")
        conditions = next((p for p in parts if isinstance(p, ast.Conditions)), ast.Conditions())
        return ast.Update(table, using, assignments, where, conditions)

    def set_assignment(self, name, _eq, value):
        return ast.Assignment("set", name, value, text=f"{name} = ...")

    def operation_assignment(self, name, _eq, other, op, value):
        text = f"{name} = {other} {op} {_term_text(value)}"
        if other != name:
            raise CqlSyntaxError(f"Only expressions of the form X = X {op}<value> are supported.")
        return ast.Assignment("add" if op == "+" else "subtract", name, value, text=text)

    def prepend_assignment(self, name, _eq, value, _plus, other):
        text = f"{name} = {_term_text(value)} + {other}"
        if other != name:
            raise CqlSyntaxError("Only expressions of the form X = <value> + X are supported.")
        return ast.Assignment("prepend", name, value, text=text)

    def compound_assignment(self, name, op, value):
        text = f"{name} {op} {_term_text(value)}"
        return ast.Assignment("add" if op == "+=" else "subtract", name, value, text=text)

    def field_assignment(self, name, field, _eq, value):
        return ast.Assignment("field", name, value, element=field, text=f"{name}.{field} = ...")

    def element_assignment(self, name, element, _eq, value):
        return ast.Assignment("element", name, value, element=element, text=f"{name}[...] = ...")

    def delete(self, *parts):
        targets = [p for p in parts if isinstance(p, ast.Deletion)]
        table = next(p for p in parts if isinstance(p, ast.TableName))
        using = next((p for p in parts if isinstance(p, ast.Using)), ast.Using())
        where = next(p[1] for p in parts if isinstance(p, tuple) and p[0] == "where")
        conditions = next((p for p in parts if isinstance(p, ast.Conditions)), ast.Conditions())
        return ast.Delete(table, targets, using, where, conditions)

    def column_deletion(self, name):
        return ast.Deletion(name)

    def element_deletion(self, name, element):
        return ast.Deletion(name, element)

    def conditions(self, *items):
        if items and items[0] == "exists":
            return ast.Conditions(if_exists=True)
        return ast.Conditions(columns=list(items))

    def exists(self):
        return "exists"

    def single_condition(self, name, operator, value):
        return ast.Condition(name, operator, value)

    def in_condition(self, name, values):
        return ast.Condition(name, "IN", values)

    def element_condition(self, name, element, operator, value):
        return ast.Condition(name, operator, value, element=element)

    def element_in_condition(self, name, element, values):
        return ast.Condition(name, "IN", values, element=element)

    def batch(self, *parts):
        kind = next((p for p in parts if isinstance(p, str)), "LOGGED")
        using = next((p for p in parts if isinstance(p, ast.Using)), ast.Using())
        statements = [p for p in parts if isinstance(p, ast.Insert | ast.Update | ast.Delete)]
        return ast.Batch(kind, using, statements)

    def batch_type(self, token):
        return str(token).upper()

    # ------------------------------------------------------------------ schema
    def create_keyspace(self, *parts):
        name = next(p for p in parts if isinstance(p, str))
        return ast.CreateKeyspace(name, ("if_not_exists", True) in parts, parts[-1])

    def alter_keyspace(self, name, properties):
        return ast.AlterKeyspace(name, properties)

    def drop_keyspace(self, *parts):
        return ast.DropKeyspace(parts[-1], ("if_exists", True) in parts)

    def use(self, name):
        return ast.Use(name)

    def properties(self, *items):
        return dict(items)

    def property(self, name, _eq, value):
        return (name, value)

    def create_table(self, *parts):
        table = next(p for p in parts if isinstance(p, ast.TableName))
        columns = [p for p in parts if isinstance(p, ast.ColumnDefinition)]
        keys = [p[1] for p in parts if isinstance(p, tuple) and p[0] == "primary_key"]
        options = next((p for p in parts if isinstance(p, dict)), {})
        order = options.pop("\0clustering_order", None)
        return ast.CreateTable(
            table, ("if_not_exists", True) in parts, columns, keys, options, order
        )

    def column_definition(self, name, cql_type, *flags):
        return ast.ColumnDefinition(name, cql_type, "static" in flags, "primary_key" in flags)

    def static(self):
        return "static"

    def primary_key_marker(self):
        return "primary_key"

    def primary_key(self, partition, *clustering):
        return ("primary_key", (partition, list(clustering)))

    def partition_key(self, *names):
        return list(names)

    def table_options(self, *options):
        result = {}
        for key, value in options:
            if key in result:
                raise CqlSyntaxError(f"Multiple definitions for property {key}")
            result[key] = value
        return result

    def clustering_order(self, *orderings):
        return ("\0clustering_order", list(orderings))

    def compact_storage(self):
        raise InvalidRequest("localcql does not support COMPACT STORAGE")

    def alter_table(self, table, action):
        action.table = table
        return action

    def alter_add(self, *columns):
        return ast.AlterTable(None, add=list(columns))

    def added_column(self, name, cql_type, static=None):
        return ast.ColumnDefinition(name, cql_type, static is not None)

    def alter_drop(self, *names):
        return ast.AlterTable(None, drop=list(names))

    def alter_options(self, options):
        if "\0clustering_order" in options:
            raise InvalidRequest("Cannot change the clustering order of an existing table")
        return ast.AlterTable(None, options=options)

    def alter_rename(self, *renamings):
        return ast.AlterTable(None, renames=list(renamings))

    def renaming(self, old, new):
        return (old, new)

    def drop_table(self, *parts):
        return ast.DropTable(parts[-1], ("if_exists", True) in parts)

    def truncate(self, table):
        return ast.Truncate(table)

    def create_type(self, *parts):
        name = next(p for p in parts if isinstance(p, ast.TableName))
        fields = [p for p in parts if isinstance(p, tuple) and p[0] != "if_not_exists"]
        names = [f for f, _ in fields]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise InvalidRequest(f"Duplicate field name {duplicate} in type {name.name}")
        return ast.CreateType(name, ("if_not_exists", True) in parts, fields)

    def type_field(self, name, cql_type):
        return (name, cql_type)

    def alter_type(self, name, action):
        action.name = name
        return action

    def alter_type_add(self, field):
        return ast.AlterType(None, add=field)

    def alter_type_rename(self, *renamings):
        return ast.AlterType(None, renames=list(renamings))

    def drop_type(self, *parts):
        return ast.DropType(parts[-1], ("if_exists", True) in parts)

    def create_index(self, *parts):
        if "custom" in parts or any(isinstance(p, tuple) and p[0] == "using" for p in parts):
            raise InvalidRequest("localcql does not support custom indexes (SAI, SASI)")
        table = next(p for p in parts if isinstance(p, ast.TableName))
        names = [p for p in parts[: parts.index(table)] if isinstance(p, str)]
        kind, column = next(p for p in parts if isinstance(p, tuple) and p[0] in _INDEX_KINDS)
        name = names[0] if names else None
        return ast.CreateIndex(table, name, column, kind, ("if_not_exists", True) in parts)

    def custom(self):
        return "custom"

    def index_using(self, token):
        return ("using", str(token))

    def index_on_values(self, name):  # `c` and `values(c)` alike
        return ("values", name)

    def index_on_keys(self, name):
        return ("keys", name)

    def index_on_entries(self, name):
        return ("entries", name)

    def index_on_full(self, name):
        return ("full", name)

    def drop_index(self, *parts):
        name = parts[-1]
        return ast.DropIndex(name.keyspace, name.name, ("if_exists", True) in parts)

    def describe(self, *parts):
        return parts[-1]

    def describe_keyspaces(self):
        return ast.Describe("keyspaces")

    def describe_keyspace(self, name=None):
        return ast.Describe("keyspace", name=name)

    def describe_tables(self):
        return ast.Describe("tables")

    def describe_table(self, table):
        return ast.Describe("table", table.keyspace, table.name)

    def describe_schema(self):
        return ast.Describe("schema")

    def describe_full_schema(self):
        return ast.Describe("schema", full=True)

    def describe_cluster(self):
        return ast.Describe("cluster")

    def describe_name(self, table):
        return ast.Describe("name", table.keyspace, table.name)

    def start(self, statement):
        return statement


_INDEX_KINDS = ("values", "keys", "entries", "full")


def _check_compatible_settings(assignments: list[ast.Assignment]) -> None:
    """As Cassandra's parser: a column set outright cannot also be changed in the same SET
    (additions, removals and element settings of one column may be combined)."""
    seen: dict[str, list[str]] = {}
    for assignment in assignments:
        kinds = seen.setdefault(assignment.column, [])
        if kinds and ("set" in kinds or assignment.kind == "set"):
            raise CqlSyntaxError(f"Multiple incompatible setting of column {assignment.column}")
        kinds.append(assignment.kind)


def _limit_value(value):
    return value if isinstance(value, ast.Marker) else int(value)


def _term_text(term) -> str:
    if isinstance(term, ast.Constant):
        return term.text
    if isinstance(term, ast.Marker):
        return "?" if term.name is None else f":{term.name}"
    return "..."
