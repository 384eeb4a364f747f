"""Publishing through kombu's producer pools without a kombu Connection built per message.

nameko looks up the producer pool of every message it publishes by building a kombu Connection
from its URI and options (nameko.amqp.publish.get_producer), which kombu then hashes: that took
4% of the videos service's instructions per GetVideo, one reply. Here each pool is looked up
once per set of arguments; it is the very pool nameko would have found. Imported, for this
effect, by the services' RPC entrypoint (services.common.rpc) and the gateway's RPC client.
"""

from contextlib import contextmanager

import nameko.amqp.publish
from kombu import Connection
from kombu.pools import producers
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS

_pools = {}  # get_producer's arguments → their producer pool


@contextmanager
def get_producer(amqp_uri, confirms=True, ssl=None, login_method=None, transport_options=None):
    """nameko.amqp.publish.get_producer, with the pool looked up once per set of arguments."""
    key = (amqp_uri, confirms, repr(ssl), login_method, repr(transport_options))
    pool = _pools.get(key)
    if pool is None:
        given = DEFAULT_TRANSPORT_OPTIONS if transport_options is None else transport_options
        options = {**given, "confirm_publish": confirms}
        connection = Connection(
            amqp_uri, transport_options=options, login_method=login_method, ssl=ssl
        )
        pool = _pools[key] = producers[connection]
    with pool.acquire(block=True) as producer:
        yield producer


nameko.amqp.publish.get_producer = get_producer
