"""The arguments of the durable queues the services own: RabbitMQ quorum queues.

A classic queue lives on one node of a RabbitMQ cluster: when that node is lost, so is the queue
and everything in it, and its consumers cannot consume until the node is back. A quorum queue is
replicated (Raft) over the cluster's nodes and stays available while a majority of them is up. So
every durable queue a service declares is one: its RPC requests `rpc-<service>`, each event
handler's queue, its delay queues and its dead letters (services.common.handlers). A client's
reply queue (the gateway's, nameko's) belongs to one connection: it stays an exclusive, transient
classic queue, which quorum queues cannot be.

What quorum queues change, checked on RabbitMQ 3.10 (the oldest version supported, for the
per-message and per-queue TTLs and at-least-once dead-lettering that quorum queues have only
since then): they keep every message on disk, transient or not (the gateway's transient requests
too); they honour a message's expiration (the gateway's deadline on each request); a queue's type
and arguments cannot change once declared (services.common.queue_migration moves the classic
queues of earlier versions).
"""

QUORUM_QUEUE = {"x-queue-type": "quorum"}

# Deliveries of one RPC request that end with its consumer gone before it answered (a replica
# killed, a lost connection) before the broker drops it: a request that kills every replica it
# reaches must not take the service down for ever. Its caller's deadline answers it.
RPC_DELIVERY_LIMIT = 5
RPC_QUEUE_ARGUMENTS = {**QUORUM_QUEUE, "x-delivery-limit": RPC_DELIVERY_LIMIT}
