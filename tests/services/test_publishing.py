"""nameko's publishes through services.common.publishing, on the real broker."""

import amqp
import kombu
import pytest
from nameko import config as nameko_config
from nameko.amqp.publish import Publisher, UndeliverableMessage

import services.common.publishing  # noqa: F401 (installs its get_producer)


def test_a_publish_builds_no_broker_connection_of_its_own(rabbit_config, monkeypatch):
    uri = nameko_config["AMQP_URI"]
    queue = kombu.Queue("published", routing_key="published")
    with kombu.Connection(uri) as connection:
        queue(connection.default_channel).declare()
        publisher = Publisher(uri)
        publisher.publish({"n": 1}, routing_key="published")  # the first finds its pool

        built = []
        build = kombu.Connection.__init__

        def counted(self, *args, **kwargs):
            built.append(args)
            build(self, *args, **kwargs)

        monkeypatch.setattr(kombu.Connection, "__init__", counted)
        publisher.publish({"n": 2}, routing_key="published")
        monkeypatch.undo()

        assert built == []
        received = [queue(connection.default_channel).get(no_ack=True) for _ in range(2)]
        assert [message.payload for message in received] == [{"n": 1}, {"n": 2}]


def test_an_unroutable_request_keeps_its_connection(rabbit_config, monkeypatch, caplog):
    """A confirmed, mandatory publish that no queue takes (an RPC to a service that never ran)
    raises UndeliverableMessage, as nameko's does, without closing the pooled connection: a
    health check pings such services every second."""
    uri = nameko_config["AMQP_URI"]
    queue = kombu.Queue("published", routing_key="published")
    with kombu.Connection(uri) as connection:
        queue(connection.default_channel).declare()
        publisher = Publisher(uri, mandatory=True)  # confirmed, as nameko's default is
        publisher.publish({"n": 1}, routing_key="published")  # the first finds its pool

        opened = []
        connect = amqp.Connection.connect

        def counted(self, *args, **kwargs):
            opened.append(self)
            return connect(self, *args, **kwargs)

        monkeypatch.setattr(amqp.Connection, "connect", counted)
        for _ in range(2):
            with pytest.raises(UndeliverableMessage):
                publisher.publish({"n": 0}, routing_key="nowhere")
        publisher.publish({"n": 2}, routing_key="published")
        monkeypatch.undo()

        assert opened == []
        assert not [r for r in caplog.records if "during closing channel" in r.getMessage()]
        received = [queue(connection.default_channel).get(no_ack=True) for _ in range(2)]
        assert [message.payload for message in received] == [{"n": 1}, {"n": 2}]
