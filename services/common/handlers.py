"""Event handlers that lose nothing: retry with backoff, then a dead-letter queue.

``@on_event("videos", YOUTUBE_VIDEO_ADDED)`` is nameko's ``event_handler`` (a durable queue per
handler, ``evt-<source>-<event>--<service>.<method>``) with two changes:

- The payload is loaded with the event's schema before the handler runs, so the handler gets
  typed values (UUIDs, datetimes). A payload that does not match the schema can never succeed: it
  goes straight to the dead letters.
- A handler that raises does not drop the event (nameko acks it) nor spin on it (nameko's
  ``requeue_on_error``). The message is copied to a delay queue ``<queue>.retry.<ms>ms``, which
  hands it back to the handler's queue when its TTL expires; the delays come from the config key
  ``EVENT_RETRY_DELAYS`` (seconds). After the last delay it is copied to ``<queue>.dead`` with the
  error, where it stays until an operator replays it (``services.common.dead_letters``). The copy
  is published with confirms before the original is acked, so a crash in between delivers twice,
  never zero times: handlers must be idempotent.

Every one of these queues is a RabbitMQ quorum queue (replicated over the cluster's nodes, see
services.common.queues). The handler's queue also has a delivery limit: an event that kills
its consumer (the process dies before it settles it) every time it is delivered, so that no
retry can be made, goes to the dead letters after EVENT_DELIVERY_LIMIT deliveries rather than
take down every replica in turn for ever.
"""

import logging
import traceback

from kombu import Exchange, Queue
from marshmallow import ValidationError
from nameko import config
from nameko.amqp.publish import Publisher
from nameko.events import EventHandler

from services.common import metrics
from services.common.brokers import ConsumerEndingOnRefusal
from services.common.events import Event
from services.common.queues import QUORUM_QUEUE
from services.common.rpc import BROKEN_CONNECTION

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (1, 5, 30, 300)
# Deliveries of one event that end with its consumer gone (a crash, kill -9, a lost connection)
# before the event goes to the dead letters: enough for restarts and broker failovers.
EVENT_DELIVERY_LIMIT = 20
ATTEMPTS_HEADER = "x-killrvideo-attempts"
ERROR_HEADER = "x-killrvideo-error"
MAX_ERROR_LENGTH = 2000

# Publishing to the default exchange with a queue's name as routing key reaches exactly that
# queue: a retried event goes back to the handler that failed, not to every subscriber.
DIRECT_TO_QUEUE = Exchange("")


def retry_queue_name(queue_name: str, delay_seconds: float) -> str:
    # The delay is in the name because a queue's TTL cannot change once declared: new delays
    # get new queues, and the old ones drain.
    return f"{queue_name}.retry.{round(delay_seconds * 1000)}ms"


def dead_letter_queue_name(queue_name: str) -> str:
    return f"{queue_name}.dead"


def handler_queue_arguments(queue_name: str) -> dict:
    return {
        **QUORUM_QUEUE,
        "x-delivery-limit": EVENT_DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dead_letter_queue_name(queue_name),
    }


def retry_queue(queue_name: str, delay_seconds: float) -> Queue:
    return Queue(
        retry_queue_name(queue_name, delay_seconds),
        durable=True,
        auto_delete=False,
        queue_arguments={
            **QUORUM_QUEUE,
            "x-message-ttl": round(delay_seconds * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue_name,
            # The broker hands an expired event back with confirms of its own (RabbitMQ 3.10+):
            # the default, at-most-once, would lose it if the handler's queue lost its leader
            # at that moment. It requires the overflow behaviour reject-publish.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


def dead_letter_queue(queue_name: str) -> Queue:
    return Queue(
        dead_letter_queue_name(queue_name),
        durable=True,
        auto_delete=False,
        queue_arguments=QUORUM_QUEUE,
    )


def republish(publisher, message, queue_name: str, headers: dict) -> None:
    """Copy a received message's body, with `headers`, to the queue named `queue_name`, with a
    nameko Publisher or a kombu Producer (their publish() take the same arguments)."""
    publisher.publish(
        message.body,
        exchange=DIRECT_TO_QUEUE,
        routing_key=queue_name,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers=headers,
        delivery_mode=2,  # persistent, as the event was
    )


class ReliableEventHandler(EventHandler):
    consumer_cls = ConsumerEndingOnRefusal

    def __init__(self, source_service: str, event: Event, **kwargs):
        super().__init__(source_service, event.name, **kwargs)
        self.event = event

    def setup(self):
        super().setup()
        # nameko built the queue (its name and binding) without arguments; its consumer declares
        # it when it connects, with these.
        self.queue.queue_arguments = handler_queue_arguments(self.queue.name)
        self.retry_delays = tuple(config.get("EVENT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))
        self.retry_queues = [retry_queue(self.queue.name, delay) for delay in self.retry_delays]
        self.dead_letters = dead_letter_queue(self.queue.name)
        self.publisher = Publisher(
            self.amqp_uri, declare=[*self.retry_queues, self.dead_letters], use_confirms=True
        )

    def handle_message(self, body, message):
        try:
            payload = self.event.load(body)
        except ValidationError as error:
            log.error("%s: payload does not match %s: %s", self.queue.name, self.event.name, error)
            self.settle(message, failure=f"invalid payload: {error.messages}", retryable=False)
            return
        super().handle_message(payload, message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        failure = None
        if exc_info is not None:
            failure = "".join(traceback.format_exception(*exc_info))
        self.settle(message, failure)

    def settle(self, message, failure: str | None, retryable: bool = True) -> None:
        """Ack the message, after handing a failed one on to its retry or dead-letter queue."""
        try:
            if failure is not None:
                try:
                    self.hand_on(message, failure, retryable)
                except Exception:
                    # The broker refused the copy: keep the original, it will be delivered again.
                    log.exception(
                        "%s: could not hand a failed event on; requeueing", self.queue.name
                    )
                    self.consumer.requeue_message(message)
                    return
            self.consumer.ack_message(message)
        except BROKEN_CONNECTION as error:
            log.warning(
                "%s: lost the broker settling an event (%r); it will come again",
                self.queue.name,
                error,
            )

    def hand_on(self, message, failure: str, retryable: bool) -> None:
        attempts = int(message.headers.get(ATTEMPTS_HEADER, 0)) + 1
        headers = {ATTEMPTS_HEADER: attempts, ERROR_HEADER: failure[-MAX_ERROR_LENGTH:]}
        if retryable and attempts <= len(self.retry_queues):
            target = self.retry_queues[attempts - 1].name
            log.warning(
                "%s failed (attempt %d), retrying in %ss: %s",
                self.queue.name,
                attempts,
                self.retry_delays[attempts - 1],
                failure.strip().splitlines()[-1],
            )
        else:
            target = self.dead_letters.name
            log.error(
                "%s failed for good after %d attempt(s); kept in %s:\n%s",
                self.queue.name,
                attempts,
                target,
                failure,
            )
        republish(self.publisher, message, target, {**message.headers, **headers})
        metrics.count_handed_on(self, dead=target == self.dead_letters.name)


def on_event(source_service: str, event: Event, **kwargs):
    """Decorate a service method to handle `event` published by `source_service`."""
    return ReliableEventHandler.decorator(source_service, event, **kwargs)
