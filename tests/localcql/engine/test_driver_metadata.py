"""cassandra-driver's own schema parser (SchemaParserV4) builds correct metadata from the engine.

The parser is given a stand-in connection that answers its system_schema queries with the engine,
values passed through the driver's codecs as they would be on the wire.
"""

from __future__ import annotations

from types import SimpleNamespace

import cassandra
from cassandra.metadata import SchemaParserV4

from localcql import api
from localcql.engine import Engine


class EngineConnection:
    """Answers ``wait_for_responses`` as a driver Connection does, from the engine."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def wait_for_responses(self, *messages, timeout=None, fail_on_error=True):
        responses = []
        for message in messages:
            try:
                result = self.engine.query(
                    message.query, [], api.QueryOptions(), api.SessionState()
                )
            except api.InvalidRequest as exc:
                responses.append((False, cassandra.InvalidRequest(exc.message)))
                continue
            rows = [
                [
                    None if v is None else c.cql_type.from_binary(c.cql_type.to_binary(v, 4), 4)
                    for c, v in zip(result.columns, row, strict=True)
                ]
                for row in result.rows
            ]
            names = [c.name for c in result.columns]
            responses.append((True, SimpleNamespace(column_names=names, parsed_rows=rows)))
        return responses


def keyspaces(engine: Engine) -> dict:
    parser = SchemaParserV4(EngineConnection(engine), timeout=5)
    return {k.name: k for k in parser.get_all_keyspaces()}


def test_driver_builds_table_metadata():
    engine = Engine()
    session = api.SessionState()
    for query in [
        "CREATE KEYSPACE kv WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE kv.user_videos (userid uuid, added_date timestamp, videoid uuid, name text, "
        "tags frozen<set<text>>, s int STATIC, PRIMARY KEY (userid, added_date, videoid)) "
        "WITH CLUSTERING ORDER BY (added_date DESC, videoid ASC) AND comment = 'hi'",
        "CREATE TABLE kv.ratings (videoid uuid PRIMARY KEY, total counter)",
    ]:
        engine.query(query, [], api.QueryOptions(), session)
    found = keyspaces(engine)
    assert {"system", "system_schema", "system_auth", "system_distributed", "system_traces"} <= set(
        found
    )
    kv = found["kv"]
    assert kv.replication_strategy.replication_factor == 1
    table = kv.tables["user_videos"]
    assert [c.name for c in table.partition_key] == ["userid"]
    assert [c.name for c in table.clustering_key] == ["added_date", "videoid"]
    assert table.columns["tags"].cql_type == "frozen<set<text>>"
    assert table.columns["s"].is_static
    assert table.options["comment"] == "hi"
    text = table.export_as_string()
    assert "PRIMARY KEY (userid, added_date, videoid)" in text
    assert "CLUSTERING ORDER BY (added_date DESC, videoid ASC)" in text
    assert kv.tables["ratings"].columns["total"].cql_type == "counter"
    assert found["system"].tables["local"].columns["tokens"].cql_type == "set<text>"
