"""AMQP_URI names one RabbitMQ node, or several nodes of one cluster separated by `;`:

    AMQP_URI="pyamqp://user:pw@rabbit-1:5672/;pyamqp://user:pw@rabbit-2:5672/;pyamqp://user:pw@rabbit-3:5672/"

That is kombu's own failover list: every kombu Connection made from the string (nameko's
consumers and publishers, the services' replies, the gateway's call channel, the tools) connects
to the first node that answers, in order, and moves on to the next one when its node goes away;
a consumer that lost its node connects to another and declares its queues and consumes again.
Every node must name the same vhost and credentials (they are one cluster).
"""

from urllib.parse import unquote, urlsplit


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
