"""The event-publishing convention: named events with a marshmallow schema, published after the
write they announce has succeeded.

Each service lists its events in its own `events.py` as ``Event(name, Schema)``; the service name
is the event's source (nameko's topic exchange ``<service>.events``, routing key ``<name>``). The
payload is dumped and validated with the schema on the way out, and consumers load it with the same
schema, so the documented contract (docs/events.md) is what travels. Messages are persistent and
published with confirms (nameko's defaults), so an acknowledged publish is not lost by the broker.
"""

from dataclasses import dataclass

from amqp.exceptions import MessageNacked
from marshmallow import Schema
from nameko.events import EventDispatcher
from nameko.messaging import encode_to_headers

from services.common import deadlines
from services.common.errors import BackendUnavailable
from services.common.rpc import BROKEN_CONNECTION
from services.common.schemas import shared


@dataclass(frozen=True)
class Event:
    name: str
    schema: type[Schema]

    def dump(self, payload: dict) -> dict:
        schema = shared(self.schema)
        data = schema.dump(payload)
        errors = schema.validate(data)
        if errors:
            raise ValueError(f"event {self.name} payload does not match its schema: {errors}")
        return data

    def load(self, data: dict) -> dict:
        return shared(self.schema).load(data)


# What a publish the broker did not confirm raises once nameko's retries are spent: a connection
# that failed, or a nack (a quorum queue whose leader was on a node that just went away).
BROKER_REFUSED = (*BROKEN_CONNECTION, MessageNacked)


class EventPublisher(EventDispatcher):
    """Injects ``publish(event, payload)``: nameko's dispatch, less the request's deadline.

    nameko passes the publishing worker's context data on to the event's handlers. A deadline
    is not theirs to keep: an event is owed its handling whatever the caller of the request
    that published it does (services.common.deadlines)."""

    def get_dependency(self, worker_ctx):
        def publish(event: Event, payload: dict) -> None:
            context_data = deadlines.without_deadline(worker_ctx.context_data)
            try:
                self.publisher.publish(
                    event.dump(payload),
                    exchange=self.exchange,
                    routing_key=event.name,
                    extra_headers=encode_to_headers(context_data),
                )
            except BROKER_REFUSED as error:
                # The write is done, its event is not: the caller learns that the broker
                # failed (UNAVAILABLE) and calls again, which the services' writes allow
                # (idempotent), and which publishes the event again.
                raise BackendUnavailable(
                    f"the broker did not take the {event.name} event: {error!r}"
                ) from None

        return publish
