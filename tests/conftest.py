"""Fixtures shared by every test suite. RabbitMQ is real (see scripts/ensure_rabbitmq.py)."""

import os
import sys

from services.common import speedups


def pytest_configure(config):
    # The nameko plugin's broker defaults to localhost; follow AMQP_URI like everything else.
    if os.environ.get("AMQP_URI"):
        config.option.RABBIT_AMQP_URI = os.environ["AMQP_URI"]
    # The in-process containers of the tests run on eventlet as the services do, with their
    # speed-ups (none with KILLRVIDEO_STOCK_TRANSPORT=1). The end-to-end tests' process is not
    # patched: it drives the stack with grpcio, and each of the stack's processes installs its own.
    eventlet = sys.modules.get("eventlet")  # imported by the plugin that patches
    if eventlet is not None and eventlet.patcher.is_monkey_patched("socket"):
        speedups.install()
