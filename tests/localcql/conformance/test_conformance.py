"""Runs the CQL conformance corpus (cases/*.yaml) through cassandra-driver against localcql.

Every case runs in a keyspace of its own, created for it, so cases are independent. See README.md
for the case format. Set LOCALCQL_CONFORMANCE_CONTACT=host:port to run the corpus against another
server (e.g. a real Apache Cassandra 4.x, to check the corpus itself) instead of a localcql
subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy
from cassandra.protocol import ExecuteMessage
from cassandra.query import BatchStatement, BatchType, SimpleStatement, tuple_factory


def _load_helpers():
    """values.py sits next to this file; load it by path, whatever pytest's import mode."""
    name = "localcql_conformance_values"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("values.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_values = _load_helpers()
load_file = _values.load_file
rows_match = _values.rows_match
substitute = _values.substitute

CASES_DIR = Path(__file__).parent / "cases"
STEP_KEYS = {
    "query",
    "params",
    "prepare",
    "fetch_size",
    "expect",
    "raw_execute_id",
    "no_keyspace",
    "batch",
    "prepare_only",
    "paging",
    "table_metadata",
    "doc",
}
CASE_KEYS = {"name", "setup", "steps", *STEP_KEYS}
EXPECT_KEYS = {
    "rows",
    "unordered",
    "columns",
    "column_types",
    "bind_markers",
    "routing_key_indexes",
    "table",
    "error",
    "applied",
    "pages",
    "count",
}

# Error codes of the driver's exception classes that carry none (to_exception() drops the code).
CODES = {
    "ServerError": 0x0000,
    "ProtocolException": 0x000A,
    "SyntaxException": 0x2000,
    "Unauthorized": 0x2100,
    "InvalidRequest": 0x2200,
    "ConfigurationException": 0x2300,
    "AlreadyExists": 0x2400,
    "PreparedQueryNotFound": 0x2500,
}


# --------------------------------------------------------------------------- collection
def _load_cases() -> list[tuple[str, dict]]:
    cases: list[tuple[str, dict]] = []
    seen: set[str] = set()
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in load_file(path):
            case_id = f"{path.stem}::{case['name']}"
            if case_id in seen:
                raise ValueError(f"duplicate case {case_id}")
            unknown = set(case) - CASE_KEYS
            if unknown:
                raise ValueError(f"{case_id}: unknown keys {sorted(unknown)}")
            seen.add(case_id)
            cases.append((case_id, case))
    return cases


CASES = _load_cases()


def _steps(case: dict) -> list[dict]:
    steps = list(case.get("steps") or [])
    if "query" in case or "batch" in case:
        steps.append({k: case[k] for k in STEP_KEYS if k in case})
    if not steps:
        raise ValueError(f"case {case['name']} has no query and no steps")
    for step in steps:
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise ValueError(f"case {case['name']}: unknown step keys {sorted(unknown)}")
        unknown = set(step.get("expect") or {}) - EXPECT_KEYS
        if unknown:
            raise ValueError(f"case {case['name']}: unknown expect keys {sorted(unknown)}")
    return steps


# --------------------------------------------------------------------------- server + cluster
@pytest.fixture(scope="session")
def cql_endpoint() -> Iterator[tuple[str, int]]:
    contact = os.environ.get("LOCALCQL_CONFORMANCE_CONTACT")
    if contact:
        host, _, port = contact.rpartition(":")
        yield host, int(port)
        return
    try:
        from localcql.testing import running_localcql
    except ImportError as exc:  # the server is not written yet
        pytest.skip(f"localcql.testing is not available: {exc}")
    with running_localcql(in_memory=True) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def cluster(cql_endpoint) -> Iterator[Cluster]:
    host, port = cql_endpoint
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(),
        row_factory=tuple_factory,
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
        request_timeout=30,
    )
    kwargs: dict[str, Any] = {}
    if os.environ.get("LOCALCQL_CONFORMANCE_PROTOCOL"):
        kwargs["protocol_version"] = int(os.environ["LOCALCQL_CONFORMANCE_PROTOCOL"])
    if os.environ.get("LOCALCQL_CONFORMANCE_DRIVER_METADATA") == "0":
        # Diagnosis only: the driver then skips its system_schema reads and token map.
        kwargs["schema_metadata_enabled"] = False
        kwargs["token_metadata_enabled"] = False
    cl = Cluster(
        [host],
        port=port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=30,
        **kwargs,
    )
    admin = cl.connect()
    cl._conformance_admin = admin
    # Keyspaces an interrupted earlier run may have left behind, so that every case can create
    # its own again.
    _drop_keyspaces(admin, _keyspaces(admin) & _corpus_keyspaces(admin))
    yield cl
    cl.shutdown()


