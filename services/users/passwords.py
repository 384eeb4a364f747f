"""Password hashes: argon2id with OWASP's parameters, computed off the service's event loop.

argon2 is slow and memory-hard on purpose: one hash or check takes about 20 ms of a core and
19 MiB here. On eventlet's hub it would stall every other call of the service meanwhile, so
each runs in a real OS thread of eventlet's pool (tpool; argon2's C code releases the GIL),
and the calling green thread waits for it without blocking the hub. At most one per CPU runs
at a time: more would not finish sooner, each would hold its memory, and a burst of sign-ups
would take every thread of the pool. The rest wait their turn on the hub (a few ms each).

The parameters follow the OWASP Password Storage Cheat Sheet for an interactive login (argon2id,
m = 19 MiB, t = 2, p = 1: its minimum, and what docs/reliability.md documents). Every hash
carries its own salt and parameters, so hashes made under other parameters still verify; they
are replaced at the owner's next successful sign-in (`needs_rehash`).
"""

import os

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool
from eventlet.semaphore import Semaphore

hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

one_per_cpu = Semaphore(len(os.sched_getaffinity(0)))  # the CPUs this process may use


def off_the_event_loop(function, *args):
    with one_per_cpu:
        return tpool.execute(function, *args)


def hash_password(password: str) -> str:
    return off_the_event_loop(hasher.hash, password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return off_the_event_loop(hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made under other parameters than today's (it is only parsed)."""
    return hasher.check_needs_rehash(password_hash)


# Checked when the email is unknown, so both failures of a sign-in take the same time.
UNKNOWN_USER_HASH = hasher.hash("no such user")
