"""A request's worker spawned by the consumer itself while the worker pool has room, without the
green thread nameko starts per request to wait for room (docs/internals.md, "inline_spawn").
services.common.rpc.DomainRpc.handle_message takes this way while the patch is on."""

VERSIONS = {"nameko": "3.0.0rc11"}
UPSTREAM = {
    "nameko.rpc.Rpc.handle_message": "7d615df186932887",
    "nameko.containers.ServiceContainer.spawn_worker": "fdf56aca2ad1a694",
}


def pool_has_room(entrypoint) -> bool:
    """Whether the entrypoint's container can start a worker now. nameko's own pool: there is no
    public view of it."""
    return bool(entrypoint.container._worker_pool.free())
