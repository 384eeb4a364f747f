"""What the store costs per row: a regression guard for the 200 MB with 100,000 videos rows
target (bench_localcql measures the real server)."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime

from cassandra import cqltypes

from localcql import api
from localcql.engine import Engine
from localcql.testing import (
    INSERT_SAMPLE_VIDEO,
    SAMPLE_KEYSPACE,
    SAMPLE_VIDEOS_TABLE,
    sample_video,
)

ROWS = 2000
# Measured 1,030 bytes per row when written (4,280 with a SortedDict and unpacked Cells per row);
# the server's idle size leaves about 1,400 for the target.
BOUND = 1400
TYPES = [  # of the INSERT's bound values, to serialize them as a client would
    cqltypes.UUIDType,
    cqltypes.UUIDType,
    cqltypes.UTF8Type,
    cqltypes.UTF8Type,
    cqltypes.UTF8Type,
    cqltypes.Int32Type,
    cqltypes.UTF8Type,
    cqltypes.SetType.apply_parameters([cqltypes.UTF8Type]),
    cqltypes.DateType,
]


def test_a_videos_row_takes_at_most_1400_bytes_of_python_memory():
    engine, session, options = Engine(), api.SessionState(), api.QueryOptions()
    engine.query(SAMPLE_KEYSPACE, [], options, session)
    engine.query(SAMPLE_VIDEOS_TABLE, [], options, session)
    insert = engine.prepare(INSERT_SAMPLE_VIDEO, session)
    now = datetime.now(UTC)
    rows = [
        [t.serialize(v, 4) for t, v in zip(TYPES, sample_video(n, now), strict=True)]
        for n in range(ROWS)
    ]
    engine.execute(insert, rows[0], options, session)  # caches and lazy imports first
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for values in rows[1:]:
            engine.execute(insert, values, options, session)
        del rows
        gc.collect()
        per_row = (tracemalloc.get_traced_memory()[0] - before) / (ROWS - 1)
    finally:
        tracemalloc.stop()
    assert per_row <= BOUND, f"{per_row:.0f} bytes per row"
