"""The launcher's restart delays, and `make stop` of a site whose launcher is gone (real
processes, recorded in a var dir as the launcher records its children)."""

import json
import subprocess
import sys

from scripts.processes import Child, Recorded, start_time
from scripts.run import stop
from scripts.supervision import Backoff, SiteRecord, Supervisor, exit_status
from services.common.brokers import EXIT_CONFIGURATION_ERROR


def test_restart_delays_double_up_to_30s_and_start_again_after_a_healthy_run():
    backoff = Backoff()
    assert [backoff.after_exit(ran_for=2) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.after_exit(ran_for=61) == 1, "a minute of running: a one-off crash"
    assert backoff.after_exit(ran_for=2) == 2


def test_an_exit_status_names_the_signal():
    assert exit_status(-9) == "killed by SIGKILL"
    assert exit_status(3) == "exit code 3"


def exited(name: str, code: int) -> Child:
    """A child whose process has ended with `code`."""
    child = Child(name, [sys.executable, "-c", f"raise SystemExit({code})"], {}, lambda *_: None)
    child.start().popen.wait()
    return child


def test_a_child_that_crashed_is_restarted_and_one_refused_its_configuration_is_not():
    crashed, refused = exited("videos", 1), exited("users", EXIT_CONFIGURATION_ERROR)
    said = []
    supervisor = Supervisor([crashed, refused], lambda text, level: said.append(text), lambda: None)

    supervisor.check()
    supervisor.check()

    assert set(supervisor.restart_at) == {"videos"}
    assert supervisor.given_up == {"users"}
    assert [line.split(" (pid")[0] for line in said] == ["videos", "users"], "each said once"
    assert "not restarting it" in said[1]


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def record(var_dir, children: list[Recorded]) -> None:
    """A record as a launcher that has died (here: a process that has exited) leaves it."""
    dead = subprocess.Popen([sys.executable, "-c", ""])
    launcher = Recorded("launcher", dead.pid, start_time(dead.pid))
    dead.wait()
    (var_dir / "run.json").write_text(
        json.dumps(
            {"launcher": launcher.__dict__, "children": [child.__dict__ for child in children]}
        )
    )


def test_make_stop_stops_the_children_of_a_dead_launcher(tmp_path, capsys):
    gateway, videos = sleeper(), sleeper()
    try:
        record(
            tmp_path,
            [
                Recorded("videos", videos.pid, start_time(videos.pid)),
                Recorded("gateway", gateway.pid, start_time(gateway.pid)),
            ],
        )
        assert stop(tmp_path) == 0
        assert gateway.wait(10) == videos.wait(10) == -15, "each got SIGTERM"
        assert "the launcher is gone; stopping what it started" in capsys.readouterr().out
        assert SiteRecord(tmp_path).read() == (None, [])
    finally:
        gateway.kill(), videos.kill()


def test_make_stop_never_signals_a_process_that_reused_a_recorded_pid(tmp_path, capsys):
    bystander = sleeper()
    try:
        # The recorded process started at another time: this pid now names another process.
        record(tmp_path, [Recorded("videos", bystander.pid, start_time(bystander.pid) - 1)])
        assert stop(tmp_path) == 0
        assert "nothing is running" in capsys.readouterr().out
        assert bystander.poll() is None
    finally:
        bystander.kill()
