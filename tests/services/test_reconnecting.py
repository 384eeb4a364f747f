"""nameko's consumers try a broker that went away again within a second
(services.common.speedups.reconnect_waits, installed by tests/conftest.py)."""

import socket

import kombu.utils.functional
import pytest
from nameko.amqp.consume import Consumer


class GaveUp(Exception):
    pass


def test_a_consumer_tries_a_broker_that_is_down_again_within_a_second(monkeypatch):
    with socket.socket() as unused:  # a port nothing listens on: every attempt is refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    waits = []
    monkeypatch.setattr(kombu.utils.functional, "sleep", waits.append)
    consumer = Consumer(f"amqp://guest:guest@127.0.0.1:{port}//")
    attempts = []

    def on_connection_error(error, interval):
        attempts.append(error)
        if len(attempts) == 8:
            raise GaveUp

    consumer.on_connection_error = on_connection_error

    with pytest.raises(GaveUp), consumer.establish_connection():
        pass

    # kombu's own waits 2 s, then 4, 6, ... up to 30 s.
    assert waits[0] <= 0.2
    assert max(waits) <= 1.0
