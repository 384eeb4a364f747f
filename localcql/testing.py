"""Test helpers: a localcql server in a subprocess, for every test suite of the project.

The server always runs in its own process: test processes are eventlet-monkey-patched (nameko),
and an asyncio server must not share that process. Usage::

    with running_localcql(in_memory=True) as (host, port):
        cluster = Cluster([host], port=port)

Set ``LOCALCQL_CONTACT=host:port`` to use a server that is already running instead.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from localcql.__main__ import READY_PREFIX

CONTACT_VARIABLE = "LOCALCQL_CONTACT"

# KillrVideo's videos table and a typical row of it: what bench_localcql and the store's memory
# guard (tests/localcql/engine/test_memory.py) measure localcql holding.
SAMPLE_KEYSPACE = (
    "CREATE KEYSPACE kv WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
)
SAMPLE_VIDEOS_TABLE = (
    "CREATE TABLE kv.videos (videoid uuid PRIMARY KEY, userid uuid, name text, "
    "description text, location text, location_type int, preview_image_location text, "
    "tags set<text>, added_date timestamp)"
)
INSERT_SAMPLE_VIDEO = (
    "INSERT INTO kv.videos (videoid, userid, name, description, location, location_type, "
    "preview_image_location, tags, added_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def sample_video(number: int, added: datetime) -> tuple:
    """The values of INSERT_SAMPLE_VIDEO for a new video."""
    return (
        uuid.uuid4(),
        uuid.uuid4(),
        f"Video number {number}",
        "A description of a few words, as most videos have.",
        "dQw4w9WgXcQ",
        0,
        "//img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        {"music", "pop"},
        added,
    )


class LocalCqlFailed(RuntimeError):
    """The server did not start, or did not stop cleanly; the message carries its stderr."""


@contextlib.contextmanager
def running_localcql(
    in_memory: bool = True,
    data_dir: str | Path | None = None,
    port: int = 0,
    startup_timeout: float = 30.0,
) -> Iterator[tuple[str, int]]:
    """Starts ``python -m localcql`` and yields its (host, port); port 0 picks a free one."""
    contact = os.environ.get(CONTACT_VARIABLE)
    if contact:
        host, _, port = contact.rpartition(":")
        yield host, int(port)
        return
    if not in_memory and data_dir is None:
        raise ValueError("a server that is not in memory needs a data_dir")
    command = [sys.executable, "-m", "localcql", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--in-memory"] if in_memory else ["--data-dir", str(data_dir)]
    with running_server(command, startup_timeout) as address:
        yield address


@contextlib.contextmanager
def running_server(
    command: Sequence[str], startup_timeout: float = 30.0, stop_timeout: float = 10.0
) -> Iterator[tuple[str, int]]:
    """Runs a server command that prints localcql's ready line, yields the address it names, and
    stops it with SIGTERM (then SIGKILL after ``stop_timeout``) when the block ends."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
        try:
            address = _wait_until_ready(process, startup_timeout, stderr)
            yield address
        finally:
            _stop(process, stop_timeout, stderr)


def _wait_until_ready(process, timeout: float, stderr) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    output = b""
    while True:
        for line in output.splitlines(keepends=True):
            if line.startswith(READY_PREFIX.encode()) and line.endswith(b"\n"):
                address = line[len(READY_PREFIX) :].split()[0].decode()
                host, _, port = address.rpartition(":")
                return host, int(port)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LocalCqlFailed(
                f"no ready line within {timeout}s from {_describe(process, stderr)}"
            )
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                process.wait()
                raise LocalCqlFailed(
                    f"the server exited before it was ready: {_describe(process, stderr)}"
                )
            output += chunk


def _stop(process, timeout: float, stderr) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise LocalCqlFailed(
                f"no exit within {timeout}s of SIGTERM: {_describe(process, stderr)}"
            ) from None
    process.stdout.close()
    if process.returncode != 0:
        raise LocalCqlFailed(f"the server exited with an error: {_describe(process, stderr)}")


def _describe(process, stderr) -> str:
    stderr.seek(0)
    log = stderr.read().decode(errors="replace")
    return f"{' '.join(process.args)} (exit code {process.returncode}); stderr:\n{log[-8000:]}"
