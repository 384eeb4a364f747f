"""Log lines for machines: the services' JSON formatter and `make run`'s merged stream."""

import json
import logging
import sys

from scripts.run import Output
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
