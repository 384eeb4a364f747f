"""The gateway's nameko RPC clients to the domain services: every call has a deadline.

nameko's ClusterRpc waits for a reply forever, and retries a publish to an unreachable broker for
about 12 s. A gateway must answer instead: here a call gives up with RpcTimeout after RPC_TIMEOUT
seconds (config.yaml), and a request fails fast when the broker is down. The clients share one
AMQP channel (CallChannel): requests go out on the connection their replies come back on, so no
request opens a connection, and a call costs one broker round trip. nameko confirms every request,
only to learn that a request no queue took (its service never ran) came back; here the broker's
return of such a request ends its call at once instead, and the rest need no confirm: without
them the gateway took 9-16% less CPU per GetVideo, and RabbitMQ 16% less, at 32 callers. Requests
are handed to py-amqp as messages ready-made, not through nameko's publisher and kombu's producer.
"""

import time
from functools import partial

import amqp
import eventlet
import kombu.serialization
from amqp import spec
from eventlet.event import Event
from kombu.exceptions import OperationalError
from nameko import config
from nameko.constants import NON_PERSISTENT
from nameko.exceptions import MethodNotFound, RpcTimeout, UnknownService
from nameko.rpc import Client, ClusterRpc, ReplyListener, get_rpc_exchange
from nameko_grpc.context import GrpcContext
from nameko_grpc.timeout import unbucket_timeout

from services.common import (
    amqp_reads,  # noqa: F401 (installed by importing)
    deadlines,
    reconnecting,  # noqa: F401 (installed by importing)
)
from services.common.handoff import run_it_first
from services.gateway.errors import BROKER_FAILURES

# How long a request waits for the channel when the broker connection is being made or made again
# before its call fails as the broker's (UNAVAILABLE): kombu's consumer starts consuming again at
# most once a second, then its first tries to connect come 0.1 and 0.3 s apart
# (services.common.reconnecting). A broker that is down for longer gets its calls refused.
CHANNEL_WAIT_SECONDS = 2.0


class CallChannel(ReplyListener):
    """nameko's reply listener, which also sends the requests, on the channel it consumes from.

    A request is mandatory: one that no queue takes comes back from the broker as a return, which
    the listener reads like any reply and which ends its call with UnknownService. Requests go
    out unconfirmed: the broker's confirm would tell nothing more, and a request it lost (it went
    down) costs its call the deadline, as the reply it would have lost would. Replies are taken
    without acknowledgements: a reply is worth something only to the call waiting for it in this
    process, which dies with the process, so an ack would cost a write on every call for nothing.

    Only the listener's green thread reads the connection; callers only write, under py-amqp's
    lock per frame. (py-amqp's basic_publish first reads whatever the broker sent: from a caller's
    green thread that could take half a frame from under the listener, so requests go out through
    send_method.)"""

    class consumer_cls(ReplyListener.ReplyConsumer):
        on_channel = None  # told of each channel the consumer opens (CallChannel.use)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, no_ack=True, **kwargs)

        def on_consume_ready(self, connection, channel, consumers, **kwargs):
            self.on_channel(channel)
            super().on_consume_ready(connection, channel, consumers, **kwargs)

        def ack_message(self, message):
            pass  # the broker counted it acknowledged when it sent it

        def requeue_message(self, message):
            pass  # a reply arriving as the gateway stops: its caller is stopping too

    def setup(self):
        super().setup()
        # Exclusive to the listener's connection (so transient), not durable as nameko declares
        # it: a durable classic queue lives on one node of a cluster, and while that node is down
        # the broker refuses to declare it again (its home node is down), so the gateway could
        # not consume its replies through another node. This one goes with its connection and
        # is declared afresh on the next (RabbitMQ 4 deprecates transient queues that are not
        # exclusive).
        self.queue.durable = False
        self.queue.exclusive = True
        self.channel = None
        self.next_channel = Event()  # sent the channel of the consumer's next (re)connection
        self.consumer.on_channel = self.use

    def use(self, channel):
        channel.events["basic_return"].add(self.request_returned)
        self.channel = channel
        waiting, self.next_channel = self.next_channel, Event()
        waiting.send(channel)

    def send_request(self, request: amqp.Message, exchange: str, routing_key: str, mandatory):
        """Sends on the listener's channel; a channel that fails is given up for the consumer's
        next one, waited for at most CHANNEL_WAIT_SECONDS in all."""
        give_up_at = time.monotonic() + CHANNEL_WAIT_SECONDS
        channel = self.channel
        while True:
            if channel is not None and channel.is_open:
                try:
                    channel.send_method(
                        spec.Basic.Publish,
                        "Bssbb",
                        (0, exchange, routing_key, mandatory, False),  # not immediate
                        request,
                    )
                    return
                except BROKER_FAILURES:
                    if time.monotonic() >= give_up_at:
                        raise
            channel = self.channel_after(channel, give_up_at)

    def channel_after(self, failed, give_up_at: float):
        if self.channel is not failed:
            return self.channel
        with eventlet.Timeout(max(give_up_at - time.monotonic(), 0), False):
            return self.next_channel.wait()
        raise OperationalError(f"no connection to the broker within {CHANNEL_WAIT_SECONDS}s")

    def request_returned(self, error, exchange, routing_key, request):
        """The broker's return of a mandatory request no queue took: its service never ran."""
        call = self.pending.pop(request.properties.get("correlation_id"), None)
        if call is not None:
            call.send_exception(UnknownService(routing_key.partition(".")[0]))

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

    reply_listener = CallChannel()

    def __init__(self, timeout: float | None = None):
        super().__init__()
        self.timeout = timeout

    def setup(self):
        super().setup()
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
        # answer after that: the request expires in the broker and the wait ends with it, and
        # it carries that deadline for the service, which drops it once passed.
        timeout = min(self.timeout, caller_time_left(worker_ctx) or self.timeout)
        return Client(
            partial(self.publish_request, expires_in=timeout),
            partial(self.register_for_reply, timeout=timeout),
            {**worker_ctx.context_data, **deadlines.within(timeout)},
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
        self.reply_listener.send_request(request, self.exchange_name, routing_key, mandatory)

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
