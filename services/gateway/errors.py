"""The one table from failures to gRPC statuses (behaviour.md, "Errors").

Domain errors arrive as the classes the domain services raised (services.common.errors), so each
maps by class. Anything not in the table is a bug: it is logged with its traceback and answered
INTERNAL, never UNKNOWN.
"""

import logging
import uuid

import amqp.exceptions
import kombu.exceptions
from google.protobuf.message import DecodeError
from grpc import StatusCode
from nameko.exceptions import RpcTimeout, UnknownService
from nameko_grpc.errors import GrpcError

from services.common.errors import (
    AlreadyExists,
    BackendUnavailable,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)

log = logging.getLogger(__name__)

# The broker cannot be reached (refused, reset, closed by the broker).
BROKER_FAILURES = (
    ConnectionError,
    amqp.exceptions.ConnectionError,
    kombu.exceptions.OperationalError,
)

# Failure class → (status code, message template filled with str(failure)).
STATUS_OF_FAILURE = {
    InvalidArgument: (StatusCode.INVALID_ARGUMENT, "{}"),
    # The request's bytes are not the RPC's message.
    DecodeError: (StatusCode.INVALID_ARGUMENT, "the request is not a valid message: {}"),
    AlreadyExists: (StatusCode.ALREADY_EXISTS, "{}"),
    Unauthenticated: (StatusCode.UNAUTHENTICATED, "{}"),
    NotFound: (StatusCode.NOT_FOUND, "{}"),
    BackendUnavailable: (StatusCode.UNAVAILABLE, "{}"),
    # The domain service dropped the request: its deadline had passed before it could start.
    DeadlineExceeded: (StatusCode.DEADLINE_EXCEEDED, "{}"),
    # No reply within RPC_TIMEOUT: the domain service is overloaded, hung, or stopped.
    RpcTimeout: (StatusCode.DEADLINE_EXCEEDED, "{}"),
    # Without the direct_requests speed-up, nameko declares the gateway's reply queue before each
    # request; while the node that queue lives on is being stopped, the broker answers NOT_FOUND
    # ("process is stopped by supervisor"), and declares it afresh once the node is gone.
    amqp.exceptions.NotFound: (StatusCode.UNAVAILABLE, "the message bus is unavailable: {}"),
    # No queue for that service: it has never run against this broker.
    UnknownService: (StatusCode.UNAVAILABLE, "the domain service is not running: {}"),
    **{
        failure: (StatusCode.UNAVAILABLE, "the message bus is unavailable: {}")
        for failure in BROKER_FAILURES
    },
}

# Failures that are a client's or a backend's doing, not the gateway's: logged without traceback.
EXPECTED_ERRORS = (GrpcError, *STATUS_OF_FAILURE)


def status_of(failure: BaseException) -> tuple[StatusCode, str] | None:
    """The (status code, message template) of a failure in the table, or None."""
    for cls in type(failure).__mro__:
        if cls in STATUS_OF_FAILURE:
            return STATUS_OF_FAILURE[cls]
    return None


def status_code_of(failure: BaseException) -> StatusCode:
    """The status a failure is answered with (for metrics: logs nothing)."""
    if isinstance(failure, GrpcError):
        return failure.code
    known = status_of(failure)
    return StatusCode.INTERNAL if known is None else known[0]


def to_grpc_error(failure: BaseException) -> GrpcError:
    if isinstance(failure, GrpcError):
        return failure
    known = status_of(failure)
    if known is not None:
        code, template = known
        return GrpcError(code, template.format(failure))
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s", incident, exc_info=failure)
    return GrpcError(StatusCode.INTERNAL, f"internal error (incident {incident}, see the logs)")
