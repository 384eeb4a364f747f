"""The processes of a running site: started, watched and stopped the same way by `make run`
(scripts/run.py) and by the end-to-end tests (tests/e2e/stack.py).

Each child's stdout and stderr are read line by line by a thread of its own and handed to a
sink (a log file, or the launcher's one merged stream); its last lines are kept to explain a
failure. Children run in sessions of their own, so a Ctrl-C at the terminal reaches only the
launcher, which stops them in order: each gets SIGTERM, then SIGKILL after a deadline.
"""

import collections
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STOP_DEADLINE_SECONDS = 15.0
KEPT_LINES = 200

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


class Child:
    def __init__(self, name: str, command: list[str], env: dict, sink: Sink):
        self.name = name
        self.command = command
        self.env = env
        self.sink = sink
        self.popen: subprocess.Popen | None = None
        self.last_lines = collections.deque(maxlen=KEPT_LINES)
        self._seen = threading.Condition()

    def start(self) -> "Child":
        self.popen = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        threading.Thread(target=self._read, name=f"{self.name} output", daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.popen.stdout:
            line = line.rstrip("\n")
            with self._seen:
                self.last_lines.append(line)
                self._seen.notify_all()
            self.sink(self.name, line)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def exit_code(self) -> int | None:
        return self.popen.poll()

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
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(deadline)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def describe(self, what: str = "") -> str:
        status = what or f"exit code {self.exit_code}"
        tail = "\n".join(self.last_lines)
        return f"{self.name} ({' '.join(self.command)}): {status}; its last lines:\n{tail}"


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
