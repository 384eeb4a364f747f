"""The gateway's requests sent on its reply listener's channel, unconfirmed and without nameko's
declaration of the reply queue before each, and its replies taken without acknowledgements
(docs/internals.md, "direct_requests"). services.gateway.downstream takes this way while the
patch is on."""

VERSIONS = {"nameko": "3.0.0rc11", "kombu": "5.7.0", "amqp": "5.4.2"}
UPSTREAM = {
    "nameko.rpc.ClusterRpc.setup": "84f8955b511c1bbd",
    "nameko.amqp.publish.Publisher.publish": "c086c866c1526f87",
    "nameko.rpc.ReplyListener.setup": "94ac413ec5771ae9",
    "amqp.channel.Channel._basic_publish": "ad4c5db474091bf9",
}
