"""How a KillrVideo process publishes a message worth something only until its caller's deadline
(a reply, a request): it fails fast when the broker is down, rather than after nameko's and
kombu's retries (about 15 s)."""

import amqp
from kombu.exceptions import OperationalError
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS

# A call's message is worth something for its caller's deadline, a few seconds: two quick retries
# ride out a broker connection that was just dropped; more would only delay the error that a
# broker that is down deserves.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2}
# What a publish on a broken connection raises: the socket's error, py-amqp's, or kombu's when
# it cannot connect again.
CONNECTION_FAILURES = (OSError, amqp.exceptions.ConnectionError, OperationalError)
# Connecting again is PUBLISH_RETRY_POLICY's business: with nameko's transport options kombu would
# itself try 4 times, seconds apart, so that a publish to a broker that is down took 15 s to fail.
CONNECT_ONCE = {**DEFAULT_TRANSPORT_OPTIONS, "max_retries": 0}
