"""The system keyspaces as Cassandra 4.0 shows them to drivers and cqlsh, computed from live state.

Their tables are declared in CQL (Cassandra 4.0's own definitions) and are read-only: on each read
their rows are generated from the schema (cached per schema version) into a throwaway ``TableData``,
so SELECTs on them go through the ordinary SELECT path, restrictions and paging included.
"""

from __future__ import annotations

import datetime
import time
import uuid

from localcql.cql.parser import parse
from localcql.ddl import build_table
from localcql.metrics import METRICS
from localcql.modify import write_value
from localcql.schema import Keyspace, SchemaChange, Table
from localcql.storage import Mutation, RowUpdate, Store, TableData
from localcql.terms import Context

RELEASE_VERSION = "4.0.11"
CQL_VERSION = "3.4.5"
RING_TOKEN = "0"  # noqa: S105 - not a password: one node owning the whole ring: any single token does

_MAP = "frozen<map<text, text>>"
_TABLE_OPTIONS = f"""
    bloom_filter_fp_chance double, caching {_MAP}, cdc boolean, comment text, compaction {_MAP},
    compression {_MAP}, crc_check_chance double, dclocal_read_repair_chance double,
    default_time_to_live int, extensions frozen<map<text, blob>>, gc_grace_seconds int,
    max_index_interval int, memtable_flush_period_in_ms int, min_index_interval int,
    read_repair_chance double, speculative_retry text, additional_write_policy text,
    read_repair text"""

SYSTEM_TABLES = {
    "system": [
        """CREATE TABLE local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet,
        broadcast_port int, cluster_name text, cql_version text, data_center text,
        gossip_generation int, host_id uuid, listen_address inet, listen_port int,
        native_protocol_version text, partitioner text, rack text, release_version text,
        rpc_address inet, rpc_port int, schema_version uuid, tokens set<text>,
        truncated_at map<uuid, blob>)""",
        """CREATE TABLE peers (peer inet PRIMARY KEY, data_center text, host_id uuid,
        preferred_ip inet, rack text, release_version text, rpc_address inet,
        schema_version uuid, tokens set<text>)""",
        """CREATE TABLE peers_v2 (peer inet, peer_port int, data_center text, host_id uuid,
        native_address inet, native_port int, preferred_ip inet, preferred_port int, rack text,
        release_version text, schema_version uuid, tokens set<text>,
        PRIMARY KEY ((peer), peer_port))""",
    ],
    "system_schema": [
        f"""CREATE TABLE keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean,
        replication {_MAP})""",
        f"""CREATE TABLE tables (keyspace_name text, table_name text, {_TABLE_OPTIONS},
        flags frozen<set<text>>, id uuid, PRIMARY KEY ((keyspace_name), table_name))""",
        """CREATE TABLE columns (keyspace_name text, table_name text, column_name text,
        clustering_order text, column_name_bytes blob, kind text, position int, type text,
        PRIMARY KEY ((keyspace_name), table_name, column_name))""",
        """CREATE TABLE dropped_columns (keyspace_name text, table_name text, column_name text,
        dropped_time timestamp, kind text, type text,
        PRIMARY KEY ((keyspace_name), table_name, column_name))""",
        """CREATE TABLE triggers (keyspace_name text, table_name text, trigger_name text,
        options frozen<map<text, text>>,
        PRIMARY KEY ((keyspace_name), table_name, trigger_name))""",
        f"""CREATE TABLE views (keyspace_name text, view_name text, base_table_id uuid,
        base_table_name text, {_TABLE_OPTIONS}, id uuid, include_all_columns boolean,
        where_clause text, PRIMARY KEY ((keyspace_name), view_name))""",
        """CREATE TABLE indexes (keyspace_name text, table_name text, index_name text, kind text,
        options frozen<map<text, text>>, PRIMARY KEY ((keyspace_name), table_name, index_name))""",
        """CREATE TABLE types (keyspace_name text, type_name text, field_names frozen<list<text>>,
        field_types frozen<list<text>>, PRIMARY KEY ((keyspace_name), type_name))""",
        """CREATE TABLE functions (keyspace_name text, function_name text,
        argument_types frozen<list<text>>, argument_names frozen<list<text>>, body text,
        called_on_null_input boolean, language text, return_type text,
        PRIMARY KEY ((keyspace_name), function_name, argument_types))""",
        """CREATE TABLE aggregates (keyspace_name text, aggregate_name text,
        argument_types frozen<list<text>>, final_func text, initcond text, return_type text,
        state_func text, state_type text,
        PRIMARY KEY ((keyspace_name), aggregate_name, argument_types))""",
    ],
    # localcql's own counters (localcql/metrics.py); Cassandra 4 keeps its virtual tables here too.
    "system_views": ["CREATE TABLE localcql_metrics (name text PRIMARY KEY, value bigint)"],
    "system_auth": [],
    "system_distributed": [],
    "system_traces": [],
}
_LOCAL_STRATEGY = {"class": "org.apache.cassandra.locator.LocalStrategy"}
_SIMPLE_STRATEGY = {
    "class": "org.apache.cassandra.locator.SimpleStrategy",
    "replication_factor": "1",
}


