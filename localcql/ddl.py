"""Schema statements: CREATE/ALTER/DROP KEYSPACE and TABLE, USE, TRUNCATE.

Each plan validates like Cassandra's schema statements, then describes its change as a
``SchemaChange`` for ``Store.apply_schema``; the engine tells listeners about the result.
"""

from __future__ import annotations

import re
from dataclasses import replace

from localcql.api import (
    AlreadyExists,
    ConfigurationError,
    CqlSyntaxError,
    InvalidRequest,
    SchemaChangeResult,
    SetKeyspaceResult,
    Unauthorized,
    VoidResult,
)
from localcql.cql import ast
from localcql.schema import (
    CLUSTERING,
    DEFAULT_TABLE_OPTIONS,
    PARTITION_KEY,
    REGULAR,
    STATIC,
    Column,
    Index,
    Keyspace,
    SchemaChange,
    Table,
)
from localcql.storage import Store, Truncation
from localcql.types import CqlType, frozen, resolve, user_type

SYSTEM_KEYSPACES = ("system", "system_schema", "system_auth", "system_distributed", "system_traces")
_STRATEGIES = ("SimpleStrategy", "NetworkTopologyStrategy", "LocalStrategy", "EverywhereStrategy")
_TABLE_OPTIONS = set(DEFAULT_TABLE_OPTIONS)
_CLASS_PACKAGES = {
    "compaction": "org.apache.cassandra.db.compaction.",
    "compression": "org.apache.cassandra.io.compress.",
}


def property_value(term):
    """A WITH property's value as plain data: str, int, float, bool, or a dict of str."""
    if isinstance(term, ast.Constant):
        if term.kind == "integer":
            return int(term.value)
        if term.kind == "float":
            return float(term.value)
        if term.kind == "boolean":
            return term.value == "true"
        return term.value
    if isinstance(term, ast.Collection) and term.kind in ("map", "set"):
        if term.kind == "set" and term.items:
            raise CqlSyntaxError("Invalid property value: expected a map")
        # Cassandra keeps option maps as map<text, text>.
        return {_as_text(property_value(k)): _as_text(property_value(v)) for k, v in term.items}
    raise CqlSyntaxError("Invalid property value")


def _as_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# Cassandra's SchemaConstants.NAME_LENGTH and isValidName: keyspace and table names are words.
NAME_LENGTH = 48
MAX_TTL = 20 * 365 * 24 * 60 * 60


def _check_name(what: str, name: str) -> None:
    if not name or len(name) > NAME_LENGTH or not re.fullmatch(r"\w+", name, re.ASCII):
        raise ConfigurationError(
            f"{what} name must not be empty, more than {NAME_LENGTH} characters long, or contain "
            f'non-alphanumeric-underscore characters (got "{name}")'
        )


def _check_user_keyspace(name: str) -> None:
    if name in SYSTEM_KEYSPACES:
        raise Unauthorized(f"{name} keyspace is not user-modifiable.")


def _keyspace(store: Store, name: str) -> Keyspace:
    keyspace = store.schema.keyspaces.get(name)
    if keyspace is None:
        raise InvalidRequest(f"Keyspace '{name}' doesn't exist")
    return keyspace


def _replication(properties: dict) -> tuple[dict, bool]:
    unknown = set(properties) - {"replication", "durable_writes"}
    if unknown:
        raise CqlSyntaxError(f"Unknown property '{sorted(unknown)[0]}'")
    if "replication" not in properties:
        raise InvalidRequest("Missing mandatory option 'replication'")
    replication = property_value(properties["replication"])
    if not isinstance(replication, dict) or "class" not in replication:
        raise InvalidRequest("Missing replication strategy class")
    strategy = replication["class"].rsplit(".", 1)[-1]
    if strategy not in _STRATEGIES:
        raise InvalidRequest(f"Unable to find replication strategy class '{replication['class']}'")
    replication["class"] = f"org.apache.cassandra.locator.{strategy}"
    if strategy == "SimpleStrategy":
        factor = replication.get("replication_factor")
        if factor is None:
            raise ConfigurationError(
                "SimpleStrategy requires a replication_factor strategy option."
            )
        if not factor.isdigit():
            raise ConfigurationError(f"Replication factor must be numeric; found {factor}")
    durable = property_value(properties.get("durable_writes", ast.Constant("boolean", "true", "")))
    if not isinstance(durable, bool):
        durable = str(durable).lower() == "true"
    return replication, durable


