"""The commit log's record format, without a server."""

import zlib

from localcql.commitlog import HEADER, frame, iter_records


def read(data: bytes) -> tuple[list[dict], int]:
    """The whole records read from `data`, and where the reading stopped."""
    read = list(iter_records(data))
    return [record for record, _ in read], (read[-1][1] if read else 0)


RECORDS = [{"schema": "create_keyspace", "n": 1}, {"table": "t", "rows": [1, 2]}, {"x": "é"}]


def test_records_round_trip():
    data = b"".join(frame(r) for r in RECORDS)
    assert read(data) == (RECORDS, len(data))


def test_a_torn_last_record_ends_the_read_after_the_whole_ones():
    whole = b"".join(frame(r) for r in RECORDS[:2])
    for cut in range(1, len(frame(RECORDS[2]))):
        data = whole + frame(RECORDS[2])[:-cut]
        assert read(data) == (RECORDS[:2], len(whole))


def test_a_record_whose_crc_does_not_match_ends_the_read():
    whole = frame(RECORDS[0])
    damaged = bytearray(frame(RECORDS[1]))
    damaged[-1] ^= 0xFF
    assert read(whole + bytes(damaged) + frame(RECORDS[2])) == (RECORDS[:1], len(whole))


def test_a_header_claiming_more_than_there_is_is_torn():
    payload = b'{"x":1}'
    data = HEADER.pack(1000, zlib.crc32(payload)) + payload
    assert read(data) == ([], 0)