_CREATED_KEYSPACE = re.compile(
    r"CREATE\s+(?:KEYSPACE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\"[^\"]+\"|\w+)", re.I
)


def _corpus_keyspaces(admin: Session) -> set[str]:
    """Every keyspace the corpus creates: the cases' own (conf_NNNN) and those they name."""
    names = {name for name in _keyspaces(admin) if re.fullmatch(r"conf_\d{4}", name)}
    for _, case in CASES:
        for step in [*(case.get("setup") or []), *_steps(case)]:
            query = step if isinstance(step, str) else step.get("query") or ""
            for name in _CREATED_KEYSPACE.findall(query):
                names.add(name[1:-1] if name.startswith('"') else name.lower())
    return names


def _keyspace_name(case_id: str) -> str:
    index = [cid for cid, _ in CASES].index(case_id)
    return f"conf_{index:04d}"


# --------------------------------------------------------------------------- execution
def _execute_batch(session: Session, spec: dict, keyspace: str):
    """A protocol-level BATCH message (the driver's BatchStatement), not BEGIN BATCH text."""
    batch = BatchStatement(batch_type=getattr(BatchType, spec.get("type", "LOGGED")))
    for item in spec["statements"]:
        item = item if isinstance(item, dict) else {"query": item}
        query = substitute(item["query"], keyspace)
        params = substitute(item.get("params"), keyspace)
        if params is not None or item.get("prepare"):
            batch.add(session.prepare(query), params if params is not None else [])
        else:
            batch.add(SimpleStatement(query))
    result = session.execute(batch)
    return [list(result.all())], result


def _execute(session: Session, step: dict, keyspace: str):
    """Runs one step; returns a list of pages (each a list of row tuples) and the last ResultSet."""
    if "batch" in step:
        return _execute_batch(session, step["batch"], keyspace)
    query = substitute(step["query"], keyspace)
    params = substitute(step.get("params"), keyspace)
    prepare = step.get("prepare", params is not None) or step.get("prepare_only", False)
    fetch_size = step.get("fetch_size")
    if prepare:
        prepared = session.prepare(query)
        if step.get("prepare_only"):
            return [[]], _PreparedOnly(prepared)
        statement = prepared.bind(params if params is not None else [])
        if fetch_size is not None:
            statement.fetch_size = fetch_size
    else:
        if params is not None:
            raise ValueError("params need a prepared statement (prepare: true)")
        statement = SimpleStatement(query)  # the driver's default page size, as applications
        if fetch_size is not None:
            statement.fetch_size = fetch_size
    if step.get("paging") is False:
        statement.fetch_size = None  # one unpaged request

    if fetch_size is None:
        result = session.execute(statement)
        result.conformance_prepared = prepared if prepare else None
        return [list(result.all())], result
    pages = []
    paging_state = None
    while True:
        result = session.execute(statement, paging_state=paging_state)
        pages.append(list(result.current_rows))
        paging_state = result.paging_state
        if paging_state is None or len(pages) > 100:
            result.conformance_prepared = prepared if prepare else None
            return pages, result


class _PreparedOnly:
    """The outcome of a prepare_only step: metadata, no rows."""

    def __init__(self, prepared):
        self.conformance_prepared = prepared
        # result_metadata rows are (keyspace, table, name, type)
        self.column_names = [c[2] for c in prepared.result_metadata or []]
        self.column_types = [c[3] for c in prepared.result_metadata or []]


def _cql_type(driver_type) -> str:
    return _norm_type(driver_type.cql_parameterized_type())


def _norm_type(name: str) -> str:
    """text and varchar are one type; the protocol only has the varchar id (0x000D)."""
    return re.sub(r"\bvarchar\b", "text", name)


def _raw_execute_unknown(cluster: Cluster, session: Session, statement_id: bytes):
    """EXECUTE of an id the server never prepared, bypassing the driver's re-prepare logic."""
    host = next(iter(session.get_pools())).host if hasattr(session, "get_pools") else None
    endpoint = host.endpoint if host else cluster.metadata.all_hosts()[0].endpoint
    conn = cluster.connection_factory(endpoint)
    try:
        message = ExecuteMessage(
            query_id=statement_id,
            query_params=[],
            consistency_level=ConsistencyLevel.ONE,
            result_metadata_id=statement_id,
        )
        conn.wait_for_response(message, timeout=30)
    finally:
        conn.close()


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    for klass in type(exc).__mro__:
        if klass.__name__ in CODES:
            return CODES[klass.__name__]
    return None


