"""The RPC entrypoint of KillrVideo services.

It is nameko's ``rpc`` with these changes. Domain errors (a refused request) are logged as
expected, not as errors of the service. A failure of the database (no host available, a timeout,
too few replicas) reaches the caller as the domain error ``BackendUnavailable`` rather than as an
opaque remote error, so the gateway can answer UNAVAILABLE instead of INTERNAL. And a broker
connection lost while a worker answers costs that one answer, not the whole service. And a request
without a reply-to address is run unanswered, where nameko's responder fails on it and takes the
whole service down with it. And a call's arguments are checked against the method's signature,
built once, instead of one rebuilt by inspect.getcallargs on every call. And a request whose
caller's deadline has passed is dropped, not run (services.common.deadlines).
"""

import inspect
import logging
from functools import partial, wraps

import eventlet
from amqp.exceptions import ConnectionError as AmqpConnectionError
from cassandra import DriverException, RequestExecutionException
from cassandra.cluster import NoHostAvailable
from kombu.exceptions import OperationalError
from marshmallow import Schema
from nameko.exceptions import (
    ContainerBeingKilled,
    IncorrectSignature,
    MalformedRequest,
)
from nameko.messaging import decode_from_headers
from nameko.rpc import Rpc, RpcConsumer

from services.common import deadlines
from services.common.brokers import ConsumerEndingOnRefusal
from services.common.errors import BackendUnavailable, DeadlineExceeded, DomainError
from services.common.queues import RPC_QUEUE_ARGUMENTS
from services.common.schemas import shared
from services.common.validation import load

log = logging.getLogger(__name__)

BACKEND_FAILURES = (NoHostAvailable, RequestExecutionException, DriverException)

# What answering or acking on a broker connection that died raises: the socket's own error, amqp's,
# or kombu's once its publish retries are spent. nameko catches only amqp's around an ack, and any
# other that escapes a worker's result handling kills the whole service. Nothing more is needed:
# the broker takes an unacked message back when its connection dies and delivers it again once
# the consumer has reconnected.
BROKEN_CONNECTION = (OSError, AmqpConnectionError, OperationalError)


class Replies(RpcConsumer):
    """nameko's RPC consumer, its queue a quorum queue (services.common.queues), which runs a
    request without a reply-to address unanswered (nameko's responder fails on it, and takes the
    whole service down with it)."""

    consumer_cls = ConsumerEndingOnRefusal

    def setup(self):
        super().setup()
        self.queue.queue_arguments = RPC_QUEUE_ARGUMENTS

    def handle_result(self, message, result, exc_info):
        if not message.properties.get("reply_to"):
            self.consumer.ack_message(message)
            return result, exc_info
        return super().handle_result(message, result, exc_info)


def as_domain_error(exc_info):
    if exc_info is None or not isinstance(exc_info[1], BACKEND_FAILURES):
        return exc_info
    error = BackendUnavailable(f"the database is unavailable: {type(exc_info[1]).__name__}")
    return (BackendUnavailable, error, exc_info[2])


