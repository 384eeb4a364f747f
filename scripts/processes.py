"""The processes of a running site: started, watched and stopped the same way by `make run`
(scripts/run.py) and by the end-to-end tests (tests/e2e/stack.py).

Each child's stdout and stderr are read line by line by a thread of its own and handed to a
sink (a log file, or the launcher's one merged stream); its last lines are kept to explain a
failure. Children run in sessions of their own, so a Ctrl-C at the terminal reaches only the
launcher, which stops them in order: each gets SIGTERM, then SIGKILL after a deadline.

A child started with `die_with_parent` gets SIGTERM from the kernel when the thread that started
it ends (Linux's PR_SET_PDEATHSIG), so a launcher killed by any means (kill -9, a closed
terminal) leaves no process behind: start such children from a thread that lives as long as the
launcher (its main thread).
"""

import collections
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STOP_DEADLINE_SECONDS = 15.0
KEPT_LINES = 200
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

Sink = Callable[[str, str], None]  # (child name, line without its newline)


# eventlet warns at its import that it is deprecated: nine lines from every nameko process on
# every start. nameko 3 runs on eventlet, a fixed decision, so that warning is ignored, and only
# it: -W can name neither its category (eventlet is not imported when -W is read) nor its
# message (it starts with a newline, which -W strips), so the filter names the one module whose
# import of eventlet comes first under `nameko run`, and no other warning is raised there.
QUIET_EVENTLET_IMPORT = "ignore::Warning:nameko.extensions"


def nameko_run(module: str) -> list[str]:
    nameko = str(Path(sys.executable).with_name("nameko"))
    command = [nameko, "run", module, "--config", "config.yaml"]
    return [sys.executable, "-W", QUIET_EVENTLET_IMPORT, *command]


class ChildFailed(RuntimeError):
    """A child did not start, or died; the message carries its last lines."""


def start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot, from /proc), or None if there is no such
    process: with its pid, it names one process for good, as a pid alone is reused."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])  # field 22 of proc(5); Z: a zombie


def _exit_with_parent(parent: int):
    """For Popen's preexec_fn: runs in the child between fork and exec."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl: the signal will not come
            os._exit(1)

    return preexec


@dataclass(frozen=True)
class Recorded:
    """A process known by its pid and start time, as a launcher records its children (so a
    `make stop` can stop them after the launcher itself is gone)."""

    name: str
    pid: int
    start_time: int

    def send(self, signum: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):  # it ended after the check
                os.kill(self.pid, signum)

    def running(self) -> bool:
        return start_time(self.pid) == self.start_time


class Child:
    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict,
        sink: Sink,
        die_with_parent=False,
        stderr_sink: Sink | None = None,
    ):
        """`sink` gets the child's stdout and stderr lines, or only its stdout lines when its
        stderr lines have a `stderr_sink` of their own."""
        self.name = name
        self.command = command
        self.env = env
        self.sink = sink
        self.stderr_sink = stderr_sink
        self.die_with_parent = die_with_parent and sys.platform == "linux"
        self.popen: subprocess.Popen | None = None
        self.started_at = 0.0  # time.monotonic() at the last start
        self.last_lines = collections.deque(maxlen=KEPT_LINES)
        self._seen = threading.Condition()

    def start(self) -> "Child":
        """Starts the command; again after it has exited, to restart it."""
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if self.stderr_sink is None else subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_exit_with_parent(os.getpid()) if self.die_with_parent else None,
        )
        readers = [(self.popen.stdout, self.sink)]
        if self.stderr_sink is not None:
            readers.append((self.popen.stderr, self.stderr_sink))
        for stream, sink in readers:
            threading.Thread(
                target=self._read, args=(stream, sink), name=f"{self.name} output", daemon=True
            ).start()
        return self

    def _read(self, stream, sink: Sink) -> None:
        for line in stream:
            line = line.rstrip("\n")
            with self._seen:
                self.last_lines.append(line)
                self._seen.notify_all()
            sink(self.name, line)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exit_code(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def send(self, signum: int) -> None:
        if self.running():
            self.popen.send_signal(signum)

    def recorded(self) -> Recorded | None:
        """This child as a Recorded process, or None if it is not running."""
        started = start_time(self.pid) if self.running() else None
        return None if started is None else Recorded(self.name, self.pid, started)

    def wait_for_line(self, prefix: str, seconds: float) -> str:
        """The first line starting with `prefix` (e.g. a ready line); ChildFailed if the child
        exits first or `seconds` pass."""
        deadline = time.monotonic() + seconds
        with self._seen:
            while True:
                found = next((line for line in self.last_lines if line.startswith(prefix)), None)
                if found is not None:
                    return found
                if self.exit_code is not None:
                    raise ChildFailed(self.describe("exited before it was ready"))
                if time.monotonic() > deadline:
                    raise ChildFailed(self.describe(f"not ready after {seconds:g}s"))
                self._seen.wait(0.1)

    def stop(self, deadline: float = STOP_DEADLINE_SECONDS) -> None:
        stop_together([self], deadline)

    def describe(self, what: str = "") -> str:
        status = what or f"exit code {self.exit_code}"
        tail = "\n".join(self.last_lines)
        return f"{self.name} ({' '.join(self.command)}): {status}; its last lines:\n{tail}"


def stop_together(processes: list, deadline: float = STOP_DEADLINE_SECONDS) -> None:
    """SIGTERM to each running process at once (a Child or a Recorded), then SIGKILL to those
    still running after `deadline`: peers stop in the time of the slowest, not in the sum."""
    running = [process for process in processes if process.running()]
    for process in running:
        process.send(signal.SIGTERM)
    until = time.monotonic() + deadline
    while running and time.monotonic() < until:
        time.sleep(0.05)  # the polling interval
        running = [process for process in running if process.running()]
    for process in running:
        process.send(signal.SIGKILL)
    while running:
        time.sleep(0.05)
        running = [process for process in running if process.running()]


def rss_mb(pid: int) -> float:
    """A process's resident memory, from /proc (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = next(
        int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
    )
    return kilobytes / 1024


def scheduler_seconds(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) that a process's threads have
    spent so far, from the scheduler's statistics in /proc (Linux): of the threads it has now, so
    long-lived ones (a thread that ends takes its figures with it). The wait is what each
    hand-over of a call to a process costs on a busy or virtual machine, beyond its CPU."""
    running = waiting = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu, on_runqueue, _ = (task / "schedstat").read_text().split()
        except FileNotFoundError:
            continue  # a thread that ended as this read it
        running += int(on_cpu)
        waiting += int(on_runqueue)
    return running / 1e9, waiting / 1e9


def file_sink(directory: Path) -> Sink:
    """Each child's lines to `<directory>/<name>.log`."""
    lock = threading.Lock()

    def write(name: str, line: str) -> None:
        with lock, open(directory / f"{name}.log", "a") as log:
            log.write(line + "\n")

    return write
