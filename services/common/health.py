"""Liveness and readiness of a process, served on its metrics port (services.common.metrics.serve)
for the probes of an orchestrator: the domain services have no port of their own.

- ``/healthz`` answers 200 while the process's event loop runs: the server is a green thread
  (nameko runs monkey-patched), so a process stuck in a blocking call answers nothing, and a
  liveness probe restarts it.
- ``/readyz`` answers 200 once every service container of the process has started, which nameko
  returns from only when the service's consumers consume from the broker and its database session
  is connected; and 503 before that, and from the moment a container begins to stop. A rollout
  counts a new pod as available, and a disruption budget counts it as up, only when it is ready.
  A broker or database lost later does not make it unready: nameko and the driver reconnect by
  themselves, and a restart would not bring either back sooner (docs/deploying.md).

Every other path is the metrics' (prometheus_client's WSGI application).
"""

import socket
import threading
import weakref
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

# Every service container of the process -> whether it has started (and is not stopping).
_containers = weakref.WeakKeyDictionary()


def created(container) -> None:
    _containers[container] = False


def started(container) -> None:
    _containers[container] = True


def stopping(container) -> None:
    _containers[container] = False


def stopped(container) -> None:
    _containers.pop(container, None)


def ready() -> bool:
    return bool(_containers) and all(_containers.values())


def application():
    metrics = make_wsgi_app()

    def answer(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            status, body = "200 OK", b"alive\n"
        elif path == "/readyz":
            status, body = (
                ("200 OK", b"ready\n") if ready() else ("503 Service Unavailable", b"not ready\n")
            )
        else:
            return metrics(environ, start_response)
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [body]

    return answer


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scrape must not hold the process's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        """Probes and scrapes every few seconds would fill the log."""


def serve(port: int, host: str) -> None:
    """Serves the metrics, /healthz and /readyz on `host`:`port` from a daemon thread."""
    # The family of the address given (an IPv6 host as well as an IPv4 one).
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = type("Server", (_Server,), {"address_family": family})
    server = make_server(host, port, application(), server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-and-health", daemon=True).start()
