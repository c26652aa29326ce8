"""Read a reply's body with a size cap: the server, like the suite, may be hostile.

The body is read in chunks with a running count and the connection is closed as soon as the count
passes the cap, so a huge answer or a body that never ends costs at most the cap in memory. gzip and
deflate are decoded here, not by aiohttp, with ``zlib``'s ``max_length``: each chunk expands by at most
what is left of the cap, so a gzip bomb (1 MB expanding to 1 GB) is refused after the cap too.
"""

from __future__ import annotations

import zlib

import aiohttp

from evalkit.errors import BadResponse, ResponseTooLarge
from evalkit.suite._schema import DEFAULT_MAX_RESPONSE_BYTES

# DEFAULT_MAX_RESPONSE_BYTES caps a reply's (decompressed) body; a suite may lower it, the person running
# evalkit may raise it (``--max-response-bytes`` or ``EVALKIT_MAX_RESPONSE_BYTES``).
__all__ = ["ACCEPT_ENCODING", "DEFAULT_MAX_RESPONSE_BYTES", "ERROR_BODY_BYTES", "read_body"]
#: Of an error reply (status >= 400) only this much is read: its message is cut to 300 characters anyway.
ERROR_BODY_BYTES = 64 * 1024
#: What we can decode with a bounded output (sent as ``Accept-Encoding``).
ACCEPT_ENCODING = "gzip, deflate"

_CHUNK = 64 * 1024


class _Inflater:
    """gzip / zlib / raw deflate, every call bounded by ``max_length``."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._obj: zlib._Decompress | None = None

    def feed(self, data: bytes, max_length: int) -> bytes:
        if self._obj is None:
            if self._encoding == "gzip":
                wbits = 31
            else:  # "deflate" is zlib-wrapped by the RFC, raw deflate by some servers: tell them apart
                wbits = 15 if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0 else -15
            self._obj = zlib.decompressobj(wbits)
        out = self._obj.decompress(data, max_length)
        if self._obj.eof and self._obj.unused_data and self._encoding == "gzip" and len(out) < max_length:
            # A further gzip member (concatenated streams are valid gzip).
            rest, self._obj = self._obj.unused_data, None
            out += self.feed(rest, max_length - len(out))
        return out


def _too_large(limit: int, status: int, what: str = "") -> ResponseTooLarge:
    return ResponseTooLarge(
        f"response body{what} is larger than {limit:,} bytes (max_response_bytes; "
        "raise it with --max-response-bytes or EVALKIT_MAX_RESPONSE_BYTES)",
        status,
    )


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The (decoded) body, at most ``limit`` bytes; an error reply is cut short instead of refused.

    Raises ``ResponseTooLarge`` (``bad_response``, never retried) for a longer successful reply, and
    ``BadResponse`` for a content encoding that cannot be decoded with a bounded output.
    """
    cut = response.status >= 400
    if cut:
        limit = min(limit, ERROR_BODY_BYTES)
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    inflater: _Inflater | None = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater("deflate" if encoding == "deflate" else "gzip")
    elif encoding not in ("", "identity"):
        response.close()
        raise BadResponse(f"response uses content-encoding {encoding!r}, which evalkit does not accept",
                          response.status)
    declared = response.content_length
    if not cut and inflater is None and declared is not None and declared > limit:
        response.close()
        raise _too_large(limit, response.status, f" ({declared:,} bytes announced)")
    body = bytearray()
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            if inflater is not None:
                try:
                    chunk = inflater.feed(chunk, limit + 1 - len(body))
                except zlib.error as exc:
                    raise BadResponse(f"response body is not valid {encoding}: {exc}", response.status) from None
            body += chunk
            if len(body) > limit:
                if cut:
                    del body[limit:]
                    break
                raise _too_large(limit, response.status, " (decompressed)" if inflater is not None else "")
    except BadResponse:
        response.close()  # never drain the rest of a body we refused: it may not end
        raise
    if cut and not response.content.at_eof():
        response.close()
    return bytes(body)