def table_options(options: dict, base: dict) -> dict:
    result = dict(base)
    for name, term in options.items():
        if name not in _TABLE_OPTIONS or name in ("id", "flags"):
            raise CqlSyntaxError(f"Unknown property '{name}'")
        value = property_value(term)
        default = DEFAULT_TABLE_OPTIONS[name]
        if isinstance(default, dict) != isinstance(value, dict):
            raise InvalidRequest(f"Invalid value for property '{name}'")
        if name in _CLASS_PACKAGES and "class" in value and "." not in value["class"]:
            value["class"] = _CLASS_PACKAGES[name] + value["class"]
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        result[name] = value
    return result


class CreateKeyspacePlan:
    def __init__(self, statement: ast.CreateKeyspace):
        self.statement = statement
        self.replication, self.durable = _replication(statement.properties)

    def run(self, store: Store, ctx):
        name = self.statement.name
        _check_user_keyspace(name)
        _check_name("Keyspace", name)
        if name in store.schema.keyspaces:
            if self.statement.if_not_exists:
                return VoidResult()
            raise AlreadyExists(f'Cannot add existing keyspace "{name}"', name)
        keyspace = Keyspace(name, dict(self.replication), self.durable)
        store.apply_schema(SchemaChange("create_keyspace", keyspace))
        return SchemaChangeResult("CREATED", "KEYSPACE", name)


class AlterKeyspacePlan:
    def __init__(self, statement: ast.AlterKeyspace):
        self.statement = statement
        self.replication, self.durable = _replication(statement.properties)

    def run(self, store: Store, ctx):
        name = self.statement.name
        _check_user_keyspace(name)
        _keyspace(store, name)
        keyspace = Keyspace(name, dict(self.replication), self.durable)
        store.apply_schema(SchemaChange("alter_keyspace", keyspace))
        return SchemaChangeResult("UPDATED", "KEYSPACE", name)


class DropKeyspacePlan:
    def __init__(self, statement: ast.DropKeyspace):
        self.statement = statement

    def run(self, store: Store, ctx):
        name = self.statement.name
        _check_user_keyspace(name)
        if name not in store.schema.keyspaces:
            if self.statement.if_exists:
                return VoidResult()
            raise InvalidRequest(f"Keyspace '{name}' doesn't exist")
        store.apply_schema(SchemaChange("drop_keyspace", name))
        return SchemaChangeResult("DROPPED", "KEYSPACE", name)


class UsePlan:
    def __init__(self, statement: ast.Use):
        self.keyspace = statement.keyspace

    def run(self, store: Store, ctx):
        if self.keyspace not in store.schema.keyspaces:
            raise InvalidRequest(f"Keyspace '{self.keyspace}' does not exist")
        ctx.session.keyspace = self.keyspace
        return SetKeyspaceResult(self.keyspace)


