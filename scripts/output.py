"""`make run`'s one stream: every line of every process it runs, and its own messages.

Plain: each line led by the process's name (`videos      | ...`). JSON (LOG_FORMAT=json): each
line one JSON object with at least `time`, `level`, `service` (the process) and `message`, for
a log collector. The services already write JSON objects (services.common.logs.JsonFormatter):
they get their `service`. Any other line is wrapped: a line in the plain logging format (what
localcql logs) keeps its time, level and logger; anything else (localcql's ready line, a stray
traceback or warning on stderr) gets the time it was read, INFO from stdout and WARNING from
stderr.
"""

import contextlib
import io
import json
import re
import threading
from datetime import UTC, datetime

from services import DOMAIN_SERVICES

# config.yaml's and localcql's plain format: "%(asctime)s %(levelname)s %(name)s: %(message)s"
PLAIN_LOG_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
    r"(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<logger>[^ :]+): (?P<message>.*)"
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def as_record(text: str, level: str) -> dict:
    """A line as a log record: a JSON object as it is, else what the line says of itself."""
    try:
        record = json.loads(text)
        if isinstance(record, dict):
            return record
    except ValueError:
        pass  # not a JSON log line
    logged = PLAIN_LOG_LINE.fullmatch(text)
    if logged is None:
        return {"time": now(), "level": level, "message": text}
    # asctime is this machine's local time; the services' JSON lines say UTC.
    local = datetime.strptime(logged["time"], "%Y-%m-%d %H:%M:%S,%f").astimezone()
    return {
        "time": local.astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": logged["level"],
        "logger": logged["logger"],
        "message": logged["message"],
    }


class Output:
    """The one stream all children write to, a line at a time."""

    def __init__(self, log_format: str):
        self.log_format = log_format
        self.lock = threading.Lock()
        self.width = max(len(name) for name in (*DOMAIN_SERVICES, "localcql", "gateway"))

    def line(self, name: str, text: str, level: str = "INFO") -> None:
        """A line of a process's stdout (or of the launcher, as `run`)."""
        if self.log_format == "json":
            text = json.dumps({"service": name, **as_record(text, level)})
        else:
            text = f"{name:<{self.width}} | {text}"
        self.write(text)

    def error_line(self, name: str, text: str) -> None:
        """A line of a process's stderr."""
        self.line(name, text, "WARNING")

    def say(self, text: str, level: str = "INFO") -> None:
        """The launcher's own messages."""
        if self.log_format == "json":
            record = {"service": "run", "time": now(), "level": level, "message": text}
            self.write(json.dumps(record))
        else:
            self.write(text)

    def write(self, text: str) -> None:
        # OSError: the terminal is gone (SIGHUP), and the site must still stop cleanly.
        with self.lock, contextlib.suppress(OSError):
            print(text, flush=True)


class LineWriter(io.TextIOBase):
    """A text stream that hands each line written to it to `emit` (to stand for sys.stderr)."""

    def __init__(self, emit):
        self.emit = emit
        self.partial = ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            self.emit(line)
        return len(text)
