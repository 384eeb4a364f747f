"""Integration harness for the domain services: real localcql, real RabbitMQ, real nameko RPC.

- `localcql` (session): one embedded server subprocess for the whole run.
- `cassandra_config`: a fresh keyspace with every service's schema applied (the same command
  `make run` uses), patched into nameko's config together with a throwaway RabbitMQ vhost;
  dropped at the end of the test.
- `start_services(*classes)`: runs service classes in a nameko runner; returns their containers.
- `rpc_client(service_name)`: a standalone RPC client to a running service, closed at teardown.
- `cql`: a plain driver session on the test keyspace, to look at what a service stored.
- `expect_event(source, event_type)`: a context manager that starts a listener first, and whose
  `.get()` after the block returns the payload of the event published inside it (or times out).
"""

import uuid

import pytest
from nameko import config as nameko_config
from nameko.events import event_handler
from nameko.standalone.rpc import ServiceRpcClient
from nameko.testing.services import entrypoint_waiter

from localcql.testing import running_localcql
from services.common import config, schema
from services.common.cassandra import CassandraSettings


@pytest.fixture(scope="session")
def localcql():
    with running_localcql(in_memory=True) as address:
        yield address


@pytest.fixture(scope="session")
def localcql_admin(localcql):
    """A driver session on the test server for housekeeping, kept for the whole run."""
    host, port = localcql
    settings = CassandraSettings.from_config(
        {**config.load()["CASSANDRA"], "contact_points": host, "port": port}
    )
    cluster, session = settings.connect(None)
    yield session
    cluster.shutdown()


@pytest.fixture
def cassandra_config(localcql, localcql_admin, rabbit_config):
    host, port = localcql
    section = {
        **config.load()["CASSANDRA"],
        "contact_points": host,
        "port": port,
        "keyspace": f"kv_test_{uuid.uuid4().hex[:12]}",
    }
    settings = CassandraSettings.from_config(section)
    schema.apply(settings)
    with nameko_config.patch({"CASSANDRA": section, "serializer": "json"}):
        yield section
    # One localcql serves the whole run: without this, every test's keyspace would stay, and
    # each schema change would make every connected driver re-read an ever larger schema.
    localcql_admin.execute(f"DROP KEYSPACE IF EXISTS {settings.keyspace}")


@pytest.fixture
def start_services(cassandra_config, runner_factory):
    def start(*service_classes):
        runner = runner_factory(*service_classes)
        runner.start()
        return runner.service_map

    return start


@pytest.fixture
def rpc_client():
    clients = []

    def connect(service_name: str, timeout: float = 10):
        client = ServiceRpcClient(service_name, timeout=timeout)
        clients.append(client)
        return client.start()

    yield connect
    for client in clients:
        client.stop()


@pytest.fixture
def cql(cassandra_config):
    settings = CassandraSettings.from_config(cassandra_config)
    cluster, session = settings.connect(settings.keyspace)
    yield session
    cluster.shutdown()


def listener_for(source: str, event_type: str):
    class Listener:
        name = f"listener_{source}_{event_type}"

        @event_handler(source, event_type)
        def handle(self, payload):
            return payload

    return Listener


@pytest.fixture
def expect_event(cassandra_config, runner_factory):
    def expect(source: str, event_type: str, timeout: float = 10):
        listener = listener_for(source, event_type)
        runner = runner_factory(listener)
        runner.start()
        return entrypoint_waiter(runner.service_map[listener.name], "handle", timeout=timeout)

    return expect