def build_table(statement: ast.CreateTable, keyspace: str, types: dict | None = None) -> Table:
    """The table a CREATE TABLE describes, validated as Cassandra's CreateTableStatement does;
    ``types`` are the keyspace's user-defined types, by name."""
    name = statement.table.name
    definitions: dict[str, ast.ColumnDefinition] = {}
    for column in statement.columns:
        if column.name in definitions:
            raise InvalidRequest(f"Duplicate column '{column.name}' declaration for table '{name}'")
        column_type = resolve(column.type, keyspace, types or {})
        definitions[column.name] = replace(column, type=column_type)
    keys = list(statement.primary_keys)
    keys += [([c.name], []) for c in statement.columns if c.primary_key]
    if not keys:
        raise InvalidRequest(f"No PRIMARY KEY specifed for table '{name}' (exactly one required)")
    if len(keys) > 1:
        raise InvalidRequest(
            f"Multiple PRIMARY KEY specified for table '{name}' (exactly one required)"
        )
    partition, clustering = keys[0]
    seen = set()
    for column_name in partition + clustering:
        if column_name not in definitions:
            raise InvalidRequest(
                f"Unknown column '{column_name}' referenced in PRIMARY KEY for table '{name}'"
            )
        if column_name in seen:
            raise InvalidRequest(
                f"Duplicate column '{column_name}' in PRIMARY KEY clause for table '{name}'"
            )
        seen.add(column_name)
        definition = definitions[column_name]
        t = definition.type
        if t.is_multicell:
            raise InvalidRequest(
                f"Invalid non-frozen collection type {t.cql} for PRIMARY KEY column '{column_name}'"
            )
        if t.udt is not None and not t.frozen:
            raise InvalidRequest(
                f'Invalid non-frozen user-defined type "{t.cql}" for PRIMARY KEY column '
                f"'{column_name}'"
            )
        if t.name in ("counter", "duration"):
            raise InvalidRequest(
                f"{t.name} type is not supported for PRIMARY KEY column '{column_name}'"
            )
        if definition.static:
            raise InvalidRequest(f"Static column '{column_name}' cannot be part of the PRIMARY KEY")
    order = statement.clustering_order or []
    for i, (column_name, _) in enumerate(order):
        if column_name not in clustering:
            raise InvalidRequest(
                "Only clustering columns can be defined in CLUSTERING ORDER directive"
            )
        if clustering[i] != column_name:
            raise InvalidRequest(
                "The order of columns in the CLUSTERING ORDER directive must match that of the "
                f"clustering columns ({column_name} instead of {clustering[i]})"
            )
    descending = dict(order)
    columns = {}
    for column_name, definition in definitions.items():
        if column_name in partition:
            kind, position = PARTITION_KEY, partition.index(column_name)
        elif column_name in clustering:
            kind, position = CLUSTERING, clustering.index(column_name)
        else:
            kind, position = (STATIC if definition.static else REGULAR), -1
        columns[column_name] = Column(
            column_name, definition.type, kind, position, descending.get(column_name, False)
        )
    options = table_options(statement.options, DEFAULT_TABLE_OPTIONS)
    table = Table(keyspace, name, columns, options)
    validate_table(table)
    return table


def validate_table(table: Table) -> None:
    """Cassandra's TableMetadata.validate and TableParams.validate (ConfigurationException)."""
    _check_name("Table", table.name)
    for option, maximum in (("default_time_to_live", MAX_TTL), ("gc_grace_seconds", None)):
        value = table.options.get(option)
        if isinstance(value, int) and value < 0:
            raise ConfigurationError(f"{option} must be greater than or equal to 0 (got {value})")
        if maximum is not None and isinstance(value, int) and value > maximum:
            raise ConfigurationError(
                f"{option} must be less than or equal to {maximum} (got {value})"
            )
    values = [c for c in table.columns.values() if not c.is_primary_key]
    counters = [c for c in values if c.type.is_counter]
    if counters and len(counters) != len(values):
        raise InvalidRequest("Cannot mix counter and non counter columns in the same table")
    if counters and table.default_ttl:
        raise InvalidRequest("Cannot set default_time_to_live on a table with counters")
    if table.statics and not table.clustering:
        raise InvalidRequest(
            "Static columns are only useful (and thus allowed) if the table has at least one "
            "clustering column"
        )


