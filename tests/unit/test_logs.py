"""Log lines for machines: the services' JSON formatter and `make run`'s merged stream."""

import datetime
import io
import json
import logging
import logging.config
import sys

from opentelemetry.sdk.trace import TracerProvider

from scripts.output import LineWriter, Output
from services.common import config
from services.common.logs import JsonFormatter, PasswordsMasked


def test_a_log_record_is_one_json_object():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("videos", logging.ERROR, __file__, 1, "failed %s", ("x",), None)
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR" and line["logger"] == "videos"
    assert line["message"] == "failed x"
    assert "ValueError: boom" in line["exception"]
    assert line["time"].endswith("+00:00")


def test_the_merged_stream_names_the_service_on_every_line(capsys):
    Output("plain").line("videos", "started")
    json_output = Output("json")
    service_line = {"time": "2026-12-07T10:00:00.000+00:00", "level": "INFO", "message": "up"}
    json_output.line("videos", json.dumps(service_line))
    plain, first = capsys.readouterr().out.splitlines()
    assert plain.startswith("videos") and plain.endswith("| started")
    assert json.loads(first) == {"service": "videos", **service_line}


def test_every_other_line_becomes_a_json_object_with_time_level_service_and_message(capsys):
    output = Output("json")
    output.line("localcql", "2026-12-07 10:00:00,250 WARNING localcql.server: slow client")
    output.line("localcql", "localcql ready on 127.0.0.1:9042")
    output.error_line("videos", "Traceback (most recent call last):")
    output.say("Stopping...")
    logged, ready, traceback, said = map(json.loads, capsys.readouterr().out.splitlines())
    local = datetime.datetime(2026, 12, 7, 10, 0, 0, 250000).astimezone()
    assert logged == {
        "service": "localcql",
        "time": local.astimezone(datetime.UTC).isoformat(timespec="milliseconds"),
        "level": "WARNING",
        "logger": "localcql.server",
        "message": "slow client",
    }
    assert ready["service"] == "localcql" and ready["level"] == "INFO"
    assert ready["message"] == "localcql ready on 127.0.0.1:9042"
    assert traceback["service"] == "videos" and traceback["level"] == "WARNING"
    assert said["service"] == "run" and said["message"] == "Stopping..."
    for line in (ready, traceback, said):
        assert datetime.datetime.fromisoformat(line["time"]).tzinfo == datetime.UTC


def test_the_launchers_own_stderr_is_handed_on_a_line_at_a_time():
    lines = []
    stream = LineWriter(lines.append)
    print("Traceback (most recent call last):\n  File", end="", file=stream)
    print(' "run.py", line 1', file=stream)
    assert lines == ["Traceback (most recent call last):", '  File "run.py", line 1']


def test_an_expected_error_is_logged_without_its_traceback_and_others_with_theirs():
    # config.yaml's console handler, writing to a buffer.
    stream = io.StringIO()
    settings = config.load()["LOGGING"]
    settings["handlers"]["console"]["stream"] = stream
    settings["root"]["level"] = "INFO"
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logging.config.dictConfig(settings)
    try:
        for message in ("(expected) error handling worker %s: %s", "error handling worker %s: %s"):
            try:
                raise ValueError("boom")
            except ValueError:
                logging.getLogger("nameko.containers").warning(
                    message, "<worker>", "boom", exc_info=True
                )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    after_expected = stream.getvalue().split("(expected) error handling worker <worker>: boom")[1]
    between, after_unexpected = after_expected.split("error handling worker <worker>: boom")
    assert "Traceback" not in between
    assert "Traceback" in after_unexpected and "ValueError: boom" in after_unexpected


def test_a_line_logged_inside_a_traced_request_carries_its_trace_and_span():
    record = logging.LogRecord("videos", logging.INFO, __file__, 1, "served", (), None)
    assert "trace_id" not in json.loads(JsonFormatter().format(record)), "none outside a trace"
    tracer = TracerProvider().get_tracer("test")  # a provider of its own: the global stays off
    with tracer.start_as_current_span("videos.get_video") as span:
        line = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


def test_every_password_of_a_list_of_broker_uris_is_masked():
    record = logging.LogRecord(
        "nameko.amqp.consume",
        logging.WARNING,
        __file__,
        1,
        "Error connecting to broker at %s (%s).",
        ("pyamqp://guest:********@a:5672/v;pyamqp://guest:s3cret@b:5672/v", "refused"),
        None,
    )
    assert PasswordsMasked().filter(record)
    assert record.getMessage() == (
        "Error connecting to broker at "
        "pyamqp://guest:********@a:5672/v;pyamqp://guest:********@b:5672/v (refused)."
    )
