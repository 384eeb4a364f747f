"""The gateway's nameko RPC clients to the domain services: every call has a deadline.

nameko's ClusterRpc waits for a reply forever, and retries a publish to an unreachable broker for
about 12 s. A gateway must answer instead: here a call gives up with RpcTimeout after RPC_TIMEOUT
seconds (config.yaml), or sooner at its gRPC caller's deadline, and a request fails fast when the
broker is down.

Speed-up (services.common.speedups, docs/internals.md): direct_requests, the requests sent on a
channel of the reply listener's connection, without nameko's declaration of the reply queue before
each.
"""

import contextlib
import logging
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

from services.common import deadlines, speedups
from services.common.brokers import ConsumerEndingOnRefusal
from services.gateway.errors import BROKER_FAILURES

log = logging.getLogger(__name__)

# A request is worth something for its caller's deadline, a few seconds: two quick retries ride
# out a broker connection that was just dropped; more would only delay the error that a broker
# that is down deserves.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}
# In stock mode, kombu's publish also makes its connection under this policy (not under nameko's
# transport options, seconds apart): a request to a broker that is down fails in about 0.4 s.

# How long a request waits for the channel when the broker connection is being made or made again
# before its call fails as the broker's (UNAVAILABLE): kombu's consumer starts consuming again at
# most once a second, then its first tries to connect come 0.1 and 0.3 s apart (with the
# reconnect_waits speed-up). A broker that is down for longer gets its calls refused.
CHANNEL_WAIT_SECONDS = 2.0

# How long a request channel stays on probation (confirm mode, docs/internals.md): longer than a
# quorum queue takes to elect a new leader once a node is gone (under a second when the node's
# death is seen at once, as a closed connection), so that the unconfirmed channel that follows
# makes its first publish to each queue once the queues' records name live leaders.
PROBATION_SECONDS = 10.0
CHANNEL_REPLACED = "requests go out on a new channel"  # what the gateway logs when it does


class CallChannel(ReplyListener):
    """nameko's reply listener, for calls with deadlines: a reply lost as the broker goes away
    costs its call the deadline, not the gateway its life (check_for_lost_replies).

    With the direct_requests speed-up (docs/internals.md), it also sends the requests, on a
    channel of its own on the connection it consumes from. A request is mandatory: one that no
    queue takes comes back from the broker as a return, which ends its call with UnknownService.
    Requests go out unconfirmed, and replies are taken without acknowledgements: a reply is worth
    something only to the call waiting for it in this process. Only the listener's green thread
    reads the connection, and opens and closes channels; callers only write, under py-amqp's lock
    per frame (py-amqp's basic_publish first reads whatever the broker sent: from a caller's green
    thread that could take half a frame from under the listener, so requests go out through
    send_method).

    A channel that can no longer reach a queue (RabbitMQ 3.10, docs/internals.md: its first
    publish to a quorum queue came while the queue's leader was down) is replaced. A request
    channel is on probation, in confirm mode, when opened on a reconnection (the node it replaces
    is likely down, and its queues without a leader yet) and after a call timed out: the broker
    nacks every request such a channel sends to a queue it cannot reach, and the listener then
    replaces it with a new one, again on probation. A channel that went PROBATION_SECONDS without
    a nack is replaced with an unconfirmed one, so the calls' fast path stays without confirms.
    A nacked request's call ends at its deadline, as a request lost with a broker node does."""

    class consumer_cls(ConsumerEndingOnRefusal, ReplyListener.ReplyConsumer):
        def requeue_message(self, message):
            pass  # a reply arriving as the gateway stops: its caller is stopping too

    class direct_consumer_cls(consumer_cls):
        call_channel = None  # the CallChannel whose requests go out on this consumer's connection

        def __init__(self, *args, **kwargs):
            super().__init__(*args, no_ack=True, **kwargs)

        def on_consume_ready(self, connection, channel, consumers, **kwargs):
            self.call_channel.use(channel.connection)
            super().on_consume_ready(connection, channel, consumers, **kwargs)

        def on_iteration(self):
            self.call_channel.tend()

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
        self.channel = None  # the request channel
        self.next_channel = Event()  # sent the request channel of the next (re)connection
        self.probation_ends = None  # while the request channel is on probation: when it ends
        self.nacked = None  # the last channel on which the broker nacked a request
        if self.direct:
            self.consumer.call_channel = self

    def use(self, connection):
        """The consumer (re)connected (in the listener's green thread): requests go out on a new
        channel of that connection, on probation after a reconnection."""
        self.open_request_channel(connection, on_probation=self.channel is not None)
        waiting, self.next_channel = self.next_channel, Event()
        waiting.send(self.channel)

    def open_request_channel(self, connection, on_probation: bool):
        """Makes a new channel of `connection` the request channel (in the listener's green
        thread, which may wait for the broker's answers); returns the one it replaces."""
        channel = connection.channel()
        channel.events["basic_return"].add(self.request_returned)
        self.probation_ends = None
        if on_probation:
            channel.confirm_select()
            self.watch_for_nacks(channel)
        replaced, self.channel = self.channel, channel
        return replaced

    def watch_for_nacks(self, channel):
        channel.events["basic_nack"].add(partial(self.request_nacked, channel))
        self.probation_ends = time.monotonic() + PROBATION_SECONDS

    def request_nacked(self, channel, delivery_tag, multiple):
        """The broker refused a request (in the listener's green thread): the channel cannot reach
        that request's queue, and tend() replaces it."""
        self.nacked = channel

    def tend(self):
        """Replaces the request channel, in the listener's green thread between two reads of the
        connection: a nacked one with one on probation again, one whose probation ended without
        a nack with an unconfirmed one. Otherwise two comparisons per read."""
        if self.nacked is not None and self.nacked is self.channel:
            log.warning(
                "the broker refused a request on channel %d (a quorum queue it cannot reach, "
                "RabbitMQ 3.10): %s",
                self.channel.channel_id,
                CHANNEL_REPLACED,
            )
            self.replace_request_channel(on_probation=True)
        elif self.probation_ends is not None and time.monotonic() >= self.probation_ends:
            self.replace_request_channel(on_probation=False)

    def replace_request_channel(self, on_probation: bool):
        replaced = self.open_request_channel(self.channel.connection, on_probation)
        # Callers that took the old channel just before find it closed and send on the new one.
        replaced.close()

    def suspect(self):
        """A call timed out (in its caller's green thread): its request may have been dropped by
        a channel that cannot reach its queue. The request channel goes on probation, so that
        the broker nacks the next request it sends to such a queue. Confirm.Select is sent
        without waiting for its answer: only the listener reads the connection."""
        channel = self.channel
        if not self.direct or self.probation_ends is not None or channel is None:
            return
        with contextlib.suppress(*BROKER_FAILURES):  # a channel that failed is replaced anyway
            channel.confirm_select(nowait=True)
            self.watch_for_nacks(channel)

    def send_request(self, request: amqp.Message, exchange: str, routing_key: str, mandatory):
        """Sends on the request channel; a channel that fails is given up for the one that
        replaces it, or the consumer's next connection's, waited for at most CHANNEL_WAIT_SECONDS
        in all."""
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
        super().__init__(delivery_mode=NON_PERSISTENT, retry_policy=PUBLISH_RETRY_POLICY)
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
            self.reply_listener.suspect()
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
