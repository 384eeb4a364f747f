"""A request's entrypoint found by a lookup of its routing key, not by a scan that formats every
method's (docs/internals.md, "method_lookup"). services.common.rpc.Replies takes this way while
the patch is on."""

VERSIONS = {"nameko": "3.0.0rc11"}
UPSTREAM = {"nameko.rpc.RpcConsumer.get_provider_for_method": "f2c6605cc8d18257"}
