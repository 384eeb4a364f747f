"""The services' driver sessions (services.common.cassandra) against localcql."""

import uuid

from services.common.cassandra import applied

SHAPE = "SELECT keyspace_name, table_name FROM system_schema.tables LIMIT 2"


def test_results_of_one_shape_share_one_row_class(localcql_admin):
    first = localcql_admin.execute(SHAPE).one()
    second = localcql_admin.execute(SHAPE).one()
    assert type(first) is type(second)
    assert first.keyspace_name == first[0]


def test_a_column_name_that_is_no_identifier_becomes_positional(localcql_admin):
    row = localcql_admin.execute(
        "SELECT keyspace_name AS \"keyspace name\" FROM system_schema.keyspaces LIMIT 1"
    ).one()
    assert row._0 == row[0]


def test_applied_tells_whether_a_lightweight_transaction_took_effect(cql):
    insert = cql.prepare(
        "INSERT INTO user_credentials (email, password, userid) VALUES (?, ?, ?) IF NOT EXISTS"
    )
    assert applied(cql.execute(insert, ("a@example.com", "hash", uuid.uuid4())))
    refused = cql.execute(insert, ("a@example.com", "other", uuid.uuid4()))
    assert not applied(refused)
    assert refused.one().password == "hash"
