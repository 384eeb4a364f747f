"""Moving a site's classic queues, declared by versions before quorum queues, to quorum queues.

RabbitMQ refuses to declare a queue again with another type or other arguments
(PRECONDITION_FAILED, and the channel is closed): a service whose queue an earlier version
declared as a classic queue would fail at every connection attempt. So:

- `make run` migrates its own vhost's outdated queues before it starts the services, when they
  are empty: each is deleted (only if still empty and unused) and declared again as the service
  declares it, with its binding. It says which. One that holds messages stops `make run`, naming
  the command below.
- `make migrate-queues` (``python -m services.common.queue_migration [--dry-run]``) also moves the
  messages of the non-empty ones, with no site running on the vhost: they go, with publisher
  confirms, to a quorum queue `<queue>.migrating` bound as the queue is (so an event published
  meanwhile is kept too), the classic queue is deleted and declared again as a quorum queue, and
  they come back. A run that stops half-way is resumed by running it again. An event may so come
  twice, never zero times (handlers are idempotent); RPC requests keep their expiration.
- A service that finds one of its queues outdated at its start (services.common.container) does
  not start: it logs one line naming the queue and the command, and exits with 78 (EX_CONFIG,
  not restarted by `make run`'s supervisor).
"""

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import amqp.exceptions
from kombu import Connection, Queue
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc, get_rpc_exchange
from nameko.standalone.events import get_event_exchange

from services.common.config import load
from services.common.dead_letters import domain_service_classes
from services.common.handlers import (
    DEFAULT_RETRY_DELAYS,
    ReliableEventHandler,
    dead_letter_queue,
    handler_queue_arguments,
    retry_queue,
)
from services.common.queues import QUORUM_QUEUE, RPC_QUEUE_ARGUMENTS

MIGRATING_SUFFIX = ".migrating"
COMMAND = "make migrate-queues"


def rpc_queue(service_name: str) -> Queue:
    """A service's RPC queue, as nameko's RpcConsumer names and binds it (services.common.rpc)."""
    return Queue(
        f"rpc-{service_name}",
        exchange=get_rpc_exchange(),
        routing_key=f"{service_name}.*",
        durable=True,
        queue_arguments=RPC_QUEUE_ARGUMENTS,
    )


def service_queues(service_cls, retry_delays=DEFAULT_RETRY_DELAYS) -> list[Queue]:
    """Every durable queue a service class declares, with its arguments and binding."""
    queues = []
    for method_name, method in vars(service_cls).items():
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, Rpc) and not any(q.name.startswith("rpc-") for q in queues):
                queues.append(rpc_queue(service_cls.name))
            elif isinstance(entrypoint, ReliableEventHandler):
                # nameko's naming of a SERVICE_POOL handler's queue
                name = (
                    f"evt-{entrypoint.source_service}-{entrypoint.event_type}"
                    f"--{service_cls.name}.{method_name}"
                )
                handler = Queue(
                    name,
                    exchange=get_event_exchange(entrypoint.source_service),
                    routing_key=entrypoint.event_type,
                    durable=True,
                    queue_arguments=handler_queue_arguments(name),
                )
                delays = [retry_queue(name, delay) for delay in retry_delays]
                queues += [handler, *delays, dead_letter_queue(name)]
    return queues


def site_queues(retry_delays=DEFAULT_RETRY_DELAYS) -> list[Queue]:
    return [q for cls in domain_service_classes() for q in service_queues(cls, retry_delays)]


@dataclass(frozen=True)
class Outdated:
    queue: Queue
    messages: int
    consumers: int


def outdated(connection: Connection, queues: list[Queue]) -> Iterator[Outdated]:
    """The queues that exist with another type or other arguments than `queues` say."""
    for queue in queues:
        channel = connection.channel()
        try:
            found = channel.queue_declare(queue.name, passive=True)
        except amqp.exceptions.NotFound:
            continue  # declared as it should be when its service starts
        try:
            queue(channel).queue_declare()  # the same arguments: nothing happens
        except amqp.exceptions.PreconditionFailed:
            yield Outdated(queue, found.message_count, found.consumer_count)
            continue
        channel.close()


def recreate(connection: Connection, queue: Queue) -> None:
    """Deletes an outdated queue, if it is still empty and unused, and declares it as `queue`."""
    channel = connection.channel()
    channel.queue_delete(queue.name, if_unused=True, if_empty=True)
    queue(channel).declare()  # the queue, its exchange and its binding
    channel.close()


