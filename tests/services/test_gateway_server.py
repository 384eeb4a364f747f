"""The gateway's gRPC server socket handling, in process (eventlet)."""

import socket

import eventlet
import h2.connection
import h2.events

from services.gateway.server import ExclusivePortPool, PromptConnection
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


class RecordingSocket:
    """A socket whose writes are recorded: what a connection sends is the behaviour tested."""

    def __init__(self, sock):
        self.sock = sock
        self.writes = []

    def sendall(self, data):
        self.writes.append(len(data))
        self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_a_connection_writes_only_when_it_has_something_to_send():
    server_side, client_side = socket.socketpair()
    client_side.settimeout(10)  # a connection that never answers fails the test, not hangs it
    recorded = RecordingSocket(server_side)
    connection = PromptConnection(recorded, lambda *_: None)
    loop = eventlet.spawn(connection.run_forever)
    client = h2.connection.H2Connection()
    client.initiate_connection()
    client_side.sendall(client.data_to_send())
    # The server's SETTINGS, then its ACK of ours; acknowledging its SETTINGS gives it nothing
    # to answer.
    events = []
    while not any(isinstance(e, h2.events.SettingsAcknowledged) for e in events):
        events += client.receive_data(client_side.recv(65535))
    client_side.sendall(client.data_to_send())
    client_side.close()
    loop.wait()
    server_side.close()
    assert recorded.writes
    assert 0 not in recorded.writes
