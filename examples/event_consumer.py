"""A consumer of KillrVideo's events that is not a nameko service: plain kombu.

    python -m examples.event_consumer [--queue NAME] [--count N]

It declares its own durable queue, binds it to every KillrVideo service's events exchange for all
routing keys, and prints each event as one JSON line: `{"source", "event", "payload"}`. Each
message is acknowledged only after it has been handled (printed), so an event is never lost if
the consumer dies, and may be seen twice (after a crash before the ack): real consumers make their
handling idempotent. The contract is docs/events.md.

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


def event_queue(name: str) -> Queue:
    """A durable queue bound to every source's topic exchange, for every event ("#")."""
    # Declaring each exchange as its publisher does lets this consumer start before the services.
    bindings = [
        binding(Exchange(f"{source}.events", type="topic", durable=True), routing_key="#")
        for source in SOURCES
    ]
    return Queue(name, bindings=bindings, durable=True)


def consume(amqp_uri: str, queue_name: str, count: int | None, out=sys.stdout) -> None:
    handled = 0

    def handle(body, message):
        nonlocal handled
        source = message.delivery_info["exchange"].removesuffix(".events")
        event = message.delivery_info["routing_key"]
        print(json.dumps({"source": source, "event": event, "payload": body}), file=out, flush=True)
        message.ack()
        handled += 1

    with Connection(amqp_uri) as connection:
        queue = event_queue(queue_name)
        with Consumer(connection, [queue], callbacks=[handle], accept=["json"]):
            print(f"ready: consuming {queue_name}", file=sys.stderr, flush=True)
            while count is None or handled < count:
                connection.drain_events()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.event_consumer")
    parser.add_argument("--queue", default="example-event-consumer")
    parser.add_argument("--count", type=int, help="stop after this many events")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
        consume(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), args.queue, args.count)


if __name__ == "__main__":
    main()
