"""No Python exception ever reaches a client: a property test over statements and bound values.

Hypothesis writes statements (well-formed ones over a table with a column of every type, with
literals of every kind, functions, conditions and clauses, and garbled ones) and binds every
marker to a valid value of its type, a null, an unset value or arbitrary bytes. Whatever it
writes, the engine either answers or raises one of Cassandra's errors with a proper code: a
SyntaxException, InvalidRequest, ConfigurationException, Unauthorized... never a Python exception
(which the server would send as a Server error, 0x0000) and never a Server error itself.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import os

import pytest
from cassandra import util
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localcql import api
from localcql.engine import Engine

SESSION = api.SessionState("ks")
PROTOCOL_VERSION = 4

# A column of every type, each with a name the generated statements pick from.
COLUMNS = {
    "a_ascii": "ascii",
    "a_bigint": "bigint",
    "a_blob": "blob",
    "a_boolean": "boolean",
    "a_date": "date",
    "a_decimal": "decimal",
    "a_double": "double",
    "a_duration": "duration",
    "a_float": "float",
    "a_inet": "inet",
    "a_int": "int",
    "a_smallint": "smallint",
    "a_text": "text",
    "a_time": "time",
    "a_timestamp": "timestamp",
    "a_timeuuid": "timeuuid",
    "a_tinyint": "tinyint",
    "a_uuid": "uuid",
    "a_varint": "varint",
    "a_list": "list<text>",
    "a_set": "set<int>",
    "a_map": "map<text, int>",
    "a_frozen": "frozen<list<int>>",
    "a_tuple": "tuple<int, text>",
    "a_udt": "address",
    "a_frozen_udt": "frozen<address>",
    "a_static": "int static",
}
TABLE = (
    "CREATE TABLE ks.every (k int, c int, "
    + ", ".join(f"{name} {cql}" for name, cql in COLUMNS.items())
    + ", PRIMARY KEY (k, c))"
)
COUNTERS = "CREATE TABLE ks.counters (k int PRIMARY KEY, n counter)"
TEXT_KEYED = "CREATE TABLE ks.texts (k text, c timeuuid, v blob, PRIMARY KEY (k, c))"
NAMES = ["k", "c", *COLUMNS]

LITERALS = [
    "null",
    "0",
    "-1",
    "1",
    "127",
    "128",
    "32768",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1.5",
    "-0.0",
    "NaN",
    "Infinity",
    "1e400",
    "'text'",
    "''",
    "'2020-01-01'",
    "'-0001-01-01'",
    "'2020-13-45'",
    "'12:00:00'",
    "'25:61:00'",
    "'2020-01-01 00:00:00+0000'",
    "'::ffff:1.2.3.4'",
    "'1.2.3.4'",
    "'not an address'",
    "0x",
    "0x01",
    "0x0102030405060708090a",
    "true",
    "false",
    "1h30m",
    "-2d",
    "P1Y2M",
    "550e8400-e29b-41d4-a716-446655440000",
    "d2177dd0-eaa2-11de-a572-001b779c76e3",
    "[1, 2]",
    "['a', null]",
    "[]",
    "{1, 2}",
    "{'a', null}",
    "{null}",
    "{}",
    "{'a': 1}",
    "{'a': null}",
    "{null: 1}",
    "(1, 'a')",
    "(1, 'a', 2)",
    "(null, null)",
    "{street: 'x', zip: 1}",
    "{nope: 1}",
    "{street: null}",
    "?",
    ":named",
    "now()",
    "uuid()",
    "blobAsInt(0x01)",
    "blobAsBigint(0x0102)",
    "blobAsText(0xff)",
    "blobAsDate(0x)",
    "intAsBlob(1)",
    "toTimestamp(now())",
    "minTimeuuid('2020-01-01')",
    "unknownfn(1)",
    "token(1)",
]
FUNCTIONS = [
    "writetime",
    "ttl",
    "token",
    "count",
    "min",
    "max",
    "sum",
    "avg",
    "toJson",
    "blobAsInt",
    "blobAsText",
    "blobAsVarchar",
    "varcharAsBlob",
    "textAsBlob",
    "intAsBlob",
    "toDate",
    "toTimestamp",
    "toUnixTimestamp",
    "dateOf",
    "unixTimestampOf",
]
OPERATORS = ["=", "!=", "<", "<=", ">", ">=", "IN", "CONTAINS", "CONTAINS KEY"]

names = st.sampled_from(NAMES)
literals = st.sampled_from(LITERALS)
operators = st.sampled_from(OPERATORS)


@st.composite
def relations(draw):
    kind = draw(st.sampled_from(["single", "in", "token", "multi", "multi_in"]))
    if kind == "single":
        return f"{draw(names)} {draw(operators)} {draw(literals)}"
    if kind == "in":
        values = draw(st.lists(literals, max_size=3))
        return f"{draw(names)} IN ({', '.join(values)})"
    if kind == "token":
        return f"token({draw(names)}) {draw(operators)} {draw(literals)}"
    columns = draw(st.lists(names, min_size=1, max_size=3))
    if kind == "multi":
        return f"({', '.join(columns)}) {draw(operators)} {draw(literals)}"
    return f"({', '.join(columns)}) IN {draw(literals)}"


@st.composite
def where_clauses(draw):
    parts = ["k = ?", *draw(st.lists(relations(), max_size=3))]
    if draw(st.booleans()):
        parts = draw(st.lists(relations(), min_size=1, max_size=4))
    return " WHERE " + " AND ".join(parts)


@st.composite
def selectors(draw):
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return "*"
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            items.append(draw(names) + draw(st.sampled_from(["", "", ".street", ".nope"])))
        else:
            args = draw(st.lists(st.one_of(names, literals), max_size=2))
            items.append(f"{draw(st.sampled_from(FUNCTIONS))}({', '.join(args)})")
    return ", ".join(items)


@st.composite
def selects(draw):
    statement = f"SELECT {draw(selectors())} FROM every{draw(where_clauses())}"  # noqa: S608
    if draw(st.booleans()):
        statement += f" ORDER BY c {draw(st.sampled_from(['ASC', 'DESC']))}"
    if draw(st.booleans()):
        statement += f" PER PARTITION LIMIT {draw(st.sampled_from(['?', '1', '0', '-1']))}"
    if draw(st.booleans()):
        statement += f" LIMIT {draw(st.sampled_from(['?', '1', '0', '-1', '2147483648']))}"
    if draw(st.booleans()):
        statement += " ALLOW FILTERING"
    return statement


@st.composite
def usings(draw):
    items = draw(
        st.lists(
            st.sampled_from(["TTL ?", "TTL 0", "TTL -1", "TIMESTAMP ?", "TIMESTAMP -5"]),
            max_size=2,
        )
    )
    return f" USING {' AND '.join(items)}" if items else ""


@st.composite
def conditions(draw):
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return ""
    if choice == 1:
        return " IF EXISTS"
    column = draw(names)
    element = f"[{draw(literals)}]" if draw(st.booleans()) else ""
    return f" IF {column}{element} {draw(operators)} {draw(literals)}"


@st.composite
def inserts(draw):
    columns = draw(st.lists(names, min_size=1, max_size=4))
    values = draw(st.lists(literals, min_size=len(columns), max_size=len(columns)))
    statement = f"INSERT INTO every ({', '.join(columns)}) VALUES ({', '.join(values)})"  # noqa: S608
    if draw(st.booleans()):
        statement += " IF NOT EXISTS"
    return statement + draw(usings())


@st.composite
def updates(draw):
    assignments = []
    for _ in range(draw(st.integers(1, 3))):
        column = draw(names)
        form = draw(st.integers(0, 5))
        value = draw(literals)
        assignments.append(
            [
                f"{column} = {value}",
                f"{column} = {column} + {value}",
                f"{column} = {value} + {column}",
                f"{column} -= {value}",
                f"{column}[{draw(literals)}] = {value}",
                f"{column}.zip = {value}",
            ][form]
        )
    return (
        f"UPDATE every{draw(usings())} SET {', '.join(assignments)}"  # noqa: S608
        f"{draw(where_clauses())}{draw(conditions())}"
    )


@st.composite
def deletes(draw):
    targets = []
    for _ in range(draw(st.integers(0, 2))):
        column = draw(names)
        targets.append(f"{column}[{draw(literals)}]" if draw(st.booleans()) else column)
    return f"DELETE {', '.join(targets)} FROM every{draw(where_clauses())}{draw(conditions())}"


@st.composite
def json_statements(draw):
    document = draw(
        st.dictionaries(
            st.sampled_from([*NAMES, '"K"', "nope"]),
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-(2**70), 2**70),
                st.floats(allow_nan=False),
                st.text(max_size=5),
                st.lists(st.integers(-3, 3), max_size=2),
                st.dictionaries(st.text(max_size=2), st.integers(-3, 3), max_size=2),
            ),
            max_size=4,
        )
    )
    text = json.dumps(document).replace("'", "''")
    update = f"UPDATE every SET {draw(names)} = fromJson('{text}')"  # noqa: S608
    return draw(
        st.sampled_from(
            [
                f"INSERT INTO every JSON '{text}'",
                f"INSERT INTO every JSON '{text}' DEFAULT UNSET",
                "INSERT INTO every JSON ?",
                f"SELECT JSON {draw(selectors())} FROM every{draw(where_clauses())}",  # noqa: S608
                f"{update} WHERE k = 1 AND c = 1",
                f"SELECT toJson({draw(names)}) FROM every WHERE k = 1",  # noqa: S608
            ]
        )
    )


@st.composite
def counter_updates(draw):
    value = draw(st.sampled_from(["?", "1", "-1", "9223372036854775807", "null", "'a'"]))
    op = draw(st.sampled_from(["+", "-"]))
    return f"UPDATE counters SET n = n {op} {value} WHERE k = {draw(literals)}"  # noqa: S608


@st.composite
def batches(draw):
    children = draw(st.lists(st.one_of(inserts(), updates(), deletes()), min_size=1, max_size=3))
    kind = draw(st.sampled_from(["", "UNLOGGED ", "COUNTER "]))
    return f"BEGIN {kind}BATCH{draw(usings())} {'; '.join(children)}; APPLY BATCH"


@st.composite
def schema_statements(draw):
    name = draw(st.sampled_from(["t2", "x" * 49, "every", "counters", '"Quoted"', "1bad"]))
    column_type = draw(st.sampled_from([*COLUMNS.values(), "counter", "frozen<int>", "nope"]))
    option = draw(
        st.sampled_from(
            [
                "",
                " WITH default_time_to_live = -1",
                " WITH gc_grace_seconds = 'x'",
                " WITH compaction = {'class': 'LeveledCompactionStrategy'}",
                " WITH nonsense = 1",
            ]
        )
    )
    return draw(
        st.sampled_from(
            [
                f"CREATE TABLE {name} (k int PRIMARY KEY, v {column_type}){option}",
                f"CREATE TABLE {name} (k {column_type}, c int, PRIMARY KEY (k, c)){option}",
                f"ALTER TABLE every ADD {name} {column_type}",
                f"ALTER TABLE every DROP {draw(names)}",
                f"ALTER TABLE every RENAME {draw(names)} TO {name}",
                f"CREATE KEYSPACE {name} WITH replication = {{'class': 'SimpleStrategy'}}",
                f"CREATE KEYSPACE {name} WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 'x'}",
                f"TRUNCATE {name}",
                f"CREATE INDEX IF NOT EXISTS ON every ({draw(names)})",
                f"CREATE INDEX ON every ({draw(st.sampled_from(['keys', 'values', 'full']))}"
                f"({draw(names)}))",
                f"DROP INDEX IF EXISTS every_{draw(names)}_idx",
                f"DROP TABLE IF EXISTS {name}",
                f"DESCRIBE TABLE {name}",
            ]
        )
    )


@st.composite
def garbled(draw):
    """A valid statement with a piece cut out or repeated: a client's typo."""
    text = draw(st.one_of(selects(), inserts(), updates(), deletes()))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, len(text)))
    return (
        text[:start] + draw(st.sampled_from(["", "(", ")", ",", "'", "?", "[", "{"])) + text[end:]
    )


