"""RESULT bodies, encoded without a server (the frame tests decode them with the driver)."""

import uuid

from cassandra import cqltypes

from localcql import protocol
from localcql.api import ColumnSpec, RowsResult


def test_the_columns_of_a_result_are_encoded_once_for_every_result_with_them(monkeypatch):
    columns = (
        ColumnSpec("ks", f"t{uuid.uuid4().hex}", "id", cqltypes.UUIDType),
        ColumnSpec("ks", "t", "name", cqltypes.UTF8Type),
    )
    encoded = []
    encode = protocol._write_column_specs
    monkeypatch.setattr(
        protocol, "_write_column_specs", lambda *args: encoded.append(args) or encode(*args)
    )
    row = [uuid.uuid4(), "a video"]
    first = protocol.encode_result(RowsResult(columns, [row]), 4)
    again = protocol.encode_result(RowsResult(columns, [row]), 4)
    assert again == first
    assert len(encoded) == 1
    # Kept per protocol version: some types are written differently before v4.
    protocol.encode_result(RowsResult(columns, [row]), 3)
    assert len(encoded) == 2
