"""The "did you mean ...?" hint for a name that is not one of the known ones."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(name: str, choices: Iterable[str], template: str = "; did you mean {!r}?") -> str:
    """``template`` filled with the known name closest to ``name`` (difflib's, cutoff 0.6); "" when none is close."""
    import difflib  # not at start-up: only an unknown name needs it

    close = difflib.get_close_matches(name, list(choices), n=1)
    return template.format(close[0]) if close else ""