class SystemTables:
    def __init__(self, store: Store, address: str, port: int):
        self.store, self.address, self.port = store, address, port
        self.host_id = uuid.uuid4()
        self.gossip_generation = int(time.time())
        self._cache: dict[uuid.UUID, tuple[uuid.UUID, TableData]] = {}
        self._generators = {
            "system.local": self._local,
            "system_schema.keyspaces": self._keyspaces,
            "system_schema.tables": self._tables,
            "system_schema.columns": self._columns,
            "system_schema.dropped_columns": self._dropped_columns,
            "system_schema.indexes": self._indexes,
            "system_schema.types": self._types,
            "system_views.localcql_metrics": self._metrics,
        }
        for name, statements in SYSTEM_TABLES.items():
            local = name in ("system", "system_schema")
            keyspace = Keyspace(name, dict(_LOCAL_STRATEGY if local else _SIMPLE_STRATEGY))
            keyspace.virtual = True
            store.apply_schema(SchemaChange("create_keyspace", keyspace))
            for statement in statements:
                table = build_table(parse(statement), name)
                table.virtual = True
                store.apply_schema(SchemaChange("create_table", name, table))

    def data(self, table: Table) -> TableData:
        # Metrics change with every request, the rest only with the schema.
        version = uuid.uuid4() if table.name == "localcql_metrics" else self.store.schema.version
        cached = self._cache.get(table.id)
        if cached is not None and cached[0] == version:
            return cached[1]
        data = TableData(table)
        ctx = Context([], 0, None, None)
        generator = self._generators.get(table.qualified_name)  # the other tables are empty
        for row in generator() if generator else []:
            key = tuple(row[c.name] for c in table.partition_key)
            update = RowUpdate(tuple(row[c.name] for c in table.clustering), marker=(0, None))
            for column in table.regulars:
                if row.get(column.name) is not None:
                    write_value(update, column, row[column.name], 1, None, ctx)
            data.apply(Mutation(table.id, key, rows=[update]))
        self._cache[table.id] = (version, data)
        return data

    # ------------------------------------------------------------------ row generators
    def _metrics(self):
        return [{"name": name, "value": value} for name, value in METRICS.rows()]

    def _local(self):
        return [
            {
                "key": "local",
                "bootstrapped": "COMPLETED",
                "broadcast_address": self.address,
                "broadcast_port": 7000,
                "cluster_name": "localcql",
                "cql_version": CQL_VERSION,
                "data_center": "datacenter1",
                "gossip_generation": self.gossip_generation,
                "host_id": self.host_id,
                "listen_address": self.address,
                "listen_port": 7000,
                "native_protocol_version": "4",
                "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
                "rack": "rack1",
                "release_version": RELEASE_VERSION,
                "rpc_address": self.address,
                "rpc_port": self.port,
                "schema_version": self.store.schema.version,
                "tokens": [RING_TOKEN],
            }
        ]

    def _keyspaces(self):
        return [
            {
                "keyspace_name": k.name,
                "durable_writes": k.durable_writes,
                "replication": k.replication,
            }
            for k in self.store.schema.keyspaces.values()
        ]

    def _all_tables(self):
        for keyspace in self.store.schema.keyspaces.values():
            yield from keyspace.tables.values()

    def _tables(self):
        return [
            {
                "keyspace_name": t.keyspace,
                "table_name": t.name,
                **t.options,
                "flags": ["compound", "counter"] if t.is_counter else ["compound"],
                "id": t.id,
            }
            for t in self._all_tables()
        ]

    def _dropped_columns(self):
        return [
            {
                "keyspace_name": t.keyspace,
                "table_name": t.name,
                "column_name": name,
                "dropped_time": datetime.datetime(1970, 1, 1)
                + datetime.timedelta(microseconds=dropped_at),
                "kind": "regular",
                "type": column_type.cql,
            }
            for t in self._all_tables()
            for name, (column_type, dropped_at) in t.dropped.items()
        ]

    def _types(self):
        return [
            {
                "keyspace_name": keyspace.name,
                "type_name": name,
                "field_names": list(t.udt.fields),
                "field_types": [p.cql for p in t.params],
            }
            for keyspace in self.store.schema.keyspaces.values()
            for name, t in keyspace.types.items()
        ]

    def _indexes(self):
        return [
            {
                "keyspace_name": t.keyspace,
                "table_name": t.name,
                "index_name": index.name,
                "kind": "COMPOSITES",
                "options": {"target": index.target},
            }
            for t in self._all_tables()
            for index in t.indexes.values()
        ]

    def _columns(self):
        return [
            {
                "keyspace_name": t.keyspace,
                "table_name": t.name,
                "column_name": c.name,
                "clustering_order": c.clustering_order,
                "column_name_bytes": c.name.encode(),
                "kind": c.kind,
                "position": c.position,
                "type": c.type.cql,
            }
            for t in self._all_tables()
            for c in t.columns.values()
        ]
