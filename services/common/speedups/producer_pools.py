"""nameko's publishing through pools of producers that stay bound to their connection, looked up
once per set of arguments; an unroutable message does not cost its producer the connection
(docs/internals.md, "producer_pools")."""

from contextlib import contextmanager
from threading import Semaphore

import nameko.amqp.publish
from amqp import spec
from amqp.exceptions import AMQPError
from kombu import Connection, Producer
from kombu.pools import get_limit
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS

VERSIONS = {"nameko": "3.0.0rc11", "kombu": "5.7.0", "amqp": "5.4.2"}
UPSTREAM = {
    "nameko.amqp.publish.get_producer": "b7d363ed7e45d89c",
    "nameko.amqp.publish.Publisher.publish": "c086c866c1526f87",
    "kombu.pools.ProducerPool.prepare": "bfa832e814676dcf",
}

# The confirm follows the return at once; a connection that does not deliver it within this
# is closed as kombu would have.
RETURNED_CONFIRM_SECONDS = 1.0

_pools = {}  # get_producer's arguments → their producer pool


class WarmProducers:
    """A pool of producers that keep their connection and channel between publishes.

    kombu's producer pool gives each producer's connection back to its connection pool after
    every publish, then takes one again and rebinds the producer (a new channel promise and a
    copy of its exchange) before the next. These producers stay bound (kombu's retries still
    rebind one whose connection they re-establish); at most `limit` of them are in use at once,
    a publisher past that waiting for one to come back, and one whose publish failed is closed
    and dropped, as kombu closes a pooled connection that failed."""

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


def read_returned_confirm(channel) -> bool:
    """Reads the confirm of a message the broker returned; False if the connection failed."""
    try:
        channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=RETURNED_CONFIRM_SECONDS)
    except (OSError, AMQPError):
        return False
    return True


def patch():
    nameko.amqp.publish.get_producer = get_producer


def is_patched() -> bool:
    return nameko.amqp.publish.get_producer is get_producer
