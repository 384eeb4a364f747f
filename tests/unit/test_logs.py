"""Log lines for machines: the services' JSON formatter and `make run`'s merged stream."""

import io
import json
import logging
import logging.config
import sys

from scripts.run import Output
from services.common import config
from services.common.logs import JsonFormatter


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
    json_output.line("videos", json.dumps({"level": "INFO", "message": "started"}))
    json_output.line("localcql", "localcql ready on 127.0.0.1:9042")
    plain, first, second = capsys.readouterr().out.splitlines()
    assert plain.startswith("videos") and plain.endswith("| started")
    assert json.loads(first) == {"service": "videos", "level": "INFO", "message": "started"}
    assert json.loads(second) == {
        "service": "localcql",
        "message": "localcql ready on 127.0.0.1:9042",
    }


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
