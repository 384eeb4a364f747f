"""See and replay the events that handlers gave up on (see services/common/handlers.py).

From a shell in the checkout (the make target runs it with the venv's Python)::

    make dead-letters ARGS="list"
    make dead-letters ARGS="show evt-videos-youtube_video_added--search.index_video"
    make dead-letters ARGS="replay [QUEUE]"
    make dead-letters ARGS="discard [QUEUE] [--yes]"

or in `make shell`::

    >>> from services.common.dead_letters import DeadLetters
    >>> DeadLetters().counts()

The handler queues are found in the services' code (every ``@on_event`` method of every domain
service), so nothing depends on the broker's management plugin. Replaying moves each dead letter
back to its handler's queue with a fresh retry budget; the handler, being idempotent, may see it
again safely. Discarding drops them for good, after asking (``--yes`` for scripts). Both take only
the dead letters counted when they start: one that dies meanwhile waits for the next time.
"""

import argparse
import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from amqp.exceptions import NotFound
from kombu import Connection
from nameko import config
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services import DOMAIN_SERVICES
from services.common.handlers import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    ReliableEventHandler,
    dead_letter_queue,
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

    def counts(self, queue_name: str | None = None) -> dict[str, int]:
        """Dead letters waiting, per handler queue (all, or the one named); handlers that never
        failed for good have no dead-letter queue yet and are left out."""
        counts = {}
        with self.connection() as connection:
            for name in [queue_name] if queue_name else self.handler_queues:
                channel = connection.channel()
                try:
                    _, count, _ = dead_letter_queue(name)(channel).queue_declare(passive=True)
                except NotFound:
                    continue
                finally:
                    if channel.is_open:
                        channel.close()
                counts[name] = count
        return counts

    def show(self, queue_name: str, limit: int = 20) -> list[DeadLetter]:
        """The first `limit` dead letters of a handler, left where they are."""
        with self.connection() as connection:
            channel = connection.channel()
            dead = dead_letter_queue(queue_name)(channel)
            letters = []
            try:
                while len(letters) < limit and (message := dead.get(no_ack=False)) is not None:
                    letters.append(
                        DeadLetter(
                            queue=queue_name,
                            attempts=int(message.headers.get(ATTEMPTS_HEADER, 0)),
                            error=str(message.headers.get(ERROR_HEADER, "")),
                            payload=message.decode(),
                        )
                    )
            except NotFound:
                return []  # the handler never failed for good: no dead-letter queue yet
            finally:
                # Closing the channel without acking puts every message back, in order.
                if channel.is_open:
                    channel.close()
        return letters

    def replay(self, queue_name: str | None = None) -> int:
        """Move dead letters back to their handler's queue (one or all); returns how many."""
        with self.connection() as connection:
            producer = connection.Producer()

            def back_to_its_handler(name, message):
                headers = {
                    key: value
                    for key, value in message.headers.items()
                    if key not in (ATTEMPTS_HEADER, ERROR_HEADER, "x-death")
                }
                republish(producer, message, name, headers)

            return self.take(connection, self.counts(queue_name), back_to_its_handler)

    def discard(self, counts: dict[str, int]) -> int:
        """Drop for good the first `counts[queue]` dead letters of each handler queue (the counts
        the operator confirmed); returns how many."""
        with self.connection() as connection:
            return self.take(connection, counts, lambda name, message: None)

    def take(self, connection, counts: dict[str, int], handle) -> int:
        """Up to `counts[queue]` dead letters of each queue, oldest first, each passed to
        `handle(queue, message)` and then removed; returns how many."""
        taken = 0
        for name, count in counts.items():
            channel = connection.channel()
            try:
                dead = dead_letter_queue(name)(channel)
                for _ in range(count):
                    message = dead.get(no_ack=False)
                    if message is None:
                        break
                    handle(name, message)
                    message.ack()
                    taken += 1
            finally:
                if channel.is_open:
                    channel.close()
        return taken


def confirmed(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:  # no terminal to answer: no
        print()
        return False


def main(argv: list[str] | None = None) -> None:
    from services.common.config import load

    parser = argparse.ArgumentParser(prog="make dead-letters ARGS=...")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="dead letters waiting, per handler queue")
    show = commands.add_parser("show", help="print a handler's dead letters with their errors")
    show.add_argument("queue")
    show.add_argument("--limit", type=int, default=20)
    replay = commands.add_parser("replay", help="send dead letters back to their handlers")
    replay.add_argument("queue", nargs="?")
    discard = commands.add_parser("discard", help="drop dead letters for good, after asking")
    discard.add_argument("queue", nargs="?")
    discard.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    args = parser.parse_args(argv)

    dead_letters = DeadLetters(amqp_uri=load()["AMQP_URI"])
    queue = getattr(args, "queue", None)
    if queue is not None and queue not in dead_letters.handler_queues:
        parser.error(
            f"{queue} is not a handler queue; they are:\n  "
            + "\n  ".join(dead_letters.handler_queues)
        )
    if args.command == "list":
        for queue_name, count in dead_letters.counts().items():
            print(f"{count:6d}  {queue_name}")
    elif args.command == "show":
        letters = dead_letters.show(queue, args.limit)
        for letter in letters:
            print(json.dumps(letter.payload, indent=2, default=str))
            print(f"attempts: {letter.attempts}\n{letter.error}\n")
        if not letters:
            print(f"no dead letters for {queue}")
    elif args.command == "replay":
        print(f"replayed {dead_letters.replay(queue)} dead letter(s)")
    else:
        counts = {name: count for name, count in dead_letters.counts(queue).items() if count}
        total = sum(counts.values())
        if not total:
            print(f"no dead letters{f' for {queue}' if queue else ''}")
            return
        for queue_name, count in counts.items():
            print(f"{count:6d}  {queue_name}")
        if args.yes or confirmed(f"Discard these {total} dead letter(s) for good?"):
            print(f"discarded {dead_letters.discard(counts)} dead letter(s)")
        else:
            print("nothing discarded")


if __name__ == "__main__":
    main()
