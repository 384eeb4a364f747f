"""The CQL engine behind the native-protocol server (see localcql/api.py for the contract).

PREPARE parses the query once and plans it against the schema; EXECUTE decodes the bound values
with the bind markers' driver types and runs the plan, without parsing. A plan made before a schema
change is re-planned from its parsed form on its next execution. Statements run one at a time under
a lock, which makes lightweight transactions and counter updates atomic.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from localcql.api import (
    UNSET,
    InvalidRequest,
    PreparedStatement,
    QueryOptions,
    Result,
    SchemaChangeResult,
    SessionState,
    Unprepared,
)
from localcql.cql import ast
from localcql.cql.parser import parse
from localcql.ddl import (
    AlterKeyspacePlan,
    AlterTablePlan,
    AlterTypePlan,
    CreateIndexPlan,
    CreateKeyspacePlan,
    CreateTablePlan,
    CreateTypePlan,
    DropIndexPlan,
    DropKeyspacePlan,
    DropTablePlan,
    DropTypePlan,
    TruncatePlan,
    UsePlan,
)
from localcql.describe import DescribePlan
from localcql.modify import DeletePlan, InsertPlan, UpdatePlan, execute_batch
from localcql.schema import Table
from localcql.select import SelectPlan
from localcql.storage import Store
from localcql.system_tables import SystemTables
from localcql.terms import Binder, Context, check_no_nulls

BATCH_TYPES = {0: "LOGGED", 1: "UNLOGGED", 2: "COUNTER"}
_QUERY_CACHE_SIZE = 4096
_NO_KEYSPACE = (
    "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"
)


def _wall_clock_micros() -> int:
    return time.time_ns() // 1000


class Plan:
    """A planned statement: the parsed form (to re-plan after schema changes) and its runner."""

    def __init__(
        self, statement, keyspace, schema_version, run, decoders, planned=None, replannable=True
    ):
        self.statement = statement
        self.keyspace = keyspace
        self.schema_version = schema_version
        self.run = run  # run(ctx) -> Result
        self.decoders = decoders  # (name, decode) per bind marker: bytes -> value
        self.planned = planned  # the SelectPlan or ModificationPlan of a DML statement
        # Schema statements are checked against the schema when they run, never re-planned.
        self.replannable = replannable

    @property
    def dml(self):
        """The INSERT/UPDATE/DELETE plan, which protocol batches are made of."""
        return None if isinstance(self.planned, SelectPlan) else self.planned

    def identify(self, statement_id: bytes) -> None:
        """Binds paging states to the statement, so one of another query is refused."""
        if isinstance(self.planned, SelectPlan):
            self.planned.set_fingerprint(statement_id)


class Engine:
    def __init__(
        self,
        clock: Callable[[], int] | None = None,
        *,
        address: str = "127.0.0.1",
        port: int = 9042,
    ):
        """``clock`` returns microseconds since the epoch (tests inject one to control TTLs)."""
        self.clock = clock or _wall_clock_micros
        self.store = Store()
        self.system = SystemTables(self.store, address, port)
        self._lock = threading.RLock()
        self._prepared: dict[bytes, PreparedStatement] = {}
        self._queries: OrderedDict[bytes, PreparedStatement] = OrderedDict()
        self._listeners: list[Callable[[SchemaChangeResult], None]] = []

    # ------------------------------------------------------------------ the api
    def add_schema_listener(self, callback: Callable[[SchemaChangeResult], None]) -> None:
        self._listeners.append(callback)

    def prepare(self, query: str, session: SessionState) -> PreparedStatement:
        prepared = self._statement(query, session)
        self._prepared[prepared.id] = prepared
        return prepared

    def get_prepared(self, statement_id: bytes) -> PreparedStatement:
        prepared = self._prepared.get(statement_id) or self._queries.get(statement_id)
        if prepared is None:
            raise Unprepared(
                f"Prepared query with ID {statement_id.hex()} not found (either the query was not "
                "prepared on this host (maybe the host has been restarted?) or you have prepared "
                "too many queries and it has been evicted from the internal cache)",
                statement_id,
            )
        return prepared

    def query(self, query: str, values, options: QueryOptions, session: SessionState) -> Result:
        return self.execute(self._statement(query, session), values or [], options, session)

    def execute(
        self, prepared: PreparedStatement, values, options: QueryOptions, session: SessionState
    ) -> Result:
        with self._lock:
            plan = self._current_plan(prepared)
            ctx = Context(self._decode(plan, values), self.clock(), options, session)
            result = plan.run(ctx)
        if isinstance(result, SchemaChangeResult):
            for listener in self._listeners:
                listener(result)
        return result

    def batch(self, batch_type: int, items, options: QueryOptions, session: SessionState) -> Result:
        kind = BATCH_TYPES.get(batch_type)
        if kind is None:
            raise InvalidRequest(f"Unknown batch type {batch_type}")
        with self._lock:
            now = self.clock()
            entries = []
            for prepared, values in items:
                plan = self._current_plan(prepared)
                if plan.dml is None:
                    raise InvalidRequest(
                        "Invalid statement in batch: only UPDATE, INSERT and DELETE statements "
                        "are allowed."
                    )
                entries.append(
                    (plan.dml, Context(self._decode(plan, values), now, options, session))
                )
            return execute_batch(kind, entries, self, None)

    # ------------------------------------------------------------------ store access for plans
    def data(self, table: Table):
        if table.virtual:
            return self.system.data(table)
        return self.store.data(table)

    def apply(self, mutation) -> None:
        self.store.apply(mutation)

    # ------------------------------------------------------------------ preparing
    def _statement(self, query: str, session: SessionState) -> PreparedStatement:
        """The cached statement of this keyspace and text, or a newly parsed and planned one."""
        keyspace = session.keyspace
        statement_id = hashlib.md5(
            ((keyspace or "") + query).encode(), usedforsecurity=False
        ).digest()
        with self._lock:
            prepared = self._prepared.get(statement_id) or self._queries.get(statement_id)
            if prepared is not None:
                if statement_id in self._queries:
                    self._queries.move_to_end(statement_id)
                return prepared
            plan, bind_columns, result_columns, pk_indexes = self._plan(parse(query), keyspace)
            prepared = PreparedStatement(
                statement_id, query, keyspace, bind_columns, result_columns, pk_indexes, plan
            )
            plan.identify(statement_id)
            self._queries[statement_id] = prepared
            if len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
            return prepared

    def _current_plan(self, prepared: PreparedStatement) -> Plan:
        plan = prepared.plan
        if plan.schema_version != self.store.schema.version and plan.replannable:
            plan = self._plan(plan.statement, plan.keyspace)[0]
            plan.identify(prepared.id)
            prepared.plan = plan
        return plan

    def _decode(self, plan: Plan, values) -> list:
        decoders = plan.decoders
        if len(values) != len(decoders):
            raise InvalidRequest(
                f"There were {len(decoders)} markers(?) in CQL but {len(values)} bound variables"
            )
        decoded = []
        for (name, decode), value in zip(decoders, values, strict=True):
            if value is None or value is UNSET:
                decoded.append(value)
                continue
            try:
                decoded.append(decode(value))
            except InvalidRequest:
                raise
            except Exception as exc:
                raise InvalidRequest(f"Exception while binding column {name}: {exc}") from None
        return decoded

    def _table(self, name: ast.TableName, keyspace: str | None) -> Table:
        keyspace_name = name.keyspace or keyspace
        if keyspace_name is None:
            raise InvalidRequest(_NO_KEYSPACE)
        found = self.store.schema.keyspaces.get(keyspace_name)
        if found is None:
            raise InvalidRequest(f"Keyspace {keyspace_name} does not exist")
        table = found.tables.get(name.name)
        if table is None:
            raise InvalidRequest(f"unconfigured table {name.name}")
        return table

    def _keyspace_of(self, name: ast.TableName, keyspace: str | None) -> str:
        if name.keyspace is None and keyspace is None:
            raise InvalidRequest(_NO_KEYSPACE)
        return name.keyspace or keyspace

    def _plan(self, statement, keyspace: str | None):
        """(Plan, bind columns, result columns, partition key bind indexes)."""
        version = self.store.schema.version
        if isinstance(statement, ast.Select | ast.Insert | ast.Update | ast.Delete):
            table = self._table(statement.table, keyspace)
            binder = Binder(table.keyspace, table.name)
            planned = _DML[type(statement)](statement, table, binder)
            if isinstance(planned, SelectPlan):

                def run(ctx, planned=planned):
                    return planned.execute(ctx, self.data(planned.table))

                result_columns = planned.columns
            else:

                def run(ctx, planned=planned):
                    return planned.execute(ctx, self.data(planned.table), self.apply)

                result_columns = None
            specs = self._bind_columns(binder.specs)
            pk_indexes = _pk_indexes(table, binder.receivers)
            plan = Plan(statement, keyspace, version, run, _decoders(specs), planned)
            return plan, specs, result_columns, pk_indexes
        if isinstance(statement, ast.Batch):
            return self._plan_batch(statement, keyspace, version)
        runner = self._schema_plan(statement, keyspace)

        def run_schema(ctx):
            return runner.run(self.store, ctx)

        plan = Plan(statement, keyspace, version, run_schema, [], replannable=False)
        return plan, [], None, []

    def _schema_plan(self, statement, keyspace):
        if isinstance(statement, ast.CreateKeyspace):
            return CreateKeyspacePlan(statement)
        if isinstance(statement, ast.AlterKeyspace):
            return AlterKeyspacePlan(statement)
        if isinstance(statement, ast.DropKeyspace):
            return DropKeyspacePlan(statement)
        if isinstance(statement, ast.Use):
            return UsePlan(statement)
        if isinstance(statement, ast.CreateTable):
            return CreateTablePlan(statement, self._keyspace_of(statement.table, keyspace))
        if isinstance(statement, ast.AlterTable):
            return AlterTablePlan(statement, self._keyspace_of(statement.table, keyspace))
        if isinstance(statement, ast.DropTable):
            return DropTablePlan(statement, self._keyspace_of(statement.table, keyspace))
        if isinstance(statement, ast.Truncate):
            self._table(statement.table, keyspace)  # refused at once if it does not exist
            return TruncatePlan(lambda: self._table(statement.table, keyspace))
        if isinstance(statement, ast.CreateType):
            return CreateTypePlan(statement, self._keyspace_of(statement.name, keyspace))
        if isinstance(statement, ast.AlterType):
            return AlterTypePlan(statement, self._keyspace_of(statement.name, keyspace))
        if isinstance(statement, ast.DropType):
            return DropTypePlan(statement, self._keyspace_of(statement.name, keyspace))
        if isinstance(statement, ast.CreateIndex):
            return CreateIndexPlan(statement, self._keyspace_of(statement.table, keyspace))
        if isinstance(statement, ast.DropIndex):
            name = ast.TableName(statement.keyspace, statement.name)
            return DropIndexPlan(statement, self._keyspace_of(name, keyspace))
        if isinstance(statement, ast.Describe):
            return DescribePlan(statement, keyspace)
        raise InvalidRequest(f"localcql does not support {type(statement).__name__}")

    def _plan_batch(self, statement: ast.Batch, keyspace, version):
        plans, specs = [], {}
        for child in statement.statements:
            if statement.using.timestamp is not None and child.using.timestamp is not None:
                raise InvalidRequest(
                    "Timestamp must be set either on BATCH or individual statements"
                )
            table = self._table(child.table, keyspace)
            binder = Binder(table.keyspace, table.name)
            plans.append(_DML[type(child)](child, table, binder))
            specs.update(binder.specs)
        if statement.using.ttl is not None:
            raise InvalidRequest("localcql does not support USING TTL on a whole BATCH")
        if statement.using.timestamp is not None and not isinstance(statement.using.timestamp, int):
            raise InvalidRequest("localcql does not support a bound BATCH timestamp")
        batch_timestamp = statement.using.timestamp
        ordered = self._bind_columns(specs)

        def run(ctx):
            entries = [(p, ctx) for p in plans]
            return execute_batch(statement.kind, entries, self, batch_timestamp)

        plan = Plan(statement, keyspace, version, run, _decoders(ordered))
        return plan, ordered, None, []

    @staticmethod
    def _bind_columns(specs: dict) -> list:
        if sorted(specs) != list(range(len(specs))):
            raise InvalidRequest("localcql does not support a bind marker in this position")
        return [specs[i] for i in range(len(specs))]


def _decoder(driver_type):
    def decode(data: bytes):
        return driver_type.from_binary(data, 4)

    if driver_type.typename == "timeuuid":

        def decode_timeuuid(data: bytes):
            value = decode(data)
            if value.version != 1:
                raise InvalidRequest("Invalid version for TimeUUID type.")
            return value

        return decode_timeuuid
    if driver_type.typename not in ("list", "set", "map"):
        return decode

    def decode_collection(data: bytes):
        value = decode(data)
        check_no_nulls([*value.keys(), *value.values()] if driver_type.typename == "map" else value)
        return value

    return decode_collection


def _decoders(specs) -> list:
    return [(s.name, _decoder(s.cql_type)) for s in specs]


def _pk_indexes(table: Table, receivers: dict[int, str]) -> list[int]:
    """The bind indexes of the partition key columns (for token-aware routing), if all bound:
    the first marker whose receiver is the column itself, whatever the marker's name."""
    indexes = []
    for column in table.partition_key:
        found = [i for i in sorted(receivers) if receivers[i] == column.name]
        if not found:
            return []
        indexes.append(found[0])
    return indexes


_DML = {
    ast.Select: SelectPlan,
    ast.Insert: InsertPlan,
    ast.Update: UpdatePlan,
    ast.Delete: DeletePlan,
}
