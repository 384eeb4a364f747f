"""The server's connections: pipelined requests must not wait on Nagle's algorithm."""

import asyncio
import socket

from localcql.engine import Engine
from localcql.server import LocalCqlServer


def test_every_connection_sends_without_nagles_delay():
    async def accepted_socket_options():
        listening = socket.create_server(("127.0.0.1", 0))
        port = listening.getsockname()[1]
        server = LocalCqlServer(Engine(address="127.0.0.1", port=port))
        await server.start(listening)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        while not server._connections:
            await asyncio.sleep(0)  # let the server accept it
        [connection] = server._connections
        accepted = connection.writer.get_extra_info("socket")
        nodelay = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await server.close()
        return nodelay

    assert asyncio.run(asyncio.wait_for(accepted_socket_options(), 10))
