"""The gateway's nameko RPC clients to the domain services: every call has a deadline.

nameko's ClusterRpc waits for a reply forever, and retries a publish to an unreachable broker for
about 12 s. A gateway must answer instead: here a call gives up with RpcTimeout after RPC_TIMEOUT
seconds (config.yaml), and a publish fails fast when the broker is down. The clients share the
container's pooled AMQP connections and its one reply queue, so no request opens a connection,
and a call costs two broker round trips (the confirmed publish, the reply), not five. Requests go
straight through py-amqp (services.common.publishing.DirectPublisher), not through nameko's
publisher and kombu's producer. Replies are taken without acknowledgements
(UnackedReplyListener).
"""

import time
from functools import partial

import amqp
import eventlet
import kombu.serialization
from nameko import config
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import MethodNotFound, RpcTimeout, UnknownService
from nameko.rpc import Client, ClusterRpc, ReplyListener, get_rpc_exchange
from nameko_grpc.context import GrpcContext
from nameko_grpc.timeout import unbucket_timeout

from services.common import (
    amqp_reads,  # noqa: F401 (installed by importing)
    reconnecting,  # noqa: F401 (installed by importing)
)
from services.common.handoff import run_it_first
from services.common.publishing import DirectPublisher
from services.gateway.errors import BROKER_FAILURES


class UnackedReplyListener(ReplyListener):
    """nameko's reply listener, consuming without acknowledgements. A reply is worth something
    only to the call waiting for it in this process, which dies with the process: redelivering
    it to another gateway would help nobody, so an ack would cost the gateway a write and the
    broker a frame on every call for nothing."""

    class consumer_cls(ReplyListener.ReplyConsumer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, no_ack=True, **kwargs)

        def ack_message(self, message):
            pass  # the broker counted it acknowledged when it sent it

        def requeue_message(self, message):
            pass  # a reply arriving as the gateway stops: its caller is stopping too

    def handle_message(self, body, message):
        super().handle_message(body, message)
        run_it_first()  # the call waiting for this reply, ahead of the listener's way back

    def check_for_lost_replies(self):
        """nameko kills the whole container when calls wait for replies while the reply queue is
        missing as its consumer (re)connects: the queue expired while the broker was away, or it
        was never declared yet, because a call (a health probe) came in while the gateway was
        still starting. Every call here has a deadline: a reply lost either way costs its call
        that deadline (UNAVAILABLE or DEADLINE_EXCEEDED), not the gateway its life. The consumer
        declares the queue again as it connects, so the calls after it get their replies."""


class DomainServices(ClusterRpc):
    """Injects a client to every domain service, `domain["users"]["create_user"](**kwargs)`,
    whose calls raise RpcTimeout after `timeout` seconds (default: config RPC_TIMEOUT)."""

    reply_listener = UnackedReplyListener()

    def __init__(self, timeout: float | None = None):
        super().__init__()
        self.timeout = timeout

    def setup(self):
        super().setup()
        # Confirmed, so that a request no queue takes (its service never ran) comes back at once
        # as UnknownService (UNAVAILABLE) instead of waiting out its deadline.
        self.requests = DirectPublisher(self.amqp_uri, confirms=True)
        self.exchange_name = get_rpc_exchange().name
        self.serializer = self.container.serializer
        # nameko declares the reply queue, its exchange and its binding before every publish
        # (kombu never caches the declaration of an expiring queue): three broker round trips
        # per call, more than the call itself. The reply listener declares that queue whenever
        # it (re)connects, which is all the replies need (during the container's start a call
        # may time out before it has: the health check, which pings, says NOT_SERVING then).
        self.reply_to = self.reply_listener.queue.routing_key
        if self.timeout is None:
            self.timeout = float(config.get("RPC_TIMEOUT", 5))

    def get_dependency(self, worker_ctx):
        # A caller that gives up sooner than RPC_TIMEOUT (its gRPC deadline) gets no use of an
        # answer after that: the request expires in the broker and the wait ends with it.
        timeout = min(self.timeout, caller_time_left(worker_ctx) or self.timeout)
        return Client(
            partial(self.publish_request, expires_in=timeout),
            partial(self.register_for_reply, timeout=timeout),
            worker_ctx.context_data,
        )

    def publish_request(
        self, payload, routing_key, mandatory, correlation_id, extra_headers, expires_in: float
    ):
        """What nameko's Client publishes, as nameko's publisher would, less its declarations.
        A request is worth nothing after its deadline, so it need not survive a broker restart
        (a persistent one waits for a disk sync on the broker before it is confirmed), and one
        still queued when its caller has given up (its service is down or behind) is dropped
        by the broker, rather than run later behind the caller's back."""
        content_type, content_encoding, body = kombu.serialization.dumps(payload, self.serializer)
        request = amqp.Message(
            body,
            content_type=content_type,
            content_encoding=content_encoding,
            application_headers=extra_headers,
            correlation_id=correlation_id,
            reply_to=self.reply_to,
            delivery_mode=NON_PERSISTENT,
            expiration=str(int(expires_in * 1000)),  # milliseconds, as kombu writes it
        )
        self.requests.publish(request, self.exchange_name, routing_key, mandatory)

    def register_for_reply(self, correlation_id, timeout: float):
        wait_for_reply = self.reply_listener.register_for_reply(correlation_id)

        def wait_until_deadline():
            with eventlet.Timeout(timeout, False):
                return wait_for_reply()
            self.reply_listener.pending.pop(correlation_id, None)
            raise RpcTimeout(f"the domain service did not reply within {timeout:g}s")

        return wait_until_deadline


def caller_time_left(worker_ctx) -> float | None:
    """The deadline a gRPC caller set on the request this worker answers (its grpc-timeout), in
    seconds from now; None for a caller without one, or a worker that is not answering gRPC. The
    worker starts as the request arrives, so the time spent before it is left out."""
    for arg in worker_ctx.args:
        if isinstance(arg, GrpcContext):
            header = arg.request_stream.headers.get("grpc-timeout")
            return unbucket_timeout(header) if header else None
    return None


class DomainHealth(DomainServices):
    """Injects `all_answer(service_names) -> bool`: whether every named domain service answers
    over the broker within `timeout` seconds. Answers are remembered for `ttl` seconds, so
    frequent health probes do not turn into a flood of pings."""

    def __init__(self, timeout: float = 1.0, ttl: float = 1.0):
        super().__init__(timeout)
        self.ttl = ttl
        self.answers = {}  # service name → (answered, until when that is believed)

    def get_dependency(self, worker_ctx):
        # nameko injects every dependency into every worker, and only health checks use this
        # one: the client of a check is built when it runs, not for every call of the API.
        return partial(self.all_answer, worker_ctx)

    def all_answer(self, worker_ctx, service_names) -> bool:
        client = super().get_dependency(worker_ctx)
        pool = eventlet.GreenPool()
        return all(pool.imap(lambda name: self.answered(client, name), service_names))

    def answered(self, client, service_name: str) -> bool:
        answered, until = self.answers.get(service_name, (False, 0.0))
        if time.monotonic() < until:
            return answered
        answered = ping(client, service_name)
        self.answers[service_name] = (answered, time.monotonic() + self.ttl)
        return answered


def ping(client, service_name: str) -> bool:
    """Whether a service answers. Domain services need no ping RPC of their own: nameko answers
    a call to a method a service lacks with MethodNotFound, which proves the service is consuming
    and replying as well as a real answer would."""
    try:
        client[service_name].ping()
    except MethodNotFound:
        return True
    except (RpcTimeout, UnknownService, *BROKER_FAILURES):
        return False
    return True
