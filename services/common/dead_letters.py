"""See and replay the events that handlers gave up on (see services/common/handlers.py).

From a shell::

    python -m services.common.dead_letters list
    python -m services.common.dead_letters show evt-videos-youtube_video_added--search.index_video
    python -m services.common.dead_letters replay [QUEUE]

or in `make shell`::

    >>> from services.common.dead_letters import DeadLetters
    >>> DeadLetters().counts()

The handler queues are found in the services' code (every ``@on_event`` method of every domain
service), so nothing depends on the broker's management plugin. Replaying moves each dead letter
back to its handler's queue with a fresh retry budget; the handler, being idempotent, may see it
again safely.
"""

import argparse
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from amqp.exceptions import NotFound
from kombu import Connection, Queue
from nameko import config
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services import DOMAIN_SERVICES
from services.common.handlers import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    ReliableEventHandler,
    dead_letter_queue_name,
    republish,
)


def handler_queue_names(service_cls) -> Iterator[str]:
    """The queues nameko declares for the class's `@on_event` handlers (its naming scheme)."""
    for method_name, method in vars(service_cls).items():
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, ReliableEventHandler):
                yield (
                    f"evt-{entrypoint.source_service}-{entrypoint.event_type}"
                    f"--{service_cls.name}.{method_name}"
                )


def domain_service_classes() -> Iterator[type]:
    for name in DOMAIN_SERVICES:
        module = importlib.import_module(f"services.{name}.service")
        yield from (
            value
            for value in vars(module).values()
            if isinstance(value, type) and getattr(value, "name", None) == name
        )


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    attempts: int
    error: str
    payload: object


class DeadLetters:
    def __init__(self, amqp_uri: str | None = None, handler_queues: list[str] | None = None):
        self.amqp_uri = amqp_uri or config["AMQP_URI"]
        self.handler_queues = handler_queues or [
            queue for cls in domain_service_classes() for queue in handler_queue_names(cls)
        ]

    def connection(self) -> Connection:
        return Connection(self.amqp_uri, transport_options={"confirm_publish": True})

    def counts(self) -> dict[str, int]:
        """Dead letters waiting, per handler queue (handlers that never ran are left out)."""
        counts = {}
        with self.connection() as connection:
            for queue_name in self.handler_queues:
                channel = connection.channel()
                try:
                    _, count, _ = Queue(dead_letter_queue_name(queue_name), durable=True)(
                        channel
                    ).queue_declare(passive=True)
                except NotFound:
                    continue
                finally:
                    if channel.is_open:
                        channel.close()
                counts[queue_name] = count
        return counts

    def show(self, queue_name: str, limit: int = 20) -> list[DeadLetter]:
        """The first `limit` dead letters of a handler, left where they are."""
        with self.connection() as connection:
            channel = connection.channel()
            dead = Queue(dead_letter_queue_name(queue_name), durable=True)(channel)
            letters = []
            while len(letters) < limit and (message := dead.get(no_ack=False)) is not None:
                letters.append(
                    DeadLetter(
                        queue=queue_name,
                        attempts=int(message.headers.get(ATTEMPTS_HEADER, 0)),
                        error=str(message.headers.get(ERROR_HEADER, "")),
                        payload=message.decode(),
                    )
                )
            # Closing the channel without acking puts every message back, in order.
            channel.close()
        return letters

    def replay(self, queue_name: str | None = None) -> int:
        """Move dead letters back to their handler's queue (one or all); returns how many."""
        moved = 0
        with self.connection() as connection:
            producer = connection.Producer()
            for name in [queue_name] if queue_name else self.handler_queues:
                channel = connection.channel()
                try:
                    dead = Queue(dead_letter_queue_name(name), durable=True)(channel)
                    _, waiting, _ = dead.queue_declare(passive=True)
                except NotFound:
                    continue
                # Only what was there at the start: a letter that dies again waits for next time.
                for _ in range(waiting):
                    message = dead.get(no_ack=False)
                    if message is None:
                        break
                    headers = {
                        key: value
                        for key, value in message.headers.items()
                        if key not in (ATTEMPTS_HEADER, ERROR_HEADER, "x-death")
                    }
                    republish(producer, message, name, headers)
                    message.ack()
                    moved += 1
                channel.close()
        return moved


def main(argv: list[str] | None = None) -> None:
    from services.common.config import load

    parser = argparse.ArgumentParser(prog="python -m services.common.dead_letters")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="dead letters waiting, per handler queue")
    show = commands.add_parser("show", help="print a handler's dead letters with their errors")
    show.add_argument("queue")
    show.add_argument("--limit", type=int, default=20)
    replay = commands.add_parser("replay", help="send dead letters back to their handlers")
    replay.add_argument("queue", nargs="?")
    args = parser.parse_args(argv)

    dead_letters = DeadLetters(amqp_uri=load()["AMQP_URI"])
    if args.command == "list":
        for queue_name, count in dead_letters.counts().items():
            print(f"{count:6d}  {queue_name}")
    elif args.command == "show":
        for letter in dead_letters.show(args.queue, args.limit):
            print(json.dumps(letter.payload, indent=2, default=str))
            print(f"attempts: {letter.attempts}\n{letter.error}\n")
    else:
        print(f"replayed {dead_letters.replay(args.queue)} dead letter(s)")


if __name__ == "__main__":
    main()