def move(connection: Connection, source: str, target: str) -> int:
    """Moves every message of queue `source` to queue `target`, each acked after the broker
    confirmed its copy; returns how many."""
    channel = connection.channel()
    moved = 0
    while (message := channel.basic_get(source)) is not None:
        channel.basic_publish_confirm(message, "", target)
        channel.basic_ack(message.delivery_tag)
        moved += 1
    channel.close()
    return moved


def holding_queue(queue: Queue) -> Queue:
    """Where a queue's messages wait while it is declared again: bound as the queue is, so an
    event published meanwhile waits there too."""
    return Queue(
        queue.name + MIGRATING_SUFFIX,
        exchange=queue.exchange,
        routing_key=queue.routing_key,
        durable=True,
        queue_arguments=QUORUM_QUEUE,
    )


def drain(connection: Connection, queue: Queue) -> int:
    """Moves a non-empty outdated queue's messages into its quorum successor; returns how many."""
    holding = holding_queue(queue)
    holding(connection.channel()).declare()
    moved = 0
    while True:
        moved += move(connection, queue.name, holding.name)
        try:
            recreate(connection, queue)
            break
        except amqp.exceptions.PreconditionFailed:
            continue  # a message came in after the last one was moved: move it too
    finish(connection, queue)
    return moved


def finish(connection: Connection, queue: Queue) -> int:
    """Moves the holding queue's messages into the queue, declared again, and deletes it;
    returns how many. The holding queue stops receiving first (quorum queues cannot be
    deleted "if empty"): the queue is bound again, events go there."""
    holding = holding_queue(queue)
    channel = connection.channel()
    if holding.exchange.name:
        channel.queue_unbind(holding.name, holding.exchange.name, holding.routing_key)
    moved = move(connection, holding.name, queue.name)
    channel.queue_delete(holding.name)
    channel.close()
    return moved


def unfinished(connection: Connection, queues: list[Queue]) -> Iterator[Queue]:
    """The queues whose drain stopped half-way: their holding queue is still there."""
    for queue in queues:
        channel = connection.channel()
        try:
            channel.queue_declare(queue.name + MIGRATING_SUFFIX, passive=True)
        except amqp.exceptions.NotFound:
            continue
        channel.close()
        yield queue


def migrate(amqp_uri: str, queues: list[Queue], say: Callable[[str], None], drain_full=False):
    """Migrates the outdated ones of `queues`; returns the names of those left (holding
    messages, not drained)."""
    left = []
    with Connection(amqp_uri) as connection:
        for old in list(outdated(connection, queues)):
            name = old.queue.name
            if old.consumers:
                left.append(name)
                say(f"{name}: a classic queue with {old.consumers} consumer(s): stop them first")
            elif old.messages == 0 and recreated(connection, old.queue):
                say(f"{name}: an empty classic queue, declared again as a quorum queue")
            elif drain_full:
                moved = drain(connection, old.queue)
                say(f"{name}: moved its {moved} message(s) into it as a quorum queue")
            else:
                left.append(name)
                held = old.messages or "new"
                say(f"{name}: a classic queue holding {held} message(s): `{COMMAND}`")
        for queue in list(unfinished(connection, queues)):
            if drain_full:
                moved = finish(connection, queue)
                say(f"{queue.name}: finished moving its messages ({moved} more)")
            else:
                left.append(queue.name)
                say(f"{queue.name}: a move of its messages was interrupted: `{COMMAND}`")
    return left


def recreated(connection: Connection, queue: Queue) -> bool:
    """Whether an empty outdated queue was declared again; False if a message came in first."""
    try:
        recreate(connection, queue)
    except amqp.exceptions.PreconditionFailed:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="list the outdated queues only")
    args = parser.parse_args(argv)
    settings = load()
    queues = site_queues(settings.get("EVENT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))
    if args.dry_run:
        with Connection(settings["AMQP_URI"]) as connection:
            found = list(outdated(connection, queues))
        for old in found:
            print(f"{old.queue.name}: outdated, {old.messages} message(s)")
        print(f"{len(found)} outdated queue(s)")
        return 0
    left = migrate(settings["AMQP_URI"], queues, print, drain_full=True)
    print("every queue is a quorum queue" if not left else f"{len(left)} queue(s) left")
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
