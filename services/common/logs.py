"""Log lines as JSON objects, for machines (config.yaml LOGGING, `LOG_FORMAT=json`)."""

import json
import logging
import re
from datetime import UTC, datetime

from opentelemetry import trace


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Inside a traced request (services.common.tracing), the trace and span it belongs to.
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class ExpectedErrorsWithoutTraceback(logging.Filter):
    """nameko logs a worker's expected exception (a domain error, a gRPC status: a request
    refused, not a fault of the service) at WARNING with its traceback. The traceback tells an
    operator nothing the line does not, and formatting it took a quarter of the gateway's CPU on
    such a request: the line stays, the traceback goes. Unexpected errors keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "nameko.containers" and str(record.msg).startswith("(expected)"):
            record.exc_info = record.exc_text = None
        return True


# scheme://user:password@ — the password part, up to the @ (a list of URIs has one per node).
URI_PASSWORD = re.compile(r"(\w+://[^:/@;\s]*:)[^@;\s]+@")


class PasswordsMasked(logging.Filter):
    """nameko masks the password of the AMQP_URI it logs (as the first node's only, when
    AMQP_URI lists several: services.common.brokers), and the other lines may quote a URI too:
    every password in a URI of a line is masked here."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message:
            masked = URI_PASSWORD.sub(r"\1********@", message)
            if masked != message:
                record.msg, record.args = masked, None
        return True