def _check_error(step_desc: str, expected: dict, exc: BaseException) -> None:
    names = {klass.__name__ for klass in type(exc).__mro__}
    want_type = expected.get("type")
    text = str(exc)
    detail = f"{step_desc}\n  got {type(exc).__name__} (code {_error_code(exc)}): {text}"
    if want_type and want_type not in names:
        pytest.fail(f"expected {want_type}, {detail}")
    if "code" in expected and _error_code(exc) != expected["code"]:
        pytest.fail(f"expected error code {expected['code']:#06x}, {detail}")
    message = expected.get("message")
    if message is not None:
        fragments = message if isinstance(message, list) else [message]
        for fragment in fragments:
            if fragment.lower() not in text.lower():
                pytest.fail(f"expected message containing {fragment!r}, {detail}")
    pattern = expected.get("message_regex")
    if pattern is not None and not re.search(pattern, text, re.IGNORECASE):
        pytest.fail(f"expected message matching {pattern!r}, {detail}")
    for attr in ("keyspace", "table"):
        if attr in expected and getattr(exc, attr, None) != expected[attr]:
            pytest.fail(f"expected {attr}={expected[attr]!r}, {detail}")


def _fmt_rows(rows) -> str:
    return "\n".join(f"    {tuple(r)!r}" for r in rows) or "    (no rows)"


def _check_result(step_desc: str, expect: dict, pages: list[list[tuple]], result) -> None:
    rows = [row for page in pages for row in page]
    got = f"{step_desc}\n  got columns {result.column_names}\n  got rows:\n{_fmt_rows(rows)}"
    if "columns" in expect and list(result.column_names or []) != expect["columns"]:
        pytest.fail(f"expected columns {expect['columns']}, {got}")
    if "column_types" in expect:
        got_types = [_cql_type(t) for t in result.column_types or []]
        if got_types != [_norm_type(t) for t in expect["column_types"]]:
            pytest.fail(f"expected column types {expect['column_types']}, got {got_types}, {got}")
    prepared = getattr(result, "conformance_prepared", None)
    if "bind_markers" in expect:
        if prepared is None:
            pytest.fail(f"bind_markers needs a prepared statement, {step_desc}")
        markers = [[c.name, _cql_type(c.type)] for c in prepared.column_metadata]
        if markers != [[n, _norm_type(t)] for n, t in expect["bind_markers"]]:
            pytest.fail(
                f"expected bind markers {expect['bind_markers']}, got {markers}, {step_desc}"
            )
    if "routing_key_indexes" in expect:
        if prepared is None:
            pytest.fail(f"routing_key_indexes needs a prepared statement, {step_desc}")
        indexes = list(prepared.routing_key_indexes or [])
        if indexes != expect["routing_key_indexes"]:
            pytest.fail(
                f"expected routing key indexes {expect['routing_key_indexes']}, got {indexes}, "
                f"{step_desc}"
            )
    if "applied" in expect:
        names = list(result.column_names or [])
        if not rows or "[applied]" not in names:
            pytest.fail(f"expected an [applied] row, {got}")
        applied = rows[0][names.index("[applied]")]
        if applied is not expect["applied"]:
            pytest.fail(f"expected [applied]={expect['applied']}, {got}")
    if "count" in expect and len(rows) != expect["count"]:
        pytest.fail(f"expected {expect['count']} rows, {got}")
    if "rows" in expect and not rows_match(
        expect["rows"], rows, ordered=not expect.get("unordered", False)
    ):
        want = _fmt_rows(tuple(r) for r in expect["rows"])
        pytest.fail(
            f"expected rows ({'unordered' if expect.get('unordered') else 'ordered'}):\n"
            f"{want}\n  {got}"
        )
    if "pages" in expect:
        want_pages = expect["pages"]
        ok = len(want_pages) == len(pages) and all(
            rows_match(w, p, ordered=True) for w, p in zip(want_pages, pages, strict=True)
        )
        if not ok:
            pytest.fail(
                f"expected pages {[[tuple(r) for r in p] for p in want_pages]},\n"
                f"  {step_desc}\n  got pages {[[tuple(r) for r in p] for p in pages]}"
            )


