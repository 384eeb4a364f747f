"""The broker bootstrap's decisions; starting a real broker is exercised by CI's own `make test`."""

import subprocess
import sys

import pytest

from scripts import ensure_rabbitmq


@pytest.mark.parametrize(
    ("uri", "address"),
    [
        ("pyamqp://guest:guest@127.0.0.1:5672/", ("127.0.0.1", 5672)),
        ("amqp://user:pw@rabbit.example:5673/vhost", ("rabbit.example", 5673)),
        ("amqp://rabbit", ("rabbit", 5672)),
    ],
)
def test_broker_address_comes_from_the_uri(uri, address):
    assert ensure_rabbitmq.broker_address(uri) == address


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("rabbit", False),
        ("10.0.0.5", False),
    ],
)
def test_only_loopback_brokers_are_managed(host, loopback):
    assert ensure_rabbitmq.is_loopback(host) is loopback


def test_an_unreachable_remote_broker_fails_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, ensure_rabbitmq.__file__],
        env={"AMQP_URI": "amqp://guest:guest@rabbit.invalid:5672/", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "nothing answers at rabbit.invalid:5672" in result.stderr


def test_the_running_local_broker_is_accepted_with_its_management_api():
    message = ensure_rabbitmq.ensure(ensure_rabbitmq.DEFAULT_AMQP_URI)
    assert message == "RabbitMQ answers at 127.0.0.1:5672"
    assert ensure_rabbitmq.answers("127.0.0.1", ensure_rabbitmq.MANAGEMENT_PORT)