statements = st.one_of(
    selects(),
    inserts(),
    updates(),
    deletes(),
    counter_updates(),
    json_statements(),
    batches(),
    schema_statements(),
    garbled(),
)


# --------------------------------------------------------------------------- bound values
def _value_strategy(driver_type):
    """Python values of a driver type, which its codec encodes."""
    name = driver_type.typename
    sub = [_value_strategy(s) for s in getattr(driver_type, "subtypes", ())]
    simple = {
        "ascii": st.text(alphabet=st.characters(max_codepoint=127), max_size=5),
        "varchar": st.text(max_size=5),
        "text": st.text(max_size=5),
        "bigint": st.integers(-(2**63), 2**63 - 1),
        "counter": st.integers(-(2**63), 2**63 - 1),
        "int": st.integers(-(2**31), 2**31 - 1),
        "smallint": st.integers(-(2**15), 2**15 - 1),
        "tinyint": st.integers(-128, 127),
        "varint": st.integers(-(2**80), 2**80),
        "boolean": st.booleans(),
        "blob": st.binary(max_size=8),
        "double": st.floats(),
        "float": st.floats(width=32),
        "decimal": st.decimals(allow_nan=False, allow_infinity=False, places=3),
        "uuid": st.uuids(),
        "timeuuid": st.one_of(st.uuids(version=1), st.uuids(version=4)),
        "inet": st.one_of(
            st.ip_addresses(v=4).map(str),
            st.ip_addresses(v=6).map(str),
            st.just(str(ipaddress.ip_address("::ffff:1.2.3.4"))),
        ),
        "timestamp": st.datetimes(
            min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 1, 1)
        ),
        "date": st.integers(-(2**31), 2**31 - 1).map(util.Date),
        "time": st.integers(0, 86399999999999).map(util.Time),
        "duration": st.tuples(
            st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-(10**12), 10**12)
        ).map(lambda t: util.Duration(*t)),
    }
    if name in simple:
        return simple[name]
    if name == "list":
        return st.lists(sub[0], max_size=3)
    if name == "set":
        return st.sets(sub[0], max_size=3)
    if name == "map":
        return st.dictionaries(sub[0], sub[1], max_size=3)
    if name == "tuple" or hasattr(driver_type, "fieldnames"):  # a tuple or a user type
        return st.tuples(*sub)
    return st.nothing()


