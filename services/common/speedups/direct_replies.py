"""A service's reply to a call, transient and unconfirmed, handed to py-amqp on a warm producer's
channel, its body serialized once (docs/internals.md, "direct_replies")."""

import sys

import amqp
import kombu.serialization
from kombu.utils.functional import retry_over_time
from nameko import config
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY, NON_PERSISTENT
from nameko.exceptions import UnserializableValueError, serialize

from services.common.publishing import CONNECT_ONCE, CONNECTION_FAILURES, PUBLISH_RETRY_POLICY
from services.common.speedups.producer_pools import producers

VERSIONS = {"nameko": "3.0.0rc11", "kombu": "5.7.0", "amqp": "5.4.2"}
UPSTREAM = {
    "nameko.rpc.RpcConsumer.handle_result": "4a96f44a3f94ad26",
    "nameko.rpc.Responder.send_response": "5876a6c43e399ba5",
}


class DirectPublisher:
    """Publishes ready-made py-amqp messages, unconfirmed, on the warm producers of `amqp_uri`,
    retried on a new connection by PUBLISH_RETRY_POLICY when the broker connection fails."""

    def __init__(self, amqp_uri):
        # TLS and the login method as nameko's own publishers take them, from its config.
        ssl, login_method = config.get(AMQP_SSL_CONFIG_KEY), config.get(LOGIN_METHOD_CONFIG_KEY)
        self.pool = producers(amqp_uri, False, ssl, login_method, CONNECT_ONCE)

    def publish(self, message: amqp.Message, exchange: str, routing_key: str):
        retry_over_time(
            self.publish_once,
            CONNECTION_FAILURES,
            (message, exchange, routing_key),
            **PUBLISH_RETRY_POLICY,
        )

    def publish_once(self, message, exchange, routing_key):
        with self.pool.acquire() as producer:
            producer.channel.basic_publish(message, exchange, routing_key)


def reply(publisher: DirectPublisher, exchange_name, message, reply_to, result, exc_info):
    """What nameko's Responder.send_response sends, as a transient message; returns the
    (result, exc_info) that the worker ends with."""
    # Encoded as the request was, like nameko's responder.
    serializer = kombu.serialization.registry.type_to_name[message.content_type]
    error = None if exc_info is None else serialize(exc_info[1])
    try:
        body = kombu.serialization.dumps({"result": result, "error": error}, serializer)
    except Exception:
        # A result that does not serialize is the worker's error (as in nameko), answered.
        exc_info = sys.exc_info()
        error = serialize(UnserializableValueError(result))
        result = None
        body = kombu.serialization.dumps({"result": None, "error": error}, serializer)
    content_type, content_encoding, payload = body
    answer = amqp.Message(
        payload,
        content_type=content_type,
        content_encoding=content_encoding,
        correlation_id=message.properties.get("correlation_id"),
        delivery_mode=NON_PERSISTENT,
    )
    publisher.publish(answer, exchange_name, reply_to)
    return result, exc_info
