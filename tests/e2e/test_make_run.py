"""`make run` as a newcomer runs it, in a subprocess: ready within a deadline, sample data served
through the gateway, Ctrl-C stops every process it started, and a second run keeps the data.
"""

import json
import signal
import uuid
from urllib.parse import urlsplit

import pytest

from localcql.testing import READY_PREFIX
from scripts.run import READY_LINE
from services import DOMAIN_SERVICES
from tests.e2e.make_run import READY_SECONDS, MakeRun, alive, latest_videos, site_environment


@pytest.fixture
def site_env(tmp_path):
    with site_environment(tmp_path / "var") as env:
        yield env


def test_make_run_serves_sample_data_stops_cleanly_and_keeps_the_data(site_env):
    first = MakeRun(site_env)
    try:
        first.wait_for(READY_LINE, READY_SECONDS)
        videos = latest_videos(site_env)
        assert len(videos) == 12
        started = first.children()
        assert len(started) >= 10  # make, the launcher, localcql, 7 services, the gateway
    finally:
        exit_code = first.interrupt()
    # make itself dies of the SIGINT once its recipe has ended, as at a terminal.
    assert exit_code in (0, -signal.SIGINT), "".join(first.output)[-4000:]
    assert not [pid for pid in started if alive(pid)], "every process it started is gone"
    assert "Stopped." in "".join(first.output)

    second = MakeRun(site_env)
    try:
        second.wait_for(READY_LINE, READY_SECONDS)
        assert latest_videos(site_env) == videos, "the same data, not loaded twice"
        assert "Sample data: already loaded" in "".join(second.output)
    finally:
        second.interrupt()


def test_with_log_format_json_every_line_of_every_process_is_a_json_log_record(site_env):
    site = MakeRun({**site_env, "LOG_FORMAT": "json"})
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
    finally:
        site.interrupt()
    # make's own lines (its recipe's commands, ensure_rabbitmq's, a "make: ***" on SIGINT), then
    # the launcher's stream.
    launcher_start = next(i for i, line in enumerate(site.output) if "-m scripts.run" in line)
    lines = [line for line in site.output[launcher_start + 1 :] if not line.startswith("make: ")]
    records = [as_json(line) for line in lines]
    assert None not in records, [line for line, r in zip(lines, records, strict=True) if r is None]
    assert all({"time", "level", "service", "message"} <= record.keys() for record in records)
    services = {record["service"] for record in records}
    assert {"run", "localcql", "gateway", *DOMAIN_SERVICES} <= services


def as_json(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def test_no_password_is_printed(site_env):
    secret = f"s3cret-{uuid.uuid4().hex}"
    amqp = urlsplit(site_env["AMQP_URI"])
    env = {**site_env, "CASSANDRA_USERNAME": "killrvideo", "CASSANDRA_PASSWORD": secret}
    site = MakeRun(env)
    try:
        site.wait_for(READY_LINE, READY_SECONDS)
        assert len(latest_videos(env)) == 12, "localcql requires the credentials, and gets them"
    finally:
        site.interrupt()
    output = "".join(site.output)
    assert secret not in output
    assert f":{amqp.password}@" not in output


def test_ctrl_c_while_starting_stops_at_once(site_env):
    site = MakeRun(site_env)
    try:
        site.wait_for(READY_PREFIX, READY_SECONDS)  # localcql is up, the services are starting
        started = site.children()
    finally:
        exit_code = site.interrupt()
    output = "".join(site.output)
    assert exit_code in (0, -signal.SIGINT), output[-4000:]
    assert READY_LINE not in output, "the start was interrupted, not finished first"
    assert "Stopped." in output
    assert not [pid for pid in started if alive(pid)], "every process it started is gone"
