"""Keep secrets out of what is stored or printed: API keys in error texts, credentials in URLs.

Error texts are redacted *before* they are cut to length: a key that straddles the cut-off would
otherwise leave its first half in ``results.jsonl`` and the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
MIN_PIECE = 8  # any run of this many characters of a secret is masked, wherever it appears
MIN_SECRET = 4  # shorter secrets (a two-letter password) are not searched for: they would mask words


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``http://user:pw@host/v1`` → (``http://host/v1``, ``user``, ``pw``); a URL without them is unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None, None
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if sep else None


def strip_url_credentials(url: str) -> str:
    """The URL without a user name or password: what may be written to disk or printed."""
    return split_url_credentials(url)[0]


def strip_credentials_in_args(args: Iterable[str]) -> list[str]:
    """Command-line arguments with the credentials taken out of every URL (``--base-url`` and ``--x=URL``)."""
    out = []
    for arg in args:
        prefix, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if "://" in value and "@" in value:
            value = strip_url_credentials(value)
        out.append(prefix + eq + value)
    return out


class Redactor:
    """Masks secrets in text: each secret whole, and any run of ``MIN_PIECE`` or more of its characters
    (a server that echoes half the key, or the first 12 characters of it, gives nothing away either)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        # What is searched for, worked out once (not per text): a short secret whole, else its pieces.
        self._pieces = {piece for secret in self.secrets for piece in (
            [secret] if len(secret) < MIN_PIECE else
            (secret[i:i + MIN_PIECE] for i in range(len(secret) - MIN_PIECE + 1)))}

    def __call__(self, text: str) -> str:
        if not self.secrets or not text:
            return text
        spans: list[tuple[int, int]] = []
        for piece in self._pieces:
            start = text.find(piece)
            while start != -1:
                spans.append((start, start + len(piece)))
                start = text.find(piece, start + 1)
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        pos = 0
        end = -1
        for start, stop in spans:
            if start > end:  # a new masked region (overlapping or touching pieces merge into one)
                if end >= 0:
                    out.append(MASK)
                out.append(text[pos:start])
            end = max(end, stop)
            pos = end
        out.append(MASK)
        out.append(text[pos:])
        return "".join(out)

    def clip(self, text: str, limit: int) -> str:
        """``text`` redacted, then cut to ``limit`` characters (never the other way round)."""
        if self.secrets:
            # Only a bounded prefix can end up in the first ``limit`` characters: masking shortens the
            # text by at most 8:3, and a piece cut at the window's end lies well past ``limit``.
            text = self(text[: 4 * limit + 4 * len(self.secrets[0])])
        return text[:limit]