def _order(column) -> str:
    return "desc" if column.is_reversed else "asc"


def _check_table_metadata(cluster: Cluster, keyspace: str, table: str, expect: dict) -> None:
    """The driver's own model of a table, built from system_schema after a refresh."""
    cluster.refresh_table_metadata(keyspace, table)
    meta = cluster.metadata.keyspaces[keyspace].tables[table]
    want = expect.get("table", {})
    got = {
        "partition_key": [c.name for c in meta.partition_key],
        "clustering_key": [[c.name, _order(c)] for c in meta.clustering_key],
        "columns": {name: _norm_type(c.cql_type) for name, c in meta.columns.items()},
        "static": sorted(name for name, c in meta.columns.items() if c.is_static),
        "options": {k: meta.options.get(k) for k in want.get("options", {})},
    }
    for key, value in want.items():
        expected = value
        if key == "columns":
            expected = {n: _norm_type(t) for n, t in value.items()}
        if got[key] != expected:
            pytest.fail(f"table {table}: expected {key} {expected}, got {got[key]}")


# Schema changes on a real node can take longer than a query's default timeout.
SCHEMA_TIMEOUT = 120


def _keyspaces(admin: Session) -> set[str]:
    rows = admin.execute("SELECT keyspace_name FROM system_schema.keyspaces")
    return {row[0] for row in rows}


def _drop_keyspaces(admin: Session, names) -> None:
    for name in sorted(names):
        admin.execute(f'DROP KEYSPACE IF EXISTS "{name}"', timeout=SCHEMA_TIMEOUT)


@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[cid for cid, _ in CASES])
def test_conformance(cluster: Cluster, case_id: str, case: dict) -> None:
    """Runs a case in a keyspace of its own, and afterwards drops it and every keyspace the case
    created, so that the corpus leaves a server (a real Cassandra too) as it found it and can run
    again."""
    keyspace = _keyspace_name(case_id)
    admin: Session = cluster._conformance_admin
    _drop_keyspaces(admin, [keyspace])  # left by an interrupted run, or a case renumbered
    before = _keyspaces(admin)
    admin.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        timeout=SCHEMA_TIMEOUT,
    )
    session = cluster.connect(keyspace)
    try:
        for i, statement in enumerate(case.get("setup") or []):
            step = statement if isinstance(statement, dict) else {"query": statement}
            try:
                _execute(session, step, keyspace)
            except Exception as exc:
                pytest.fail(f"setup statement {i} failed: {step['query']}\n  {exc!r}")
        for i, step in enumerate(_steps(case)):
            expect = substitute(step.get("expect") or {}, keyspace)
            desc = f"step {i}: {substitute(step.get('query', ''), keyspace)}"
            if "table_metadata" in step:
                _check_table_metadata(cluster, keyspace, step["table_metadata"], expect)
                continue
            try:
                if "raw_execute_id" in step:
                    _raw_execute_unknown(cluster, session, bytes.fromhex(step["raw_execute_id"]))
                    pages, result = [[]], None
                else:
                    target = admin if step.get("no_keyspace") else session
                    pages, result = _execute(target, step, keyspace)
            except Exception as exc:
                if "error" not in expect:
                    raise
                _check_error(desc, expect["error"], exc)
                continue
            if "error" in expect:
                rows = [r for p in pages for r in p]
                pytest.fail(
                    f"expected error {expect['error']}, {desc}\n  succeeded:\n{_fmt_rows(rows)}"
                )
            _check_result(desc, expect, pages, result)
    finally:
        session.shutdown()
        _drop_keyspaces(admin, _keyspaces(admin) - before)


def test_the_corpus_left_no_keyspace_behind(cluster: Cluster) -> None:
    """Runs after the cases: a rerun, on localcql or a real node, starts from a clean server."""
    admin: Session = cluster._conformance_admin
    assert _keyspaces(admin) & _corpus_keyspaces(admin) == set()


def test_corpus_is_well_formed() -> None:
    """Every case parses, has unique name, known keys, and asserts something."""
    assert len(CASES) >= 150, len(CASES)
    for case_id, case in CASES:
        steps = _steps(case)
        assert any(s.get("expect") for s in steps), f"{case_id} asserts nothing"
        assert re.fullmatch(r"[a-z0-9_]+", case["name"]), f"{case_id}: name must be snake_case"
