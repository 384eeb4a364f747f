"""The rows of the gateway's error table that no end-to-end scenario reaches without breaking
shared infrastructure (the broker) or planting a bug: checked on the table itself."""

import logging

import amqp.exceptions
import kombu.exceptions
import pytest
from grpc import StatusCode
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from services.common.errors import BackendUnavailable
from services.gateway.errors import to_grpc_error


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (ConnectionRefusedError(111, "Connection refused"), StatusCode.UNAVAILABLE),
        (amqp.exceptions.RecoverableConnectionError("connection lost"), StatusCode.UNAVAILABLE),
        (kombu.exceptions.OperationalError("broker down"), StatusCode.UNAVAILABLE),
        (
            amqp.exceptions.NotFound("queue 'rpc.reply-gateway' process is stopped by supervisor"),
            StatusCode.UNAVAILABLE,
        ),
        (UnknownService("videos"), StatusCode.UNAVAILABLE),
        (BackendUnavailable("the database is unavailable"), StatusCode.UNAVAILABLE),
        (RpcTimeout("no reply within 5s"), StatusCode.DEADLINE_EXCEEDED),
    ],
)
def test_backend_failures_are_unavailable_or_deadline_exceeded(failure, code):
    error = to_grpc_error(failure)
    assert error.code == code
    assert str(failure) in error.message


@pytest.mark.parametrize("bug", [KeyError("user_id"), RemoteError("TypeError", "oops")])
def test_anything_else_is_an_internal_error_that_is_logged(bug, caplog):
    with caplog.at_level(logging.ERROR, logger="services.gateway.errors"):
        error = to_grpc_error(bug)
    assert error.code == StatusCode.INTERNAL
    [record] = caplog.records
    assert record.exc_info[1] is bug
    incident = record.getMessage().split()[-1]
    assert incident in error.message
    assert str(bug) not in error.message  # a bug's details stay in the logs
