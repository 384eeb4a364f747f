"""The RPC entrypoint of KillrVideo services.

It is nameko's ``rpc`` with eight changes. Domain errors (a refused request) are logged as
expected, not as errors of the service. A failure of the database (no host available, a timeout,
too few replicas) reaches the caller as the domain error ``BackendUnavailable`` rather than as an
opaque remote error, so the gateway can answer UNAVAILABLE instead of INTERNAL. And a broker
connection lost while a worker answers costs that one answer, not the whole service. And replies
are published transient and unconfirmed, straight through py-amqp (see Replies). And a request
without a reply-to address is run unanswered, where nameko's responder fails on it and takes the
whole service down with it. And a call's arguments are checked against the method's signature,
built once, instead of one rebuilt by inspect.getcallargs on every call. And a request's worker is
spawned at once while the worker pool has room, without the green thread nameko starts per request
to wait for room, and runs before the consumer goes on (services.common.handoff). And a request
whose caller's deadline has passed is dropped, not run (services.common.deadlines).
"""

import inspect
import logging
import sys
from functools import partial

import amqp
import eventlet
import kombu.serialization
from amqp.exceptions import ConnectionError as AmqpConnectionError
from cassandra import DriverException, RequestExecutionException
from cassandra.cluster import NoHostAvailable
from kombu.exceptions import OperationalError
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import (
    ContainerBeingKilled,
    IncorrectSignature,
    MalformedRequest,
    MethodNotFound,
    UnserializableValueError,
    serialize,
)
from nameko.messaging import decode_from_headers
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange

from services.common import (
    amqp_reads,  # noqa: F401 (installed by importing)
    deadlines,
    reconnecting,  # noqa: F401 (installed by importing)
)
from services.common.errors import BackendUnavailable, DeadlineExceeded, DomainError
from services.common.handoff import run_it_first
from services.common.publishing import DirectPublisher
from services.common.queues import RPC_QUEUE_ARGUMENTS

log = logging.getLogger(__name__)

BACKEND_FAILURES = (NoHostAvailable, RequestExecutionException, DriverException)

# What answering or acking on a broker connection that died raises: the socket's own error, amqp's,
# or kombu's once its publish retries are spent. nameko catches only amqp's around an ack, and any
# other that escapes a worker's result handling kills the whole service. Nothing more is needed:
# the broker takes an unacked message back when its connection dies and delivers it again once
# the consumer has reconnected.
BROKEN_CONNECTION = (OSError, AmqpConnectionError, OperationalError)


class Replies(RpcConsumer):
    """nameko's RPC consumer, answering each request with a transient, unconfirmed message that
    py-amqp publishes at once on a warm channel (services.common.publishing.DirectPublisher),
    its body serialized once (nameko's responder serializes it twice, the first time only to
    check that it can).

    A reply is worth something only until its caller's deadline, a few seconds, which no broker
    restart fits in: a persistent, confirmed reply protects nothing, yet would cost the service a
    broker round trip (and the broker a disk write and a confirm) on every call. A reply the
    broker drops leaves the caller to its deadline, as a broker that died a moment sooner would;
    the write the call made is in the database either way. (The gateway's requests are transient
    for the same reason.)"""

    def setup(self):
        super().setup()
        self.queue.queue_arguments = RPC_QUEUE_ARGUMENTS  # a quorum queue (services.common.queues)
        self.exchange_name = get_rpc_exchange().name
        self.publisher = DirectPublisher(self.amqp_uri)

    def start(self):
        # Every entrypoint registered itself in its setup, which all ran before any start.
        service = self.container.service_name
        self.providers_by_routing_key = {f"{service}.{p.method_name}": p for p in self._providers}
        super().start()

    def get_provider_for_method(self, routing_key):
        """nameko's, a lookup instead of a scan that formats every method's routing key."""
        provider = self.providers_by_routing_key.get(routing_key)
        if provider is None:
            raise MethodNotFound(routing_key.rpartition(".")[2])
        return provider

    def handle_result(self, message, result, exc_info):
        reply_to = message.properties.get("reply_to")
        if reply_to:
            result, exc_info = self.reply(message, reply_to, result, exc_info)
        self.consumer.ack_message(message)
        return result, exc_info

    def reply(self, message, reply_to, result, exc_info):
        # Encoded as the request was, like nameko's responder.
        serializer = kombu.serialization.registry.type_to_name[message.content_type]
        error = None if exc_info is None else serialize(exc_info[1])
        try:
            body = kombu.serialization.dumps({"result": result, "error": error}, serializer)
        except Exception:
            # A result that does not serialize is the worker's error (as in nameko), answered.
            exc_info = sys.exc_info()
            error = serialize(UnserializableValueError(result))
            result = None
            body = kombu.serialization.dumps({"result": None, "error": error}, serializer)
        content_type, content_encoding, payload = body
        reply = amqp.Message(
            payload,
            content_type=content_type,
            content_encoding=content_encoding,
            correlation_id=message.properties.get("correlation_id"),
            delivery_mode=NON_PERSISTENT,
        )
        self.publisher.publish(reply, self.exchange_name, reply_to)
        return result, exc_info


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
        """nameko's, without its green thread per request while the worker pool has room. That
        thread only waits for room, so that a full pool never blocks the consumer (nameko's way,
        kept for then), yet it cost every request a thread and a hub round trip: 2% of the
        videos service's instructions per GetVideo.

        A request whose caller's deadline (services.common.deadlines) has passed is dropped
        instead of run: one that waited in the broker or in the consumer's prefetch (a service
        that was stalled or behind), or that waits here for a free worker until its deadline."""
        try:
            args, kwargs = body["args"], body["kwargs"]
        except KeyError:
            raise MalformedRequest("Message missing `args` or `kwargs`") from None
        self.check_signature(args, kwargs)
        context_data = decode_from_headers(message.headers)
        deadline = deadlines.deadline_of(context_data)
        if deadlines.has_passed(deadline):
            return self.drop_expired(message, deadline)
        if not self.container._worker_pool.free():  # nameko's own pool: no public view of it
            what = f"{self.container.service_name}.{self.method_name}"
            ident = f"{type(self).__name__}.wait_for_worker_pool[{what}]"  # as nameko names it
            spawn = partial(self.spawn_in_time, message, args, kwargs, context_data, deadline)
            self.container.spawn_managed_thread(spawn, identifier=ident)
            return None
        if self.spawn(message, args, kwargs, context_data):
            run_it_first()  # the request's worker, ahead of the consumer's way back to its socket
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


rpc = DomainRpc.decorator
