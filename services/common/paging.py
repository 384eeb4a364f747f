"""Opaque paging states: what a client echoes back to get the next page.

A service's paging state is bytes (often the driver's own paging state, sometimes with a position
of its own in front). Clients see it as URL-safe base64 text with a format version and a checksum,
so that a truncated, garbled or foreign value is refused as an invalid `paging_state` instead of
reaching the database. "" means "no more results".
"""

import base64
import binascii
import struct
import zlib

from services.common.errors import InvalidArgument

FORMAT_VERSION = 1
HEADER = struct.Struct(">BI")  # format version, CRC-32 of the payload


def encode(state: bytes | None) -> str:
    if not state:
        return ""
    header = HEADER.pack(FORMAT_VERSION, zlib.crc32(state))
    return base64.urlsafe_b64encode(header + state).decode("ascii")


def decode(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
        version, checksum = HEADER.unpack_from(raw)
    except (binascii.Error, UnicodeEncodeError, ValueError, struct.error):
        raise InvalidArgument("paging_state", "is not a paging state this service issued") from None
    state = raw[HEADER.size :]
    if version != FORMAT_VERSION or not state or zlib.crc32(state) != checksum:
        raise InvalidArgument("paging_state", "is not a paging state this service issued")
    return state
