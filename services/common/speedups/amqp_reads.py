"""Broker connections that read what the socket has, not one frame part at a time; a read that
must not wait asks poll first (docs/internals.md, "amqp_reads")."""

import eventlet
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

VERSIONS = {"amqp": "5.4.2", "kombu": "5.7.0", "eventlet": "0.41.3"}
UPSTREAM = {
    "amqp.connection.Connection.drain_events": "70860258b2b61573",
    "amqp.connection.Connection.Transport": "ff789d047ca5c308",
    "amqp.transport.TCPTransport._setup_transport": "289a40f5a1472701",
    "amqp.transport._AbstractTransport.read_frame": "67760b90926e1e70",
    "amqp.transport._AbstractTransport.having_timeout": "de1c5e52bb625ed4",
}

# The unpatched module: eventlet's green select has no poll.
unpatched_select = eventlet.patcher.original("select")

# Enough for a burst of small messages; a frame larger than this is still read whole, as
# py-amqp asks for the bytes it lacks when they are more. Small, as py-amqp's buffer is bytes:
# what each read leaves is copied once per frame part.
READ_BYTES = 4096


class GreedyTCPTransport(TCPTransport):
    def _setup_transport(self):
        super()._setup_transport()
        recv = self.sock.recv
        self._quick_recv = lambda wanted: recv(max(wanted, READ_BYTES))
        self.arrivals = unpatched_select.poll()
        self.arrivals.register(self.sock.fileno(), unpatched_select.POLLIN)

    def holds_nothing_to_read(self) -> bool:
        """Whether neither py-amqp's buffer nor the socket holds a byte (or a closed socket's
        end of file, which poll reports as readable too)."""
        return not self._read_buffer and not self.arrivals.poll(0)


class GreedyReadConnection(pyamqp.Connection):
    """kombu's py-amqp connection, on the transport above when it is plain TCP (TLS is left to
    py-amqp's, whose reads are its own)."""

    def drain_events(self, timeout=None):
        """py-amqp's, with the socket's timeout set once for the frames of a message rather than
        set and restored around each of its three frames."""
        if not isinstance(self.transport, GreedyTCPTransport):
            return super().drain_events(timeout)
        if timeout == 0 and self.transport.holds_nothing_to_read():
            raise TimeoutError("nothing to read")  # what the green socket raises
        with self.transport.having_timeout(timeout):
            while not self.on_inbound_frame(self.transport.read_frame()):
                pass
        return None

    def Transport(self, host, connect_timeout, ssl=False, *timeouts, **kwargs):
        if ssl:
            return super().Transport(host, connect_timeout, ssl, *timeouts, **kwargs)
        read_timeout, write_timeout = timeouts
        return GreedyTCPTransport(
            host, connect_timeout, read_timeout=read_timeout, write_timeout=write_timeout, **kwargs
        )


def patch():
    pyamqp.Transport.Connection = GreedyReadConnection


def is_patched() -> bool:
    return pyamqp.Transport.Connection is GreedyReadConnection
