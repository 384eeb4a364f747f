"""DESCRIBE, answered by the server as Cassandra 4.0 does (cqlsh 6 sends it to the server).

The CREATE statements are rendered by cassandra-driver's own schema metadata classes, the code that
the driver's `export_as_string()` uses, fed with localcql's schema: the output is the CQL a driver
would print for the same Cassandra schema, and it re-executes cleanly.
"""

from __future__ import annotations

from cassandra.cqltypes import UTF8Type
from cassandra.metadata import (
    ColumnMetadata,
    IndexMetadata,
    KeyspaceMetadata,
    SchemaParserV4,
    TableMetadataV3,
    UserType,
)

from localcql.api import ColumnSpec, InvalidRequest, RowsResult
from localcql.cql import ast
from localcql.schema import Keyspace, Table

# system.local's values, which cqlsh prints for DESCRIBE CLUSTER.
CLUSTER_NAME = "Test Cluster"
PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"
SNITCH = "org.apache.cassandra.locator.SimpleSnitch"

ELEMENT_COLUMNS = ("keyspace_name", "type", "name", "create_statement")
LIST_COLUMNS = ("keyspace_name", "type", "name")
CLUSTER_COLUMNS = ("cluster", "partitioner", "snitch")


def keyspace_cql(keyspace: Keyspace) -> str:
    if keyspace.virtual:
        return (
            f"/*\nWarning: Keyspace {keyspace.name} is a virtual keyspace and cannot be "
            "recreated with CQL.\n*/"
        )
    replication = dict(keyspace.replication)
    strategy = replication.pop("class")
    metadata = KeyspaceMetadata(keyspace.name, keyspace.durable_writes, strategy, replication)
    return metadata.as_cql_query() + ";"


def table_cql(table: Table) -> str:
    metadata = TableMetadataV3(table.keyspace, table.name)
    for column in table.star_columns:
        described = ColumnMetadata(
            metadata,
            column.name,
            column.type.cql,
            is_static=column in table.statics,
            is_reversed=column.descending,
        )
        metadata.columns[column.name] = described
        if column in table.partition_key:
            metadata.partition_key.append(described)
        elif column in table.clustering:
            metadata.clustering_key.append(described)
    metadata.options = {
        name: value
        for name, value in table.options.items()
        if name in SchemaParserV4.recognized_table_options
    }
    described = metadata.as_cql_query(formatted=True) + ";"
    for index in sorted(table.indexes.values(), key=lambda i: i.name):
        described += f"\n\n{index_cql(table, index)}"
    return described


def type_cql(t) -> str:
    udt = t.udt
    metadata = UserType(udt.keyspace, udt.name, list(udt.fields), [p.cql for p in t.params])
    return metadata.as_cql_query(formatted=True) + ";"


def index_cql(table: Table, index) -> str:
    """As cqlsh and Cassandra's DESCRIBE print an index (the driver's IndexMetadata)."""
    options = {"target": index.target}
    metadata = IndexMetadata(table.keyspace, table.name, index.name, "COMPOSITES", options)
    return metadata.as_cql_query() + ";"


def rows_result(names, rows) -> RowsResult:
    # DESCRIBE's results belong to no table; Cassandra names the columns' table after the query.
    columns = [ColumnSpec("", "describe", name, UTF8Type) for name in names]
    return RowsResult(columns, [list(row) for row in rows])


class DescribePlan:
    def __init__(self, statement: ast.Describe, keyspace: str | None):
        self.statement = statement
        self.keyspace = keyspace  # the session's current keyspace

    def run(self, store, ctx) -> RowsResult:
        schema = store.schema
        what = self.statement.what
        if what == "cluster":
            return rows_result(CLUSTER_COLUMNS, [(CLUSTER_NAME, PARTITIONER, SNITCH)])
        if what == "keyspaces":
            names = sorted(schema.keyspaces)
            return rows_result(LIST_COLUMNS, [(name, "keyspace", name) for name in names])
        if what == "tables":
            keyspaces = [self._keyspace(schema)] if self.keyspace else self._all(schema)
            rows = [
                (keyspace.name, "table", name)
                for keyspace in keyspaces
                for name in sorted(keyspace.tables)
            ]
            return rows_result(LIST_COLUMNS, rows)
        if what == "schema":
            keyspaces = [
                keyspace
                for keyspace in self._all(schema)
                if self.statement.full or not keyspace.virtual
            ]
            return rows_result(ELEMENT_COLUMNS, self._keyspace_rows(keyspaces))
        if what == "keyspace":
            return rows_result(ELEMENT_COLUMNS, self._keyspace_rows([self._keyspace(schema)]))
        if what == "table":
            return rows_result(ELEMENT_COLUMNS, [self._table_row(self._table(schema))])
        # DESCRIBE <name>: a keyspace of that name, or else a table of the current keyspace.
        if self.statement.keyspace is None and self.statement.name in schema.keyspaces:
            keyspace = schema.keyspaces[self.statement.name]
            return rows_result(ELEMENT_COLUMNS, self._keyspace_rows([keyspace]))
        return rows_result(ELEMENT_COLUMNS, [self._table_row(self._table(schema))])

    @staticmethod
    def _all(schema) -> list[Keyspace]:
        return [schema.keyspaces[name] for name in sorted(schema.keyspaces)]

    def _keyspace(self, schema) -> Keyspace:
        name = self.statement.name or self.keyspace
        if name is None:
            raise InvalidRequest("No keyspace specified and no current keyspace")
        if name not in schema.keyspaces:
            raise InvalidRequest(f"'{name}' not found in keyspaces")
        return schema.keyspaces[name]

    def _table(self, schema) -> Table:
        keyspace_name = self.statement.keyspace or self.keyspace
        if keyspace_name is None:
            raise InvalidRequest("No keyspace specified and no current keyspace")
        keyspace = schema.keyspaces.get(keyspace_name)
        if keyspace is None:
            raise InvalidRequest(f"'{keyspace_name}' not found in keyspaces")
        table = keyspace.tables.get(self.statement.name)
        if table is None:
            raise InvalidRequest(f"'{self.statement.name}' not found in keyspace '{keyspace_name}'")
        return table

    @staticmethod
    def _table_row(table: Table) -> tuple:
        return (table.keyspace, "table", table.name, table_cql(table))

    def _keyspace_rows(self, keyspaces: list[Keyspace]) -> list[tuple]:
        rows = []
        for keyspace in keyspaces:
            rows.append((keyspace.name, "keyspace", keyspace.name, keyspace_cql(keyspace)))
            for name in sorted(keyspace.types):
                rows.append((keyspace.name, "type", name, type_cql(keyspace.types[name])))
            if not keyspace.virtual:
                rows += [self._table_row(keyspace.tables[n]) for n in sorted(keyspace.tables)]
        return rows
