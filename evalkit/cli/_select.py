"""``--languages`` and ``--prompts``: names matched to the suite's, forgiving case, suggesting on a typo."""

from __future__ import annotations

from collections.abc import Callable

from evalkit._hints import did_you_mean
from evalkit.cli._common import split_list
from evalkit.errors import UsageError


def _same_name(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def pick(option: str, value: str | None, available: list[str],
         match: Callable[[str, str], bool] = _same_name) -> list[str] | None:
    """The suite's spelling of each comma-separated name in ``value`` (``DE`` → ``de``; with ``match``
    ``evalkit.languages.same_language``, ``deu_Latn`` → ``de`` too); None for all."""
    names = split_list(value)
    if names is None:
        return None
    picked: list[str] = []
    for name in names:
        same = [a for a in available if a == name] or [a for a in available if match(a, name)]
        if len(same) == 1:
            picked.append(same[0])
            continue
        hint = did_you_mean(name, available)
        raise UsageError(f"{option}: {name!r} is not in the suite (has {', '.join(available)}){hint}")
    return picked
