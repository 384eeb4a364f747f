"""One site per RabbitMQ vhost.

Two sites on one vhost consume the same `rpc-<service>` queues, and the broker hands each request
to either: half of a site's calls are answered from the other site's database, silently. So
`make run` asks the broker, before it starts anything, whether some process already consumes
those queues (a passive queue_declare returns the consumer count: no management plugin needed).
"""

import amqp.exceptions
import kombu

from services import DOMAIN_SERVICES
from services.common import brokers


class VhostUnusable(RuntimeError):
    """The vhost is missing, refused, or serves another site; the message says what to do."""


vhost_of = brokers.vhost_of


def broker_of(amqp_uri: str) -> str:
    """The broker (its nodes) and vhost of AMQP_URI, to print: never the URI itself, which has
    the password."""
    return f"{brokers.hosts_of(amqp_uri)}, vhost {vhost_of(amqp_uri)}"


def consumers(amqp_uri: str) -> dict[str, int]:
    """The `rpc-<service>` queues of the vhost that have consumers, with their counts."""
    counts = {}
    with kombu.Connection(amqp_uri, connect_timeout=5) as connection:
        try:
            # One attempt per node (AMQP_URI may list a cluster's: services.common.brokers).
            connection.ensure_connection(
                max_retries=brokers.connect_attempts(amqp_uri), reraise_as_library_errors=False
            )
        except amqp.exceptions.AccessRefused as refused:
            raise VhostUnusable(_refused(amqp_uri, refused)) from None
        except amqp.exceptions.NotAllowed:
            raise VhostUnusable(_missing(amqp_uri)) from None
        except OSError as error:
            silent = f"RabbitMQ does not answer at {broker_of(amqp_uri)}: {error}"
            raise VhostUnusable(silent) from None
        for service in DOMAIN_SERVICES:
            queue = f"rpc-{service}"
            channel = connection.channel()
            try:
                declared = channel.queue_declare(queue, passive=True)
            except amqp.exceptions.NotFound:
                continue  # no queue, no consumer (the broker closed that channel)
            channel.close()
            if declared.consumer_count:
                counts[queue] = declared.consumer_count
    return counts


def check_free(amqp_uri: str) -> None:
    """Raises VhostUnusable unless this site's vhost exists and no other site consumes it."""
    taken = consumers(amqp_uri)
    if taken:
        listed = ", ".join(f"{queue} has {count} consumer(s)" for queue, count in taken.items())
        raise VhostUnusable(
            f"RabbitMQ vhost {vhost_of(amqp_uri)!r} already serves a site ({listed}): two sites "
            "on one vhost answer each other's calls. Stop that site (`make stop`, with its "
            "KILLRVIDEO_VAR_DIR), or give this one a vhost of its own, e.g. "
            "AMQP_URI=pyamqp://USER:PASSWORD@HOST:5672/killrvideo2 (on this machine's broker "
            "`make run` creates it)."
        )


def _missing(amqp_uri: str) -> str:
    vhost, user = vhost_of(amqp_uri), brokers.user_of(amqp_uri) or "guest"
    return (
        f"RabbitMQ has no vhost {vhost!r} (AMQP_URI). Create it on the broker: "
        f"rabbitmqctl add_vhost {vhost} && "
        f"rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'"
    )


def _refused(amqp_uri: str, refused: Exception) -> str:
    user = brokers.user_of(amqp_uri) or "guest"
    return f"RabbitMQ refused user {user!r} on vhost {vhost_of(amqp_uri)!r}: {refused}"
