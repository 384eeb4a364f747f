"""nameko's consumers reconnect within a second of a broker that is back, not up to 30 s later
(docs/internals.md, "reconnect_waits")."""

from contextlib import contextmanager

from nameko.amqp.consume import Consumer

VERSIONS = {"kombu": "5.7.0", "nameko": "3.0.0rc11"}
UPSTREAM = {"kombu.mixins.ConsumerMixin.establish_connection": "82a024612ee55bad"}

RECONNECT_WAITS = {"interval_start": 0.1, "interval_step": 0.2, "interval_max": 1.0}


@contextmanager
def establish_connection(self):
    """kombu's ConsumerMixin.establish_connection, with RECONNECT_WAITS between attempts."""
    with self.create_connection() as connection:
        connection.ensure_connection(
            self.on_connection_error, self.connect_max_retries, **RECONNECT_WAITS
        )
        yield connection


def patch():
    Consumer.establish_connection = establish_connection


def is_patched() -> bool:
    return Consumer.establish_connection is establish_connection
