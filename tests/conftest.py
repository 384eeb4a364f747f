"""Fixtures shared by every test suite. RabbitMQ is real (see scripts/ensure_rabbitmq.py)."""

import os


def pytest_configure(config):
    # The nameko plugin's broker defaults to localhost; follow AMQP_URI like everything else.
    if os.environ.get("AMQP_URI"):
        config.option.RABBIT_AMQP_URI = os.environ["AMQP_URI"]
