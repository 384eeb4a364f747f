"""The gateway's nameko RPC clients to the domain services: every call has a deadline.

nameko's ClusterRpc waits for a reply forever, and retries a publish to an unreachable broker for
about 12 s. A gateway must answer instead: here a call gives up with RpcTimeout after RPC_TIMEOUT
seconds (config.yaml), or sooner at its gRPC caller's deadline, and a request fails fast when the
broker is down.

Speed-up (services.common.speedups, docs/internals.md): direct_requests, the requests sent on the
reply listener's channel, without nameko's declaration of the reply queue before each.
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
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS, NON_PERSISTENT
from nameko.exceptions import MethodNotFound, RpcTimeout, UnknownService
from nameko.rpc import Client, ClusterRpc, ReplyListener, get_rpc_exchange
from nameko_grpc.context import GrpcContext
from nameko_grpc.timeout import unbucket_timeout

from services.common import deadlines, speedups
from services.gateway.errors import BROKER_FAILURES

# A request is worth something for its caller's deadline, a few seconds: two quick retries ride
# out a broker connection that was just dropped; more would only delay the error that a broker
# that is down deserves.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}
# Connecting again is PUBLISH_RETRY_POLICY's business: with nameko's transport options kombu would
# itself try 4 times, seconds apart, so that a publish to a broker that is down took 15 s to fail.
CONNECT_ONCE = {**DEFAULT_TRANSPORT_OPTIONS, "max_retries": 0}

# How long a request waits for the channel when the broker connection is being made or made again
# before its call fails as the broker's (UNAVAILABLE): kombu's consumer starts consuming again at
# most once a second, then its first tries to connect come 0.1 and 0.3 s apart (with the
# reconnect_waits speed-up). A broker that is down for longer gets its calls refused.
CHANNEL_WAIT_SECONDS = 2.0


class CallChannel(ReplyListener):
    """nameko's reply listener, for calls with deadlines: a reply lost as the broker goes away
    costs its call the deadline, not the gateway its life (check_for_lost_replies).

    With the direct_requests speed-up (docs/internals.md), it also sends the requests, on the
    channel it consumes from. A request is mandatory: one that no queue takes comes back from the
    broker as a return, which ends its call with UnknownService. Requests go out unconfirmed, and
    replies are taken without acknowledgements: a reply is worth something only to the call
    waiting for it in this process. Only the listener's green thread reads the connection;
    callers only write, under py-amqp's lock per frame (py-amqp's basic_publish first reads
    whatever the broker sent: from a caller's green thread that could take half a frame from
    under the listener, so requests go out through send_method)."""

    class consumer_cls(ReplyListener.ReplyConsumer):
        def requeue_message(self, message):
            pass  # a reply arriving as the gateway stops: its caller is stopping too

    class direct_consumer_cls(consumer_cls):
        on_channel = None  # told of each channel the consumer opens (CallChannel.use)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, no_ack=True, **kwargs)

        def on_consume_ready(self, connection, channel, consumers, **kwargs):
            self.on_channel(channel)
            super().on_consume_ready(connection, channel, consumers, **kwargs)

        def ack_message(self, message):
            pass  # the broker counted it acknowledged when it sent it

    def setup(self):
        self.direct = speedups.enabled("direct_requests")
        if self.direct:
            self.consumer_cls = self.direct_consumer_cls
        super().setup()
        # Transient, not durable as nameko declares it: a durable classic queue lives on one node
        # of a cluster, and while that node is down the broker refuses to declare it again (its
        # home node is down), so the gateway could not consume its replies through another node.
        # This one is declared afresh on the next connection. Exclusive to the listener's
        # connection too (RabbitMQ 4 deprecates transient queues that are not), but only when the
        # requests go out on that connection: nameko's stock publisher declares the reply queue
        # again from a connection of its own before each request, which the broker refuses for
        # an exclusive queue (RESOURCE_LOCKED); there it expires as nameko's does (x-expires).
        self.queue.durable = False
        self.queue.exclusive = self.direct
        self.channel = None
        self.next_channel = Event()  # sent the channel of the consumer's next (re)connection
        if self.direct:
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
        # A request is worth nothing after its deadline: it need not survive a broker restart
        # (a persistent one waits for a disk sync on the broker), and its publish fails fast.
        super().__init__(
            delivery_mode=NON_PERSISTENT,
            retry_policy=PUBLISH_RETRY_POLICY,
            transport_options=CONNECT_ONCE,
        )
        self.timeout = timeout

    def setup(self):
        super().setup()
        self.exchange_name = get_rpc_exchange().name
        self.serializer = self.container.serializer
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
        """What nameko's Client publishes. A request still queued when its caller has given up
        (its service is down or behind) is dropped by the broker, rather than run later behind
        the caller's back."""
        if not self.reply_listener.direct:
            self.publisher.publish(
                payload,
                routing_key=routing_key,
                mandatory=mandatory,
                correlation_id=correlation_id,
                extra_headers=extra_headers,
                expiration=expires_in,  # seconds, which kombu writes in milliseconds
            )
            return
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
