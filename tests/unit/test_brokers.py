"""AMQP_URI as a list of a cluster's nodes (services/common/brokers.py): read, printed without
passwords, and tried node by node; and what counts as the broker refusing a process."""

from contextlib import contextmanager

import pytest
from amqp.exceptions import AccessRefused, NotAllowed
from nameko import config
from nameko.amqp.consume import Consumer as NamekoConsumer

from scripts.shell import banner
from services.common import brokers

CLUSTER = "pyamqp://kv:s3cret@rabbit-1:5672/site;pyamqp://kv:s3cret@rabbit-2:5673/site; "


def test_a_list_of_nodes_is_read_node_by_node():
    assert brokers.nodes(CLUSTER) == [
        "pyamqp://kv:s3cret@rabbit-1:5672/site",
        "pyamqp://kv:s3cret@rabbit-2:5673/site",
    ]
    assert brokers.vhost_of(CLUSTER) == "site" and brokers.user_of(CLUSTER) == "kv"
    assert brokers.hosts_of(CLUSTER) == "rabbit-1:5672, rabbit-2:5673"
    assert brokers.connect_attempts(CLUSTER) == 1, "one retry: each node once"
    assert brokers.connect_attempts("pyamqp://guest:guest@localhost:5672/") == 0


def test_the_shell_banner_masks_every_node_s_password():
    with config.patch({"AMQP_URI": CLUSTER}):
        shown = banner()
    assert "s3cret" not in shown
    assert (
        "pyamqp://kv:********@rabbit-1:5672/site;pyamqp://kv:********@rabbit-2:5673/site" in shown
    )


def test_a_vhost_that_is_missing_or_forbidden_is_a_refusal_one_that_is_down_is_not():
    uri = "pyamqp://guest:secret@rabbit:5672/site"
    missing = NotAllowed("NOT_ALLOWED - vhost site not found")
    forbidden = NotAllowed("NOT_ALLOWED - access to vhost 'site' refused for user 'guest'")
    down = NotAllowed("NOT_ALLOWED - vhost site is down")
    wrong_password = AccessRefused("ACCESS_REFUSED - Login was refused")

    assert brokers.refusal_of(uri, missing) == (
        "RabbitMQ at rabbit:5672 refused vhost 'site': NOT_ALLOWED - vhost site not found"
    )
    assert "refused vhost 'site'" in brokers.refusal_of(uri, forbidden)
    assert brokers.refusal_of(uri, down) is None
    assert brokers.refusal_of(uri, wrong_password).startswith(
        "RabbitMQ at rabbit:5672 refused user 'guest'"
    )
    assert brokers.refusal_of(uri, ConnectionRefusedError()) is None
    assert "secret" not in brokers.refusal_of(uri, wrong_password)


def consumer_whose_connection_fails_with(error: Exception) -> brokers.ConsumerEndingOnRefusal:
    class Failing(NamekoConsumer):
        @contextmanager
        def establish_connection(self):
            raise error
            yield  # a context manager, as kombu's

    failing = type("Consumer", (brokers.ConsumerEndingOnRefusal, Failing), {})
    return failing("pyamqp://guest:secret@rabbit:5672/site")


def test_a_consumer_refused_ends_the_process_and_one_whose_broker_is_down_tries_again(caplog):
    refused = consumer_whose_connection_fails_with(NotAllowed("NOT_ALLOWED - vhost site not found"))
    with pytest.raises(SystemExit) as ended, refused.establish_connection():
        pass
    assert ended.value.code == brokers.EXIT_CONFIGURATION_ERROR
    assert "stopping: RabbitMQ at rabbit:5672 refused vhost 'site'" in caplog.text

    for transient in (NotAllowed("NOT_ALLOWED - vhost site is down"), ConnectionRefusedError()):
        down = consumer_whose_connection_fails_with(transient)
        with pytest.raises(type(transient)), down.establish_connection():
            pass
