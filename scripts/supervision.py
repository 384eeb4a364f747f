"""Keeping a site's processes running, and knowing them after the launcher is gone.

`Supervisor.check()`, called from the launcher's main loop, restarts a child that died after a
delay that starts at 1 s and doubles up to 30 s while the child keeps dying soon after its start;
once a child has run for a minute, its next death waits 1 s again. A crash loop costs a restart
every 30 s, not a busy CPU; a one-off crash costs a second. A child that exits with status 78
(EX_CONFIG: RabbitMQ refused its vhost or credentials, services.common.container) is not
restarted: waiting does not mend a configuration, and its last line says what to fix.

`SiteRecord` is `<var>/run.json`: the launcher's and each child's pid with its start time, so
that `make stop` can stop the site even when its launcher died, and never signals a process that
merely got a recycled pid.
"""

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from scripts.processes import Child, Recorded, start_time
from services.common.brokers import EXIT_CONFIGURATION_ERROR

FIRST_DELAY_SECONDS = 1.0
LONGEST_DELAY_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0


class Backoff:
    """The delays before a child's restarts."""

    def __init__(self):
        self.next_delay = FIRST_DELAY_SECONDS

    def after_exit(self, ran_for: float) -> float:
        """The delay before restarting a child that has just exited after `ran_for` seconds."""
        if ran_for >= HEALTHY_AFTER_SECONDS:
            self.next_delay = FIRST_DELAY_SECONDS
        delay = self.next_delay
        self.next_delay = min(delay * 2, LONGEST_DELAY_SECONDS)
        return delay


def exit_status(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class Supervisor:
    """Restarts the children that die. `say(text, level)` logs; `started()` is called after
    each restart (to record the new pid)."""

    def __init__(self, children: list[Child], say: Callable, started: Callable[[], None]):
        self.children = children
        self.say = say
        self.started = started
        self.backoffs = {child.name: Backoff() for child in children}
        self.restart_at: dict[str, float] = {}  # the children waiting for their restart
        self.given_up: set[str] = set()  # refused their configuration: not restarted

    def check(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.name in self.restart_at:
                if now >= self.restart_at[child.name]:
                    del self.restart_at[child.name]
                    child.start()
                    self.say(f"{child.name} restarted (pid {child.pid})", "WARNING")
                    self.started()
            elif child.exit_code == EXIT_CONFIGURATION_ERROR:
                if child.name not in self.given_up:
                    self.given_up.add(child.name)
                    self.say(
                        f"{child.name} (pid {child.pid}) exited: its configuration was refused "
                        f"(exit code {EXIT_CONFIGURATION_ERROR}); not restarting it: fix the "
                        "cause its last line names, then `make stop` and `make run`",
                        "ERROR",
                    )
            elif child.exit_code is not None:
                delay = self.backoffs[child.name].after_exit(now - child.started_at)
                self.restart_at[child.name] = now + delay
                self.say(
                    f"{child.name} (pid {child.pid}) exited: {exit_status(child.exit_code)}; "
                    f"restarting it in {delay:g}s",
                    "ERROR",
                )


class SiteRecord:
    """`<var>/run.json`: which processes make up the site running from a var dir."""

    def __init__(self, var_dir: Path):
        self.path = var_dir / "run.json"

    def write(self, children: list[Child]) -> None:
        launcher = Recorded("launcher", os.getpid(), start_time(os.getpid()))
        running = [recorded for child in children if (recorded := child.recorded())]
        record = {"launcher": asdict(launcher), "children": [asdict(r) for r in running]}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        partial.replace(self.path)  # atomic: a reader sees the old record or the new one

    def read(self) -> tuple[Recorded | None, list[Recorded]]:
        """(the launcher, its children in start order), those still running only."""
        try:
            record = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None, []
        launcher = Recorded(**record["launcher"])
        children = [Recorded(**child) for child in record["children"]]
        return (
            launcher if launcher.running() else None,
            [child for child in children if child.running()],
        )

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
