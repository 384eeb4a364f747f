"""The RPC entrypoint of KillrVideo services.

It is nameko's ``rpc`` with three additions. Domain errors (a refused request) are logged as
expected, not as errors of the service. A failure of the database (no host available, a timeout,
too few replicas) reaches the caller as the domain error ``BackendUnavailable`` rather than as an
opaque remote error, so the gateway can answer UNAVAILABLE instead of INTERNAL. And a broker
connection lost while a worker answers costs that one answer, not the whole service.
"""

import logging

from amqp.exceptions import ConnectionError as AmqpConnectionError
from cassandra import DriverException, RequestExecutionException
from cassandra.cluster import NoHostAvailable
from kombu.exceptions import OperationalError
from nameko.rpc import Rpc

from services.common.errors import BackendUnavailable, DomainError

log = logging.getLogger(__name__)

BACKEND_FAILURES = (NoHostAvailable, RequestExecutionException, DriverException)

# What answering or acking on a broker connection that died raises: the socket's own error, amqp's,
# or kombu's once its publish retries are spent. nameko catches only amqp's around an ack, and any
# other that escapes a worker's result handling kills the whole service. Nothing more is needed:
# the broker takes an unacked message back when its connection dies and delivers it again once
# the consumer has reconnected.
BROKEN_CONNECTION = (OSError, AmqpConnectionError, OperationalError)


def as_domain_error(exc_info):
    if exc_info is None or not isinstance(exc_info[1], BACKEND_FAILURES):
        return exc_info
    log.warning("database unavailable: %r", exc_info[1])
    error = BackendUnavailable(f"the database is unavailable: {type(exc_info[1]).__name__}")
    return (BackendUnavailable, error, exc_info[2])


class DomainRpc(Rpc):
    def __init__(self, expected_exceptions=DomainError, **kwargs):
        # A domain error is an answer, not a fault of the service: nameko logs it as an expected
        # warning instead of an ERROR with a traceback.
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def handle_result(self, message, worker_ctx, result, exc_info):
        exc_info = as_domain_error(exc_info)
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except BROKEN_CONNECTION as error:
            log.warning("lost the broker answering %s (%r); it will come again", worker_ctx, error)
            return result, exc_info


rpc = DomainRpc.decorator
