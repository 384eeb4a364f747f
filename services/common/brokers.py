"""AMQP_URI names one RabbitMQ node, or several nodes of one cluster separated by `;`:

    AMQP_URI="pyamqp://user:pw@rabbit-1:5672/;pyamqp://user:pw@rabbit-2:5672/;pyamqp://user:pw@rabbit-3:5672/"

That is kombu's own failover list: every kombu Connection made from the string (nameko's
consumers and publishers, the services' replies, the gateway's call channel, the tools) connects
to the first node that answers, in order, and moves on to the next one when its node goes away;
a consumer that lost its node connects to another and declares its queues and consumes again.
Every node must name the same vhost and credentials (they are one cluster).

A broker that refuses a process (a vhost it does not have or does not let the user into, or
credentials it refuses) is a configuration error, which waiting does not mend: the process says
why in one line and exits with EXIT_CONFIGURATION_ERROR, whether the broker refuses it as it
starts (services.common.container) or later, when a consumer connects again
(ConsumerEndingOnRefusal: a vhost deleted, a password or a permission changed under a running
site).
"""

import logging
from contextlib import ExitStack, contextmanager
from urllib.parse import unquote, urlsplit

from amqp.exceptions import AccessRefused, NotAllowed
from nameko.amqp.consume import Consumer as NamekoConsumer

log = logging.getLogger(__name__)

EXIT_CONFIGURATION_ERROR = 78  # EX_CONFIG, sysexits.h: not worth a restart (scripts/supervision.py)


class BrokerRefused(SystemExit):
    """Ends the process without a traceback: the line logged before it says it all. (Raised in
    a green thread of the process, it reaches the main one through eventlet's hub, which passes
    SystemExit on rather than printing it.)"""

    def __init__(self):
        super().__init__(EXIT_CONFIGURATION_ERROR)


def nodes(amqp_uri: str) -> list[str]:
    """The URI of each node AMQP_URI names, in order."""
    return [node.strip() for node in amqp_uri.split(";") if node.strip()]


def vhost_of(amqp_uri: str) -> str:
    return unquote(urlsplit(nodes(amqp_uri)[0]).path[1:]) or "/"


def user_of(amqp_uri: str) -> str | None:
    return urlsplit(nodes(amqp_uri)[0]).username


def hosts_of(amqp_uri: str) -> str:
    """Each node's host:port, to print: never the URIs, which carry the password."""
    return ", ".join(
        f"{address.hostname}:{address.port or 5672}" for address in map(urlsplit, nodes(amqp_uri))
    )


def connect_attempts(amqp_uri: str) -> int:
    """The retries (kombu's max_retries) that try every node once, without a pause between
    them: kombu waits only once it has tried the whole list."""
    return len(nodes(amqp_uri)) - 1


def refusal_of(amqp_uri: str, error: BaseException) -> str | None:
    """What the broker's refusal `error` says, naming the vhost or the user, never the password;
    None when `error` is not a refusal (a broker down or unreachable: worth waiting for)."""
    # RabbitMQ answers a vhost that is only down (its processes restarting, on a node that is
    # recovering) with the same code as one that does not exist or is forbidden: that one is
    # waited for, as a broker that is down.
    if isinstance(error, NotAllowed) and " is down" not in str(error.reply_text):
        refused = f"vhost {vhost_of(amqp_uri)!r}"
    elif isinstance(error, AccessRefused):
        refused = f"user {user_of(amqp_uri)!r}"
    else:
        return None
    return f"RabbitMQ at {hosts_of(amqp_uri)} refused {refused}: {error.reply_text}"


class ConsumerEndingOnRefusal(NamekoConsumer):
    """nameko's consumer (kombu's ConsumerMixin), which retries a refused connection once a
    second for ever, logging a traceback each time; this one ends the process instead, with one
    line. Every consumer of ours is one: the services' RPC and event consumers, the gateway's."""

    @contextmanager
    def establish_connection(self):
        with ExitStack() as connected:
            try:
                connection = connected.enter_context(super().establish_connection())
            except Exception as error:
                refused = refusal_of(self.amqp_uri, error)
                if refused is None:
                    raise  # down or unreachable: kombu's consumer tries again
                log.critical("stopping: %s", refused)
                raise BrokerRefused() from None
            yield connection
