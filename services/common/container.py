"""The container of every KillrVideo process (config.yaml's SERVICE_CONTAINER_CLS): it asks
RabbitMQ once for access before the service's extensions set up or start, starts each worker's
trace span (services.common.tracing) as it spawns the worker, and tells the process's readiness
(services.common.health) when it has started and when it stops.

A vhost that does not exist or credentials the broker refuses do not mend by waiting, yet nameko
retries them as if the broker were down: its consumers (kombu's ConsumerMixin) log a traceback
and try again, several times a second for ever, and a service whose extensions connect in their
setup dies with a traceback from each of them. Here the process logs one line naming the cause
and exits with status 78 (EX_CONFIG, sysexits.h: a configuration error, not worth a restart), as
it does when the broker refuses it later, while it runs (services.common.brokers). A
broker that does not answer at all is not refused: the consumers wait for it as before.

It is also where a process's speed-ups are installed (services.common.speedups), before the
service's extensions set up: every `nameko run` of ours builds one.

Likewise a queue of the service that an earlier version declared with other arguments (a classic
queue, before quorum queues): the broker would refuse the consumer's declaration at every attempt.
The process names it and the command that migrates it (services.common.queue_migration).
"""

import gc
import logging
import sys

import kombu
from nameko import config
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_AMQP_URI,
    LOGIN_METHOD_CONFIG_KEY,
)
from nameko.containers import ServiceContainer

from services.common import brokers, health, speedups, tracing
from services.common.handlers import DEFAULT_RETRY_DELAYS
from services.common.queue_migration import COMMAND as MIGRATION_COMMAND
from services.common.queue_migration import outdated, service_queues

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10


def outdated_queues(amqp_uri: str, service_cls) -> str | None:
    """Which of the service's queues exist with other arguments, and what to do; None if none
    (or the broker does not answer: the consumers wait for it)."""
    delays = config.get("EVENT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)
    try:
        with kombu.Connection(amqp_uri, connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
            found = [
                old.queue.name for old in outdated(connection, service_queues(service_cls, delays))
            ]
    except Exception:
        return None
    if not found:
        return None
    return (
        f"queue(s) {', '.join(found)} declared by an earlier version with other arguments "
        f"(classic queues): `{MIGRATION_COMMAND}` migrates them (docs/operating.md)"
    )


def refusal(amqp_uri: str) -> str | None:
    """Why RabbitMQ refuses this process's connection (never the password), or None when it
    lets it in, or does not answer."""
    try:
        with kombu.Connection(
            amqp_uri,
            ssl=config.get(AMQP_SSL_CONFIG_KEY),
            login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        ) as connection:
            # One attempt per node (AMQP_URI may list a cluster's: services.common.brokers).
            connection.ensure_connection(
                max_retries=brokers.connect_attempts(amqp_uri), reraise_as_library_errors=False
            )
    except Exception as error:
        return brokers.refusal_of(amqp_uri, error)  # None: down, or unreachable
    return None


def freeze_startup_objects() -> None:
    """Moves what the process holds once its service has started (modules, the driver's and
    the broker's clients, the service's extensions: some 80,000 objects, alive until the process
    ends) out of the garbage collector's sight, once per process. Otherwise every full
    collection walks them all, 30 to 45 ms on this project's test machine: a pause of every call
    in the process, every few thousand calls (more often with tracing, whose spans live until
    they are exported). Frozen, a full collection takes about 3 ms (docs/performance.md)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


class CheckedServiceContainer(ServiceContainer):
    def __init__(self, service_cls):
        speedups.install()
        super().__init__(service_cls)
        health.created(self)

    def start(self):
        amqp_uri = config.get(AMQP_URI_CONFIG_KEY, DEFAULT_AMQP_URI)
        refused = refusal(amqp_uri) or outdated_queues(amqp_uri, self.service_cls)
        if refused:
            log.critical("%s not started: %s", self.service_name, refused)
            sys.stderr.flush()
            raise brokers.BrokerRefused()
        super().start()
        health.started(self)
        freeze_startup_objects()

    def stop(self):
        health.stopping(self)
        try:
            super().stop()
        finally:
            health.stopped(self)

    def kill(self, exc_info=None):
        health.stopping(self)
        try:
            super().kill(exc_info)
        finally:
            health.stopped(self)

    def spawn_worker(self, entrypoint, args, kwargs, context_data=None, handle_result=None):
        """nameko's, with the worker's trace span started first (services.common.tracing), so
        that its context is in the worker's context data before any dependency copies it."""
        context_data = tracing.start_worker_span(self, entrypoint, context_data)
        try:
            return super().spawn_worker(entrypoint, args, kwargs, context_data, handle_result)
        except BaseException:
            tracing.abandon(context_data)
            raise
