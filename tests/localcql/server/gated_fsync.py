"""``python -m localcql`` with the real engine, whose commit log's fsync waits at a gate: while a
FIFO named by the first argument exists, each fsync first reads a byte from it, so a test holds
a durable write's acknowledgement for as long as it likes and releases it by writing that byte."""

import os
import sys
from pathlib import Path

real_fsync = os.fsync


def gated_fsync(fd):
    if GATE.exists():
        with GATE.open("rb") as gate:  # blocks until the test opens it for writing
            gate.read(1)
    real_fsync(fd)


if __name__ == "__main__":
    from localcql.__main__ import main

    GATE = Path(sys.argv.pop(1))
    os.fsync = gated_fsync  # the commit log calls os.fsync from an executor thread
    sys.exit(main())
