"""A consumer of KillrVideo's events that is not a nameko service: plain kombu.

    python -m examples.event_consumer [--durable] [--queue NAME] [--count N]

It declares its own queue, binds it to every KillrVideo service's events exchange for all routing
keys, and prints each event as one JSON line: `{"source", "event", "payload"}`.

By default the queue is exclusive to this consumer: the broker deletes it as soon as the consumer
exits or its connection drops, and with it anything not yet handled. Nothing piles up after it
is gone, and it sees only the events published while it runs. With `--durable` the queue is
durable and stays after the consumer exits, collecting events until it comes back: that is what a
real consumer wants, and the queue must be deleted by hand once it is no longer wanted (the
management UI, or `rabbitmqctl delete_queue NAME`), or it keeps filling.

Each message is acknowledged only after it has been handled (printed): with `--durable`, an event
is never lost if the consumer dies, and may be seen twice (after a crash before the ack): real
consumers make their handling idempotent. The contract is docs/events.md.

The broker is $AMQP_URI (default: the local one).
"""

import argparse
import contextlib
import json
import os
import sys

from kombu import Connection, Consumer, Exchange, Queue, binding

# The services that publish events (docs/events.md).
SOURCES = ("users", "videos", "ratings", "comments")
DEFAULT_AMQP_URI = "pyamqp://guest:guest@127.0.0.1:5672/"
DURABLE_QUEUE = "example-event-consumer"


def event_queue(name: str | None, durable: bool) -> Queue:
    """A queue bound to every source's topic exchange, for every event ("#"): durable, or
    exclusive to this consumer's connection (named by the broker unless `name` is given)."""
    # Declaring each exchange as its publisher does lets this consumer start before the services.
    bindings = [
        binding(Exchange(f"{source}.events", type="topic", durable=True), routing_key="#")
        for source in SOURCES
    ]
    if durable:
        return Queue(name or DURABLE_QUEUE, bindings=bindings, durable=True)
    return Queue(name or "", bindings=bindings, exclusive=True, durable=False, auto_delete=True)


def consume(amqp_uri: str, queue: Queue, count: int | None = None, out=sys.stdout) -> None:
    handled = 0

    def handle(body, message):
        nonlocal handled
        source = message.delivery_info["exchange"].removesuffix(".events")
        event = message.delivery_info["routing_key"]
        print(json.dumps({"source": source, "event": event, "payload": body}), file=out, flush=True)
        message.ack()
        handled += 1

    with (
        Connection(amqp_uri) as connection,
        Consumer(connection, [queue], callbacks=[handle], accept=["json"]) as consumer,
    ):
        # The consumer declared its own copy of the queue: it has the broker's name, if any.
        [declared] = consumer.queues
        print(f"ready: consuming {declared.name}", file=sys.stderr, flush=True)
        while count is None or handled < count:
            connection.drain_events()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.event_consumer")
    parser.add_argument(
        "--durable",
        action="store_true",
        help="a durable queue that stays, collecting events, after this consumer exits",
    )
    parser.add_argument(
        "--queue", help=f"the queue's name (default: {DURABLE_QUEUE} if durable, else the broker's)"
    )
    parser.add_argument("--count", type=int, help="stop after this many events")
    args = parser.parse_args()
    queue = event_queue(args.queue, args.durable)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
        consume(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), queue, args.count)


if __name__ == "__main__":
    main()
