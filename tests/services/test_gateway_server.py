"""The gateway's gRPC server socket handling, in process (eventlet)."""

import socket

import eventlet

from services.gateway.server import ExclusivePortPool
from tests.waiting import wait_until


def test_every_grpc_connection_sends_without_nagles_delay():
    threads = []
    pool = ExclusivePortPool(
        "127.0.0.1",
        0,
        None,
        lambda target, name=None: threads.append(eventlet.spawn(target)),
        lambda *_: None,
    )
    pool.start()
    try:
        with socket.create_connection(pool.listening_socket.getsockname()):
            wait_until(lambda: not pool.connections.empty(), 10, "the connection is accepted")
            accepted = pool.connections.queue[0]().sock
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for thread in threads:  # the accept loop, before its socket closes under it
            thread.kill()
        pool.stop()
