"""nameko's publishes through services.common.publishing, on the real broker."""

import kombu
from nameko import config as nameko_config
from nameko.amqp.publish import Publisher

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
