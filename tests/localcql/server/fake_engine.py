"""A fake CQL engine that keeps the server's contract (localcql.api) and nothing more, so the
frame-level tests do not depend on the real engine. Run as a script, it is ``python -m localcql``
serving this fake.

Statements are recognised by their first word:
  ECHO ...           one row, one text column: what the engine received (values, options, keyspace)
  TYPES              one row with a column of every type the protocol can describe
  MIXED              columns from two tables (no global table spec)
  NUMBERS            the ints 0..9, paged with options.page_size
  USE <ks>           switches the keyspace
  CREATE TABLE <ks>.<t>   reports a schema change to the listeners
  FAIL <kind>        raises: syntax, exists, unprepared, crash (a non-CqlError exception)
  SELECT ... system.local / system.peers   what cassandra-driver's control connection needs
  anything else      void
Bind markers: each ``?`` or ``:name`` is an int bind marker.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import re
import sys
import uuid

from cassandra import cqltypes as t
from cassandra.util import Date, Duration, Time

from localcql import api

KS, TABLE = "ks", "t"
INT_LIST = t.ListType.apply_parameters([t.Int32Type])
UDT = t.UserType.make_udt_class(KS, "address", ("street", "zip"), (t.UTF8Type, t.Int32Type))


def _column(name, cql_type, table=TABLE):
    return api.ColumnSpec(KS, table, name, cql_type)


TYPED_VALUES = [
    (_column("a_ascii", t.AsciiType), "abc"),
    (_column("a_bigint", t.LongType), 2**40),
    (_column("a_blob", t.BytesType), b"\x00\x01"),
    (_column("a_boolean", t.BooleanType), True),
    (_column("a_counter", t.CounterColumnType), 7),
    (_column("a_decimal", t.DecimalType), decimal.Decimal("1.25")),
    (_column("a_double", t.DoubleType), 2.5),
    (_column("a_float", t.FloatType), 1.5),
    (_column("a_int", t.Int32Type), -3),
    (_column("a_text", t.UTF8Type), "héllo"),
    (_column("a_varchar", t.VarcharType), "v"),
    (_column("a_timestamp", t.DateType), datetime.datetime(2024, 1, 2, 3, 4, 5)),
    (_column("a_uuid", t.UUIDType), uuid.UUID(int=1)),
    (_column("a_varint", t.IntegerType), 10**30),
    (_column("a_timeuuid", t.TimeUUIDType), uuid.UUID("fcb4e4d0-9c1a-11ee-8c90-0242ac120002")),
    (_column("a_inet", t.InetAddressType), "10.0.0.1"),
    (_column("a_date", t.SimpleDateType), Date(datetime.date(2020, 2, 29))),
    (_column("a_time", t.TimeType), Time(datetime.time(12, 30))),
    (_column("a_smallint", t.ShortType), 300),
    (_column("a_tinyint", t.ByteType), 7),
    (_column("a_duration", t.DurationType), Duration(1, 2, 3)),
    (_column("a_list", INT_LIST), [1, 2]),
    (_column("a_set", t.SetType.apply_parameters([t.UTF8Type])), {"x"}),
    (_column("a_map", t.MapType.apply_parameters([t.UTF8Type, t.LongType])), {"k": 1}),
    (_column("a_tuple", t.TupleType.apply_parameters([t.Int32Type, t.UTF8Type])), (1, "a")),
    (_column("a_udt", UDT), UDT.tuple_type("Main St", 12345)),
    (_column("a_frozen", t.FrozenType.apply_parameters([INT_LIST])), [3]),
    (_column("a_null", t.Int32Type), None),
]


def _system_local(address):
    return [
        (api.ColumnSpec("system", "local", name, cql_type), value)
        for name, cql_type, value in [
            ("key", t.UTF8Type, "local"),
            ("cluster_name", t.UTF8Type, "Fake Cluster"),
            ("data_center", t.UTF8Type, "datacenter1"),
            ("rack", t.UTF8Type, "rack1"),
            ("partitioner", t.UTF8Type, "org.apache.cassandra.dht.Murmur3Partitioner"),
            ("release_version", t.UTF8Type, "4.0.11"),
            ("host_id", t.UUIDType, uuid.UUID(int=7)),
            ("schema_version", t.UUIDType, uuid.UUID(int=8)),
            ("rpc_address", t.InetAddressType, address),
        ]
    ]


class FakeEngine:
    def __init__(self, address, port):
        self._local = _system_local(address)
        self._prepared: dict[bytes, api.PreparedStatement] = {}
        self._schema_listeners = []

    def add_schema_listener(self, callback):
        self._schema_listeners.append(callback)

    def prepare(self, query, session):
        markers = re.findall(r"\?|:(\w+)", query)
        statement = api.PreparedStatement(
            id=hashlib.md5(query.encode(), usedforsecurity=False).digest(),
            query=query,
            keyspace=session.keyspace,
            bind_columns=[_column(name or f"v{i}", t.Int32Type) for i, name in enumerate(markers)],
            result_columns=[_column("echo", t.UTF8Type)] if query.startswith("ECHO") else None,
            pk_indexes=[0] if markers else [],
        )
        self._prepared[statement.id] = statement
        return statement

    def get_prepared(self, statement_id):
        try:
            return self._prepared[statement_id]
        except KeyError:
            raise api.Unprepared("Prepared query not found", statement_id) from None

    def execute(self, prepared, values, options, session):
        return self.query(prepared.query, values, options, session)

    def batch(self, batch_type, items, options, session):
        calls = [(prepared.query, _describe_values(values)) for prepared, values in items]
        return _echo({"batch_type": batch_type, "statements": calls, **_describe(options, session)})

    def query(self, query, values, options, session):
        verb, _, rest = query.partition(" ")
        if verb == "ECHO":
            return _echo({"values": _describe_values(values), **_describe(options, session)})
        if verb == "TYPES":
            columns, row = zip(*TYPED_VALUES, strict=True)
            return api.RowsResult(list(columns), [list(row)])
        if verb == "MIXED":
            columns = [_column("a", t.Int32Type, "one"), _column("b", t.Int32Type, "two")]
            return api.RowsResult(columns, [[1, 2]])
        if verb == "NUMBERS":
            return _numbers(options)
        if verb == "USE":
            session.keyspace = rest.strip('"')  # the driver quotes the name
            return api.SetKeyspaceResult(session.keyspace)
        if verb == "CREATE":
            keyspace, _, table = rest.removeprefix("TABLE ").partition(".")
            change = api.SchemaChangeResult("CREATED", "TABLE", keyspace, table)
            for listener in self._schema_listeners:
                listener(change)
            return change
        if verb == "FAIL":
            raise _failure(rest)
        if verb == "SELECT" and "system.local" in rest:
            columns, row = zip(*self._local, strict=True)
            return api.RowsResult(list(columns), [list(row)])
        if verb == "SELECT" and "system.peers" in rest:
            return api.RowsResult([column for column, _ in self._local], [])
        return api.VoidResult()

    def close(self):
        print("fake engine closed", file=sys.stderr)  # tests read it in the server's stderr


def _failure(kind):
    if kind == "syntax":
        return api.CqlSyntaxError("line 1:0 no viable alternative at input 'FAIL'")
    if kind == "exists":
        return api.AlreadyExists("Table ks.t already exists", KS, TABLE)
    if kind == "unprepared":
        return api.Unprepared("Prepared query with ID 00ff not found", b"\x00\xff")
    return ZeroDivisionError("the fake engine crashed")


def _numbers(options):
    start = int(options.paging_state or b"0")
    end = 10 if options.page_size is None else min(10, start + options.page_size)
    paging_state = str(end).encode() if end < 10 else None
    rows = [[n] for n in range(start, end)]
    return api.RowsResult([_column("n", t.Int32Type)], rows, paging_state)


def _describe_values(values):
    return [
        "UNSET" if value is api.UNSET else None if value is None else value.hex()
        for value in values
    ]


def _describe(options, session):
    return {
        "consistency": options.consistency,
        "page_size": options.page_size,
        "serial_consistency": options.serial_consistency,
        "default_timestamp": options.default_timestamp,
        "keyspace": session.keyspace,
    }


def _echo(received):
    return api.RowsResult([_column("echo", t.UTF8Type)], [[json.dumps(received)]])


if __name__ == "__main__":
    from localcql.__main__ import main

    sys.exit(main(engine_factory=FakeEngine))