class CreateTablePlan:
    def __init__(self, statement: ast.CreateTable, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        name = self.statement.table.name
        _check_user_keyspace(self.keyspace)
        keyspace = _keyspace(store, self.keyspace)
        if name in keyspace.tables:
            if self.statement.if_not_exists:
                return VoidResult()
            raise AlreadyExists(
                f'Cannot add already existing table "{name}" to keyspace "{self.keyspace}"',
                self.keyspace,
                name,
            )
        # A fresh id for every creation; types as they are now.
        table = build_table(self.statement, self.keyspace, keyspace.types)
        store.apply_schema(SchemaChange("create_table", self.keyspace, table))
        return SchemaChangeResult("CREATED", "TABLE", self.keyspace, name)


def _existing_table(store: Store, keyspace: str, name: str) -> Table:
    table = store.schema.table(keyspace, name)
    if table is None:
        raise InvalidRequest(f"Table '{keyspace}.{name}' doesn't exist")
    return table


class AlterTablePlan:
    def __init__(self, statement: ast.AlterTable, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        statement = self.statement
        _check_user_keyspace(self.keyspace)
        _keyspace(store, self.keyspace)
        table = _existing_table(store, self.keyspace, statement.table.name)
        columns = dict(table.columns)
        for definition in statement.add:
            if definition.name in columns:
                raise InvalidRequest(f"Column with name '{definition.name}' already exists")
            previous = table.dropped.get(definition.name)
            if previous is not None and previous[0] != resolve(
                definition.type, self.keyspace, store.schema.keyspaces[self.keyspace].types
            ):
                raise InvalidRequest(
                    f"Cannot re-add previously dropped column '{definition.name}' of type "
                    f"{definition.type.cql}, incompatible with previous type {previous[0].cql}"
                )
            kind = STATIC if definition.static else REGULAR
            column_type = resolve(
                definition.type, self.keyspace, store.schema.keyspaces[self.keyspace].types
            )
            columns[definition.name] = Column(definition.name, column_type, kind)
        for name in statement.drop:
            column = columns.get(name)
            if column is None:
                raise InvalidRequest(f"Column {name} was not found in table {table.name}")
            if column.is_primary_key:
                raise InvalidRequest(f"Cannot drop PRIMARY KEY column {name}")
            dependent = sorted(i.name for i in table.indexes.values() if i.column == name)
            if dependent:
                raise InvalidRequest(
                    f"Cannot drop column {name} because it has dependent secondary indexes "
                    f"({', '.join(dependent)})"
                )
            del columns[name]
        columns = _renamed(table, columns, statement.renames)
        options = table_options(statement.options, table.options)
        changed = table.changed(columns, options)
        for name in statement.drop:
            changed.dropped[name] = (table.columns[name].type, ctx.now_micros)
        validate_table(changed)
        store.apply_schema(SchemaChange("alter_table", self.keyspace, changed))
        return SchemaChangeResult("UPDATED", "TABLE", self.keyspace, table.name)


class CreateTypePlan:
    """CREATE TYPE, as Cassandra 4.1's CreateTypeStatement: fields of any type, user-defined
    types among them (frozen, as Cassandra requires of nested types), no counters."""

    def __init__(self, statement: ast.CreateType, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        statement = self.statement
        name = statement.name.name
        _check_user_keyspace(self.keyspace)
        keyspace = _keyspace(store, self.keyspace)
        if name in keyspace.types:
            if statement.if_not_exists:
                return VoidResult()
            raise AlreadyExists(f"A user type with name '{name}' already exists", self.keyspace)
        fields = {
            field: _field_type(t, self.keyspace, keyspace.types) for field, t in statement.fields
        }
        created = user_type(self.keyspace, name, fields)
        store.apply_schema(SchemaChange("create_type", self.keyspace, created))
        return SchemaChangeResult("CREATED", "TYPE", self.keyspace, name)


def _field_type(t, keyspace: str, types: dict) -> CqlType:
    resolved = resolve(t, keyspace, types)
    if resolved.is_counter:
        raise InvalidRequest("A user type cannot contain counters")
    return frozen(resolved)


def _existing_type(keyspace, name: str) -> CqlType:
    found = keyspace.types.get(name)
    if found is None:
        raise InvalidRequest(f"No user type named '{name}' exists.")
    return found


def _uses(t: CqlType, name: str) -> bool:
    return (t.udt is not None and t.udt.name == name) or any(_uses(p, name) for p in t.params)


def _with_type(t: CqlType, replacement: CqlType) -> CqlType:
    """t with every use of a user-defined type replaced by its new definition."""
    if t.udt is not None and t.udt.name == replacement.udt.name:
        return frozen(replacement) if t.frozen else replacement
    if not t.params or not _uses(t, replacement.udt.name):
        return t
    params = tuple(_with_type(p, replacement) for p in t.params)
    return CqlType(t.name, params, t.frozen, t.udt)


class AlterTypePlan:
    """ALTER TYPE ADD / RENAME. The tables and types that use it change with it; stored values
    stay as they are (a value written before an ADD reads with the new field null)."""

    def __init__(self, statement: ast.AlterType, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        statement = self.statement
        name = statement.name.name
        _check_user_keyspace(self.keyspace)
        keyspace = _keyspace(store, self.keyspace)
        current = _existing_type(keyspace, name)
        fields = dict(zip(current.udt.fields, current.params, strict=True))
        if statement.add is not None:
            field, t = statement.add
            if field in fields:
                raise InvalidRequest(
                    f"Cannot add new field {field} to type {self.keyspace}.{name}: a field with "
                    f"name {field} already exists"
                )
            fields[field] = _field_type(t, self.keyspace, keyspace.types)
        for old, new in statement.renames:
            if old not in fields:
                raise InvalidRequest(f"Unknown field {old} in user type {self.keyspace}.{name}")
            if new in fields:
                raise InvalidRequest(f"Duplicate field name {new} in type {name}")
            fields = {new if f == old else f: t for f, t in fields.items()}
        altered = user_type(self.keyspace, name, fields)
        store.apply_schema(SchemaChange("alter_type", self.keyspace, altered))
        for table in list(keyspace.tables.values()):
            if any(_uses(c.type, name) for c in table.columns.values()):
                columns = {
                    n: replace(c, type=_with_type(c.type, altered))
                    for n, c in table.columns.items()
                }
                store.apply_schema(
                    SchemaChange("alter_table", self.keyspace, table.changed(columns))
                )
        return SchemaChangeResult("UPDATED", "TYPE", self.keyspace, name)


class DropTypePlan:
    def __init__(self, statement: ast.DropType, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        name = self.statement.name.name
        _check_user_keyspace(self.keyspace)
        keyspace = _keyspace(store, self.keyspace)
        if name not in keyspace.types:
            if self.statement.if_exists:
                return VoidResult()
            raise InvalidRequest(f"Type '{self.keyspace}.{name}' doesn't exist")
        for table in keyspace.tables.values():
            if any(_uses(c.type, name) for c in table.columns.values()):
                raise InvalidRequest(
                    f"Cannot drop user type {self.keyspace}.{name} as it is still used by table "
                    f"{table.qualified_name}"
                )
        users = sorted(n for n, t in keyspace.types.items() if n != name and _uses(t, name))
        if users:
            raise InvalidRequest(
                f"Cannot drop user type {self.keyspace}.{name} as it is still used by user types "
                f"{', '.join(users)}"
            )
        store.apply_schema(SchemaChange("drop_type", self.keyspace, name))
        return SchemaChangeResult("DROPPED", "TYPE", self.keyspace, name)


class CreateIndexPlan:
    """CREATE INDEX, validated as Cassandra 4.1's CreateIndexStatement. The index is part of its
    table's definition (system_schema.indexes, the commit log and snapshots keep it)."""

    def __init__(self, statement: ast.CreateIndex, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        statement = self.statement
        _check_user_keyspace(self.keyspace)
        keyspace = _keyspace(store, self.keyspace)
        table = _existing_table(store, self.keyspace, statement.table.name)
        column = _index_column(table, statement)
        existing = {name for t in keyspace.tables.values() for name in t.indexes}
        name = statement.name or _available_index_name(table, column.name, existing)
        if len(name) > NAME_LENGTH or not re.fullmatch(r"\w+", name, re.ASCII):
            raise InvalidRequest(
                f"Index name must not be empty, more than {NAME_LENGTH} characters long, or "
                f'contain non-alphanumeric-underscore characters (got "{name}")'
            )
        if name in existing:
            if statement.if_not_exists:
                return VoidResult()
            raise AlreadyExists(f"Index '{name}' already exists", self.keyspace, name)
        kind = statement.kind
        if kind == "values" and not column.type.is_collection:
            kind = "simple"
        index = Index(name, column.name, kind)
        for other in table.indexes.values():
            if (other.column, other.kind) == (index.column, index.kind):
                if statement.if_not_exists:
                    return VoidResult()
                raise InvalidRequest(f"Index {name} is a duplicate of existing index {other.name}")
        changed = table.changed()
        changed.indexes[name] = index
        store.apply_schema(SchemaChange("alter_table", self.keyspace, changed))
        return SchemaChangeResult("UPDATED", "TABLE", self.keyspace, table.name)


def _index_column(table: Table, statement: ast.CreateIndex) -> Column:
    column = table.columns.get(statement.column)
    if column is None:
        raise InvalidRequest(f"Column '{statement.column}' doesn't exist")
    if table.is_counter:
        raise InvalidRequest("Secondary indexes on counter tables aren't supported")
    t, kind = column.type, statement.kind
    if t.name == "duration":
        raise InvalidRequest("Secondary indexes are not supported on duration columns")
    if column.is_primary_key:
        if column.kind == "partition_key" and len(table.partition_key) == 1:
            raise InvalidRequest(
                f"Cannot create secondary index on the only partition key column {column.name}"
            )
        raise InvalidRequest("localcql does not support secondary indexes on primary key columns")
    frozen_collection = t.is_collection and t.frozen
    if frozen_collection and kind != "full":
        raise InvalidRequest(
            f"Cannot create {kind}() index on frozen column {column.name}. Frozen collections "
            f"are immutable and must be fully indexed by using the 'full({column.name})' modifier"
        )
    if kind == "full" and not frozen_collection:
        raise InvalidRequest("full() indexes can only be created on frozen collections")
    if kind in ("keys", "entries") and t.name != "map":
        raise InvalidRequest(
            f"Cannot create index on {kind} of column {column.name} with non-map type"
        )
    return column


def _available_index_name(table: Table, column: str, existing: set[str]) -> str:
    """Cassandra's default: <table>_<column>_idx, then _1, _2... while taken."""
    base = re.sub(r"\W", "", f"{table.name}_{column}_idx")
    name, number = base, 0
    while name in existing:
        number += 1
        name = f"{base}_{number}"
    return name


class DropIndexPlan:
    def __init__(self, statement: ast.DropIndex, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        name = self.statement.name
        _check_user_keyspace(self.keyspace)
        keyspace = _keyspace(store, self.keyspace)
        table = next((t for t in keyspace.tables.values() if name in t.indexes), None)
        if table is None:
            if self.statement.if_exists:
                return VoidResult()
            raise InvalidRequest(f"Index '{self.keyspace}.{name}' doesn't exist")
        changed = table.changed()
        del changed.indexes[name]
        store.apply_schema(SchemaChange("alter_table", self.keyspace, changed))
        return SchemaChangeResult("UPDATED", "TABLE", self.keyspace, table.name)


def _renamed(table: Table, columns: dict[str, Column], renames) -> dict[str, Column]:
    """ALTER TABLE RENAME, as Cassandra: only primary key columns, whose values are stored by
    position, so renaming them changes the schema alone."""
    if not renames:
        return columns
    renamed = dict(columns)
    for old, new in renames:
        column = renamed.get(old)
        if column is None:
            raise InvalidRequest(f"Column {old} was not found in table {table.name}")
        if not column.is_primary_key:
            raise InvalidRequest(f"Cannot rename non PRIMARY KEY column {old}")
        if new in renamed:
            raise InvalidRequest(
                f"Cannot rename column {old} to {new} in table '{table.name}'; another column "
                "with that name already exists"
            )
        del renamed[old]
        renamed[new] = Column(new, column.type, column.kind, column.position, column.descending)
    return renamed


class DropTablePlan:
    def __init__(self, statement: ast.DropTable, keyspace: str):
        self.statement, self.keyspace = statement, keyspace

    def run(self, store: Store, ctx):
        name = self.statement.table.name
        _check_user_keyspace(self.keyspace)
        if store.schema.table(self.keyspace, name) is None:
            if self.statement.if_exists:
                return VoidResult()
            _keyspace(store, self.keyspace)
            raise InvalidRequest(f"Table '{self.keyspace}.{name}' doesn't exist")
        store.apply_schema(SchemaChange("drop_table", self.keyspace, name))
        return SchemaChangeResult("DROPPED", "TABLE", self.keyspace, name)


class TruncatePlan:
    def __init__(self, find_table):
        # The table is found when the statement runs: a cached TRUNCATE may outlive a DROP.
        self.find_table = find_table

    def run(self, store: Store, ctx):
        table = self.find_table()
        if table.keyspace in SYSTEM_KEYSPACES:
            raise Unauthorized(f"{table.keyspace} keyspace is not user-modifiable.")
        store.apply(Truncation(table.id))
        return VoidResult()
