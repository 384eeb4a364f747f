"""The CQL conformance corpus (tests/localcql/conformance/cases) run in-process on the engine.

The conformance suite proper runs the corpus through cassandra-driver and the native-protocol
server; this runs the same cases straight against ``Engine``, doing what the driver would: bound
values encoded with each bind marker's type, every row value encoded and decoded again with its
column's type, 5000-row pages by default and client-side timestamps. So a corpus failure can be
told apart: engine or protocol.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
from cassandra.query import UNSET_VALUE

from localcql import api
from localcql.engine import Engine

CONFORMANCE = Path(__file__).parents[1] / "conformance"
DRIVER_ERROR_NAMES = {
    api.CqlSyntaxError: "SyntaxException",
    api.InvalidRequest: "InvalidRequest",
    api.AlreadyExists: "AlreadyExists",
    api.Unauthorized: "Unauthorized",
    api.ProtocolError: "ProtocolException",
    api.Unprepared: "PreparedQueryNotFound",
    api.ConfigurationError: "ConfigurationException",
}


def _load_values():
    name = "localcql_conformance_values"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CONFORMANCE / "values.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


values = _load_values()
CASES = [
    (f"{path.stem}::{case['name']}", case)
    for path in sorted((CONFORMANCE / "cases").glob("*.yaml"))
    for case in values.load_file(path)
]


def _encode(spec: api.ColumnSpec, value):
    if value is UNSET_VALUE:
        return api.UNSET
    if value is None:
        return None
    return spec.cql_type.to_binary(value, 4)


def _decode(spec: api.ColumnSpec, value):
    if value is None:
        return None
    return spec.cql_type.from_binary(spec.cql_type.to_binary(value, 4), 4)


class Client:
    """Plays the driver's part for one case."""

    def __init__(self, engine: Engine, keyspace: str):
        self.engine = engine
        self.session = api.SessionState(keyspace)

    def bind(self, prepared: api.PreparedStatement, params) -> list:
        specs = prepared.bind_columns
        if isinstance(params, dict):
            params = [params[s.name] for s in specs]
        return [_encode(s, v) for s, v in zip(specs, params or [], strict=True)]

    def batch(self, spec: dict):
        """A protocol BATCH message: the server prepares the plain query strings it contains."""
        items = []
        for statement in spec["statements"]:
            statement = statement if isinstance(statement, dict) else {"query": statement}
            prepared = self.engine.prepare(statement["query"], self.session)
            items.append((prepared, self.bind(prepared, statement.get("params"))))
        kind = {"LOGGED": 0, "UNLOGGED": 1, "COUNTER": 2}[spec.get("type", "LOGGED")]
        options = api.QueryOptions(default_timestamp=time.time_ns() // 1000)
        result = self.engine.batch(kind, items, options, self.session)
        if not isinstance(result, api.RowsResult):
            return [[]], []
        return [
            [
                tuple(_decode(s, v) for s, v in zip(result.columns, row, strict=True))
                for row in result.rows
            ]
        ], [c.name for c in result.columns]

    def run(self, step: dict):
        if "batch" in step:
            return self.batch(step["batch"])
        query, params = step["query"], step.get("params")
        prepare = step.get("prepare", params is not None) or step.get("prepare_only")
        page_size = None if step.get("paging") is False else step.get("fetch_size") or 5000
        session = api.SessionState() if step.get("no_keyspace") else self.session
        if prepare:
            prepared = self.engine.prepare(query, session)
            self.prepared = prepared
            if step.get("prepare_only"):
                self.result_types = [c.cql_type for c in prepared.result_columns or []]
                return [[]], [c.name for c in prepared.result_columns or []]
            bound = self.bind(prepared, params)

            def call(options):
                return self.engine.execute(prepared, bound, options, session)

        else:

            def call(options):
                return self.engine.query(query, [], options, session)

        pages, paging_state = [], None
        while True:
            options = api.QueryOptions(
                page_size=page_size,
                paging_state=paging_state,
                default_timestamp=time.time_ns() // 1000,
            )
            result = call(options)
            if not isinstance(result, api.RowsResult):
                return [[]], []
            self.result_types = [c.cql_type for c in result.columns]
            pages.append(
                [
                    tuple(_decode(s, v) for s, v in zip(result.columns, row, strict=True))
                    for row in result.rows
                ]
            )
            paging_state = result.paging_state
            if paging_state is None:
                return pages, [c.name for c in result.columns]
            assert len(pages) < 100, "paging does not end"


def _check_error(expected: dict, exc: api.CqlError):
    name = next(n for k, n in DRIVER_ERROR_NAMES.items() if isinstance(exc, k))
    text = exc.message
    if "type" in expected:
        assert expected["type"] == name, f"{name}: {text}"
    if "code" in expected:
        assert exc.code == expected["code"], f"{exc.code:#x}: {text}"
    message = expected.get("message")
    for fragment in [message] if isinstance(message, str) else message or []:
        assert fragment.lower() in text.lower(), text
    for attr in ("keyspace", "table"):
        if attr in expected:
            assert getattr(exc, attr) == expected[attr]


def _type_name(driver_type) -> str:
    return driver_type.cql_parameterized_type().replace("varchar", "text")


def _check_result(expect: dict, pages, columns, prepared, result_types):
    rows = [row for page in pages for row in page]
    if "column_types" in expect:
        got = [_type_name(t) for t in result_types]
        assert got == [t.replace("varchar", "text") for t in expect["column_types"]]
    if "bind_markers" in expect:
        got = [[c.name, _type_name(c.cql_type)] for c in prepared.bind_columns]
        assert got == [[n, t.replace("varchar", "text")] for n, t in expect["bind_markers"]]
    if "routing_key_indexes" in expect:
        assert prepared.pk_indexes == expect["routing_key_indexes"]
    if "columns" in expect:
        assert columns == expect["columns"], rows
    if "applied" in expect:
        assert rows[0][columns.index("[applied]")] is expect["applied"], rows
    if "count" in expect:
        assert len(rows) == expect["count"], rows
    if "rows" in expect:
        ordered = not expect.get("unordered", False)
        assert values.rows_match(expect["rows"], rows, ordered=ordered), (columns, rows)
    if "pages" in expect:
        assert len(pages) == len(expect["pages"]), pages
        for want, got in zip(expect["pages"], pages, strict=True):
            assert values.rows_match(want, got, ordered=True), pages


@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[cid for cid, _ in CASES])
def test_case(case_id: str, case: dict):
    keyspace = f"conf_{[c for c, _ in CASES].index(case_id):04d}"
    engine = Engine()
    admin = api.SessionState()
    engine.query(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        [],
        api.QueryOptions(),
        admin,
    )
    client = Client(engine, keyspace)
    for statement in case.get("setup") or []:
        step = statement if isinstance(statement, dict) else {"query": statement}
        client.run(values.substitute(step, keyspace))
    steps = list(case.get("steps") or [])
    if "query" in case or "batch" in case:
        steps.append({k: v for k, v in case.items() if k not in ("name", "doc", "setup", "steps")})
    for step in steps:
        step = values.substitute(step, keyspace)
        expect = step.get("expect") or {}
        if "table_metadata" in step:
            continue  # the driver's metadata parsing: checked by test_driver_metadata.py
        client.prepared, client.result_types = None, []
        try:
            if "raw_execute_id" in step:
                engine.get_prepared(bytes.fromhex(step["raw_execute_id"]))
                pages, columns = [[]], []
            else:
                pages, columns = client.run(step)
        except api.CqlError as exc:
            if "error" not in expect:
                raise
            _check_error(expect["error"], exc)
            continue
        assert "error" not in expect, f"expected {expect['error']}, got {pages}"
        _check_result(expect, pages, columns, client.prepared, client.result_types)
