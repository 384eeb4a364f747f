"""Broker connections that read what the socket has, not one frame part at a time.

py-amqp reads each AMQP frame in three exact reads (its header, its payload, its end octet),
and each is a call to the socket: nine per message delivered (a method frame, a header and a
body), each one a green socket's recv on eventlet, a few microseconds of Python and a system call
apiece. Here a read asks the socket for up to READ_BYTES, and py-amqp keeps what its frame does
not need in its own read buffer for the next one (which it already does for a partial read): a
message that arrives whole, as a small one does, takes one recv. This is on every call's path
twice, the request into a service and its reply into the gateway.

And a read that must not wait (a zero timeout: py-amqp looks for a broker notice that way before
every publish) first asks the kernel whether the socket holds anything, with poll. The green
socket would instead yield to eventlet's hub and come back through a timer when it holds nothing,
as it almost always does: about 10 us and a hub round trip on every publish. And the socket's
timeout is set once for all the frames of a message, not set and restored around each.

Installed, for kombu's "amqp" transport (what nameko connects with), by importing this module:
the services' RPC entrypoint (services.common.rpc) and the gateway's RPC client do.
"""

import eventlet
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

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


pyamqp.Transport.Connection = GreedyReadConnection
