"""nameko's publishing through pools of producers that stay bound to their connection, without a
kombu Connection built per message, nor one closed per message that no queue takes.

nameko looks up the producer pool of every message it publishes by building a kombu Connection
from its URI and options (nameko.amqp.publish.get_producer), which kombu then hashes: that took
4% of the videos service's instructions per GetVideo, one reply. Here each pool is looked up
once per set of arguments, and is a WarmProducers of the same size as kombu's.

A confirmed, mandatory publish that no queue takes (an RPC to a service that never ran, as the
gateway's health check pings every second) comes back from the broker as a return, then its
confirm. py-amqp raises at the return, and nameko turns that into UndeliverableMessage inside
the producer's `with`, so kombu closes the pooled connection as broken, and the confirm that
still follows is logged as a warning. Here that confirm is read and the producer goes back to
the pool with its connection; UndeliverableMessage is raised all the same.

Imported, for these effects, by the services' RPC entrypoint (services.common.rpc) and the
gateway's RPC client.
"""

from contextlib import contextmanager
from threading import Semaphore

import nameko.amqp.publish
from amqp import spec
from amqp.exceptions import AMQPError
from kombu import Connection, Producer
from kombu.pools import get_limit
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS

# The confirm follows the return at once; a connection that does not deliver it within this
# is closed as kombu would have.
RETURNED_CONFIRM_SECONDS = 1.0

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


@contextmanager
def get_producer(amqp_uri, confirms=True, ssl=None, login_method=None, transport_options=None):
    """nameko.amqp.publish.get_producer, with the pool looked up once per set of arguments and
    an unroutable message not costing the producer its connection."""
    key = (amqp_uri, confirms, repr(ssl), login_method, repr(transport_options))
    pool = _pools.get(key)
    if pool is None:
        given = DEFAULT_TRANSPORT_OPTIONS if transport_options is None else transport_options
        options = {**given, "confirm_publish": confirms}
        connection = Connection(
            amqp_uri, transport_options=options, login_method=login_method, ssl=ssl
        )
        pool = _pools[key] = WarmProducers(connection, get_limit())
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


nameko.amqp.publish.get_producer = get_producer
