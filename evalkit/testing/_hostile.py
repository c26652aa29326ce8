"""Bodies a hostile server sends: oversized answers, gzip bombs, never-ending bodies, deeply nested JSON.

Used by the fake server's ``huge-body``, ``gzip-bomb``, ``endless-body`` and ``deep-json*`` faults. Every
body here is *valid* for as long as a client keeps reading (JSON allows any amount of leading
whitespace), so a client that refuses it does so because of its size, not because it is malformed.
"""

from __future__ import annotations

import json
import struct
import zlib
from functools import lru_cache
from typing import Any

#: Default sizes (bytes; nesting depth for ``deep-json``).
HUGE_BODY_SIZE = 32 * 1024 * 1024
GZIP_BOMB_SIZE = 1024 * 1024 * 1024
DEEP_JSON_DEPTH = 100_000
ENDLESS_CHUNK = b" " * (64 * 1024)

_BLOCK = 1024 * 1024


def huge_completion(payload: dict[str, Any], size: int) -> bytes:
    """``payload`` (a chat.completion) with its first message's content padded to about ``size`` bytes."""
    padded = json.loads(json.dumps(payload))
    padded["choices"][0]["message"]["content"] = "x" * max(0, size)
    return json.dumps(padded).encode()


@lru_cache(maxsize=4)
def gzip_bomb(tail: bytes, size: int) -> bytes:
    """A gzip stream that expands to ``size`` bytes of spaces followed by ``tail`` (about 1 KB per MB)."""
    block = b" " * _BLOCK
    blocks, rest = divmod(max(0, size - len(tail)), _BLOCK)
    if blocks < 2:
        return zlib.compress(b" " * (size - len(tail)) + tail, 9, wbits=31)
    # After a full flush a compressor forgets what it saw, so every further block of spaces compresses
    # to the same bytes: compress two, repeat the second, and write the gzip trailer (CRC, size) ourselves.
    head = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = head.compress(block) + head.flush(zlib.Z_FULL_FLUSH)
    again = head.compress(block) + head.flush(zlib.Z_FULL_FLUSH)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw.compress(block)
    raw.flush(zlib.Z_FULL_FLUSH)
    last = block[:rest] + tail
    end = raw.compress(last) + raw.flush()
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(last, crc)
    return first + again * (blocks - 1) + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def deep_json(depth: int) -> bytes:
    """An OpenAI-style error object whose ``error`` is ``depth`` nested arrays."""
    return b'{"error": ' + b"[" * depth + b"]" * depth + b"}"