@st.composite
def bound_value(draw, driver_type):
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return None
    if choice == 1:
        return api.UNSET
    if choice == 2:
        return draw(st.binary(max_size=20))
    value = draw(_value_strategy(driver_type))
    try:
        return driver_type.to_binary(value, PROTOCOL_VERSION)
    except (TypeError, ValueError, OverflowError, decimal.InvalidOperation):
        return draw(st.binary(max_size=20))  # a value the driver would refuse to send


# --------------------------------------------------------------------------- the property
@pytest.fixture(scope="module")
def engine():
    engine = Engine()
    options = api.QueryOptions()
    for statement in (
        "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': 1}",
        "CREATE TYPE ks.address (street text, zip int)",
        TABLE,
        COUNTERS,
        TEXT_KEYED,
        "INSERT INTO ks.every (k, c, a_int, a_list, a_map, a_set, a_static) "
        "VALUES (1, 1, 1, ['a'], {'a': 1}, {1}, 1)",
        "UPDATE ks.counters SET n = n + 9223372036854775807 WHERE k = 1",
    ):
        engine.query(statement, [], options, SESSION)
    return engine


def _run(engine, statement: str, draw) -> None:
    options = api.QueryOptions(page_size=draw(st.sampled_from([None, 1, 2, 5000])))
    try:
        prepared = engine.prepare(statement, SESSION)
        values = [draw(bound_value(spec.cql_type)) for spec in prepared.bind_columns]
        engine.execute(prepared, values, options, SESSION)
    except api.CqlError as error:
        assert not isinstance(error, api.ServerError), (statement, error)
        assert error.code != 0x0000, (statement, error)


@settings(
    max_examples=int(os.environ.get("LOCALCQL_PROPERTY_EXAMPLES", "600")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(statement=statements, data=st.data())
def test_only_protocol_errors_reach_the_client(engine, statement, data):
    _run(engine, statement, data.draw)
