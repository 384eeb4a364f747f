"""nameko's publishing through pools of producers that stay bound to their connection, without a
kombu Connection built per message, nor one closed per message that no queue takes.

nameko looks up the producer pool of every message it publishes by building a kombu Connection
from its URI and options (nameko.amqp.publish.get_producer), which kombu then hashes: that took
4% of the videos service's instructions per GetVideo, one reply. Here each pool is looked up
once per set of arguments, and is a WarmProducers of the same size as kombu's.

A confirmed, mandatory publish that no queue takes (a nameko RPC client's call to a service that
never ran) comes back from the broker as a return, then its confirm. py-amqp raises at the
return, and nameko turns that into UndeliverableMessage inside the producer's `with`, so kombu
closes the pooled connection as broken, and the confirm that still follows is logged as a
warning. Here that confirm is read and the producer goes back to the pool with its connection;
UndeliverableMessage is raised all the same.

A service's reply to a call takes a shorter way still: DirectPublisher hands it to py-amqp on a
warm producer's channel, without nameko's publisher and kombu's producer around each (their
arguments merged, the body serialized through kombu's registry, a retry wrapper built per
message): 40 us of CPU per message instead of 90. (The gateway's requests go out on its reply
channel: services.gateway.downstream.)

Imported, for these effects, by the services' RPC entrypoint (services.common.rpc).
"""

from contextlib import contextmanager
from threading import Semaphore

import amqp
import nameko.amqp.publish
from amqp import spec
from amqp.exceptions import AMQPError
from kombu import Connection, Producer
from kombu.exceptions import OperationalError
from kombu.pools import get_limit
from kombu.utils.functional import retry_over_time
from nameko import config
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    DEFAULT_TRANSPORT_OPTIONS,
    LOGIN_METHOD_CONFIG_KEY,
)

from services.common import brokers

# The confirm follows the return at once; a connection that does not deliver it within this
# is closed as kombu would have.
RETURNED_CONFIRM_SECONDS = 1.0

# A call's message is worth something for its caller's deadline, a few seconds: two quick retries
# ride out a broker connection that was just dropped; more would only delay the error that a
# broker that is down deserves.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}
# What a publish on a broken connection raises: the socket's error, py-amqp's, or kombu's when
# it cannot connect again.
CONNECTION_FAILURES = (OSError, amqp.exceptions.ConnectionError, OperationalError)
# Connecting again is PUBLISH_RETRY_POLICY's business: with nameko's transport options kombu would
# itself try 4 times, seconds apart, so that a publish to a broker that is down took 15 s to fail.
CONNECT_ONCE = {**DEFAULT_TRANSPORT_OPTIONS, "max_retries": 0}

_pools = {}  # get_producer's arguments → their producer pool


class WarmProducers:
    """A pool of producers that keep their connection and channel between publishes.

    kombu's producer pool gives each producer's connection back to its connection pool after
    every publish, then takes one again and rebinds the producer (a new channel promise and a
    copy of its exchange) before the next: 15 of the 105 us of CPU that a nameko publish took
    in a loop of them. These producers stay bound (kombu's retries still rebind one whose
    connection they re-establish); at most `limit` of them are in use at once, a publisher past
    that waiting for one to come back, and one whose publish failed is closed and dropped, as
    kombu closes a pooled connection that failed."""

    def __init__(self, connection: Connection, limit: int):
        self.connection = connection
        self.idle = []
        self.room = Semaphore(limit)  # green under eventlet's monkey patch

    @contextmanager
    def acquire(self):
        with self.room:
            producer = self.idle.pop() if self.idle else Producer(self.connection.clone())
            try:
                yield producer
            except BaseException:
                producer.connection.close()
                raise
            self.idle.append(producer)


def producers(amqp_uri, confirms=True, ssl=None, login_method=None, transport_options=None):
    """The pool of producers for these connection arguments (nameko's get_producer's)."""
    key = (amqp_uri, confirms, repr(ssl), login_method, repr(transport_options))
    pool = _pools.get(key)
    if pool is None:
        given = DEFAULT_TRANSPORT_OPTIONS if transport_options is None else transport_options
        options = {**given, "confirm_publish": confirms}
        connection = Connection(
            amqp_uri, transport_options=options, login_method=login_method, ssl=ssl
        )
        pool = _pools[key] = WarmProducers(connection, get_limit())
    return pool


@contextmanager
def get_producer(amqp_uri, confirms=True, ssl=None, login_method=None, transport_options=None):
    """nameko.amqp.publish.get_producer, with the pool looked up once per set of arguments and
    an unroutable message not costing the producer its connection."""
    pool = producers(amqp_uri, confirms, ssl, login_method, transport_options)
    undeliverable = None
    with pool.acquire() as producer:
        try:
            yield producer
        except UndeliverableMessage as error:
            if not (confirms and read_returned_confirm(producer.channel)):
                raise  # kombu closes the connection
            undeliverable = error
    if undeliverable:
        raise undeliverable


class DirectPublisher:
    """Publishes ready-made py-amqp messages, unconfirmed, on the warm producers of `amqp_uri`,
    retried on a new connection by PUBLISH_RETRY_POLICY when the broker connection fails."""

    def __init__(self, amqp_uri):
        # TLS and the login method as nameko's own publishers take them, from its config.
        ssl, login_method = config.get(AMQP_SSL_CONFIG_KEY), config.get(LOGIN_METHOD_CONFIG_KEY)
        # Once to each node AMQP_URI names (services.common.brokers): a reply goes out through
        # another node of the cluster when its node went away.
        connect_once = {**CONNECT_ONCE, "max_retries": brokers.connect_attempts(amqp_uri)}
        self.pool = producers(amqp_uri, False, ssl, login_method, connect_once)

    def publish(self, message: amqp.Message, exchange: str, routing_key: str):
        retry_over_time(
            self.publish_once,
            CONNECTION_FAILURES,
            (message, exchange, routing_key),
            **PUBLISH_RETRY_POLICY,
        )

    def publish_once(self, message, exchange, routing_key):
        with self.pool.acquire() as producer:
            producer.channel.basic_publish(message, exchange, routing_key)


def read_returned_confirm(channel) -> bool:
    """Reads the confirm of a message the broker returned; False if the connection failed."""
    try:
        channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=RETURNED_CONFIRM_SECONDS)
    except (OSError, AMQPError):
        return False
    return True


nameko.amqp.publish.get_producer = get_producer