class DomainRpc(Rpc):
    rpc_consumer = Replies()

    def __init__(self, expected_exceptions=(DomainError, *BACKEND_FAILURES), **kwargs):
        # A domain error is an answer, not a fault of the service, and a database that is down
        # or slow is the database's: nameko logs either as one expected WARNING line
        # (services.common.logs drops its traceback) instead of an ERROR with a traceback.
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)

    def setup(self):
        super().setup()
        self.signature = inspect.signature(getattr(self.container.service_cls, self.method_name))

    def check_signature(self, args, kwargs):
        try:
            self.signature.bind(None, *args, **kwargs)  # None: the unbound method's self
        except TypeError as error:
            raise IncorrectSignature(f"{self.method_name}: {error}") from None

    def handle_message(self, body, message):
        """nameko's, dropping a request whose caller's deadline (services.common.deadlines) has
        passed instead of running it: one that waited in the broker or in the consumer's
        prefetch (a service that was stalled or behind), or that waits for a free worker until
        its deadline."""
        try:
            args, kwargs = body["args"], body["kwargs"]
        except KeyError:
            raise MalformedRequest("Message missing `args` or `kwargs`") from None
        self.check_signature(args, kwargs)
        context_data = decode_from_headers(message.headers)
        deadline = deadlines.deadline_of(context_data)
        if deadlines.has_passed(deadline):
            return self.drop_expired(message, deadline)
        # nameko's way: a green thread waits for room in the worker pool, so that a full pool
        # never blocks the consumer; here until the request's deadline at most.
        what = f"{self.container.service_name}.{self.method_name}"
        ident = f"{type(self).__name__}.wait_for_worker_pool[{what}]"  # as nameko names it
        spawn = partial(self.spawn_in_time, message, args, kwargs, context_data, deadline)
        self.container.spawn_managed_thread(spawn, identifier=ident)
        return None

    def spawn(self, message, args, kwargs, context_data) -> bool:
        """Whether a worker was spawned (it waits for room in the pool); a container being
        killed gives the request back to the broker."""
        try:
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data=context_data,
                handle_result=partial(self.handle_result, message),
            )
        except ContainerBeingKilled:
            self.rpc_consumer.consumer.requeue_message(message)
            return False
        return True

    def spawn_in_time(self, message, args, kwargs, context_data, deadline):
        """Waits for a free worker, until the request's deadline at most."""
        spawned = False
        with eventlet.Timeout(deadlines.seconds_left(deadline), False):
            spawned = self.spawn(message, args, kwargs, context_data)
        if not spawned and deadlines.has_passed(deadline):
            self.drop_expired(message, deadline)

    def drop_expired(self, message, deadline: float):
        """Answers an expired request with DeadlineExceeded instead of running it: its caller
        has most likely given up already, but one still waiting (its clock behind this
        service's) learns why."""
        what = f"{self.container.service_name}.{self.method_name}"
        late = deadlines.seconds_left(deadline)
        deadlines.dropped[what] += 1
        log.warning("dropped a request to %s: its deadline passed %.3fs ago", what, -late)
        error = DeadlineExceeded(f"{what}: the caller's deadline passed {-late:.3f}s ago")
        self.answer(message, what, None, (DeadlineExceeded, error, None))

    def handle_result(self, message, worker_ctx, result, exc_info):
        return self.answer(message, worker_ctx, result, as_domain_error(exc_info))

    def answer(self, message, what, result, exc_info):
        try:
            return super().handle_result(message, None, result, exc_info)
        except BROKEN_CONNECTION as error:
            log.warning("lost the broker answering %s (%r); it will come again", what, error)
            return result, exc_info


def rpc(method_or_request_schema):
    """The entrypoint decorator of KillrVideo services, in two forms.

    ``@rpc(RequestSchema)`` declares an RPC's parameters once, by its marshmallow schema: the
    method receives the request loaded and validated (``def get_video(self, request)``); a
    field's default is the schema's ``load_default``. A call names its arguments (the gateway
    and `nameko shell` do): an unknown or missing one is refused with nameko's
    IncorrectSignature before any worker runs, a malformed one with InvalidArgument naming it.
    Positional arguments are refused, since a schema's field order is no contract (a subclass's
    fields come after its parent's).

    ``@rpc`` alone, on a method with its own parameters, is nameko's rpc (with DomainRpc's
    changes).
    """
    if isinstance(method_or_request_schema, type) and issubclass(method_or_request_schema, Schema):
        return partial(taking_request, method_or_request_schema)
    return DomainRpc.decorator(method_or_request_schema)


def taking_request(request_schema: type[Schema], method):
    @wraps(method)
    def loading(self, **arguments):
        return method(self, load(request_schema, **arguments))

    # What DomainRpc checks calls against, and what help() and inspect show.
    loading.__signature__ = signature_of(request_schema)
    return DomainRpc.decorator(loading)


def signature_of(request_schema: type[Schema]) -> inspect.Signature:
    """(self, *, field, ..., optional_field=its load_default): keyword-only, so a required field
    may follow an optional one."""
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for name, field in shared(request_schema).fields.items():
        default = inspect.Parameter.empty
        if not field.required:
            default = field.load_default() if callable(field.load_default) else field.load_default
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    return inspect.Signature(parameters)
