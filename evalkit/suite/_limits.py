"""Size limits on what a suite may ask for: suites arrive in pull requests (docs/security.md).

Each limit has a default that no real suite comes near and an environment variable with which the
person running evalkit (never the suite) may raise it.
"""

from __future__ import annotations

import os
import re

from evalkit.errors import Location, SuiteError, UsageError

#: Bytes in a suite file (cases in bulk belong in a JSONL or CSV file next to it).
MAX_SUITE_BYTES = 2 * 1024 * 1024
#: Items one suite plans: cases x languages x prompt variants x repeats.
MAX_ITEMS = 1_000_000
#: Bytes in one line of a JSONL or CSV data file (not configurable: one case is read whole).
MAX_LINE_BYTES = 8 * 1024 * 1024

_ENV = {"MAX_SUITE_BYTES": "EVALKIT_MAX_SUITE_BYTES", "MAX_ITEMS": "EVALKIT_MAX_ITEMS"}
_DEFAULTS = {"MAX_SUITE_BYTES": MAX_SUITE_BYTES, "MAX_ITEMS": MAX_ITEMS}

# C0 and C1 controls and DEL: "\x1f" joins the parts of an item id, and none belongs in a name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def limit(name: str) -> int:
    """The limit ``name`` (``"MAX_SUITE_BYTES"`` or ``"MAX_ITEMS"``): its environment variable, else the default."""
    env = _ENV[name]
    raw = os.environ.get(env, "").strip()
    if not raw:
        return _DEFAULTS[name]
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{env} must be a positive integer (got {raw!r})")
    return value


def env_name(name: str) -> str:
    return _ENV[name]


def check_items(cases: int, per_case: int, where: Location, shape: str) -> None:
    """Refuse a plan of more than ``MAX_ITEMS`` items; ``shape`` explains ``per_case``."""
    cap = limit("MAX_ITEMS")
    if cases * per_case > cap:
        raise SuiteError(
            f"the suite plans {cases * per_case:,} items ({cases:,} cases x {shape}), more than the limit of "
            f"{cap:,}; split it, or raise the limit with {_ENV['MAX_ITEMS']}",
            where,
        )


def control_character(text: str) -> str | None:
    """The first control character in ``text`` as ``U+XXXX``, or None."""
    match = _CONTROL.search(text)
    return f"U+{ord(match.group()):04X}" if match else None
