"""Opaque paging states: what a client echoes back to get the next page.

A service's paging state is bytes (often the driver's own paging state, sometimes with a position
of its own in front). Clients see it as URL-safe base64 text carrying a format version and an
HMAC of the state, so that a truncated, garbled, foreign or forged value is refused as an invalid
`paging_state` before it can reach the database. "" means "no more results".

The HMAC key is PAGING_STATE_SECRET from the config (the environment). Every replica of a service
must share it, or a page fetched from one replica cannot be continued on another; without it each
process makes up its own key, which is right for a single process (a laptop, the tests) only.
"""

import base64
import binascii
import hashlib
import hmac
import secrets

from nameko import config

from services.common.errors import InvalidArgument

FORMAT_VERSION = b"\x02"
DIGEST_SIZE = 16
PROCESS_KEY = secrets.token_bytes(32)


def key() -> bytes:
    secret = config.get("PAGING_STATE_SECRET")
    return secret.encode() if secret else PROCESS_KEY


def signature(state: bytes) -> bytes:
    return hmac.new(key(), FORMAT_VERSION + state, hashlib.sha256).digest()[:DIGEST_SIZE]


def encode(state: bytes | None) -> str:
    if not state:
        return ""
    return base64.urlsafe_b64encode(FORMAT_VERSION + signature(state) + state).decode("ascii")


def decode(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    version, digest, state = raw[:1], raw[1 : 1 + DIGEST_SIZE], raw[1 + DIGEST_SIZE :]
    if version != FORMAT_VERSION or not state or not hmac.compare_digest(digest, signature(state)):
        raise InvalidArgument("paging_state", "is not a paging state this service issued")
    return state


def encode_scoped(scope: bytes, state: bytes | None) -> str:
    """A paging state valid only for the query named by `scope` (e.g. a listing tag + its key)."""
    return encode(scope + state) if state else ""


def decode_scoped(scope: bytes, text: str | None) -> bytes | None:
    """The state `encode_scoped` gave for this very scope; InvalidArgument for any other, so a
    state issued for one listing (or one user) cannot page through another."""
    state = decode(text)
    if state is None:
        return None
    if not state.startswith(scope) or len(state) == len(scope):
        raise InvalidArgument("paging_state", "belongs to another query")
    return state[len(scope) :]


def page_of(items: list, page_size: int, scope: bytes, paging_state: str | None):
    """A page of a list computed whole (a ranking), and the paging state of the next page ("" at
    the end). The state is the position to resume at, valid for `scope` only."""
    state = decode_scoped(scope, paging_state)
    start = int.from_bytes(state, "big") if state else 0
    end = start + page_size
    more = encode_scoped(scope, end.to_bytes(4, "big")) if end < len(items) else ""
    return items[start:end], more
