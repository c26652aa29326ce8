"""``--param NAME=VALUE`` and ``--max-tokens N``: generation parameters from the command line.

They replace the suite's ``model.params`` entries of the same name before the run starts, so the
run's manifest records them and the response cache keys on them like parameters set in the suite.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from evalkit._hints import did_you_mean
from evalkit.errors import UsageError
from evalkit.suite import GenerationParams, LoadedSuite

KNOWN = tuple(GenerationParams.model_fields)


def parse_param(text: str, option: str = "--param") -> tuple[str, Any]:
    """``"temperature=0.7"`` → ``("temperature", 0.7)``. Values are read as JSON (numbers, ``true``,
    ``null``, lists); anything else is the text itself. ``null`` removes the suite's value. ``option``
    names the command-line option in messages."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name:
        raise UsageError(f"{option} {text.strip()}: expected NAME=VALUE (e.g. {option} temperature=0.7)")
    if name not in KNOWN:
        hint = did_you_mean(name, KNOWN, "did you mean {!r}? ")
        raise UsageError(f"{option} {name}: unknown generation parameter; {hint}(known: {', '.join(KNOWN)})")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def apply_params(suite: LoadedSuite, params: tuple[str, ...], max_tokens: int | None) -> None:
    """Override the suite's generation parameters in place (the suite file itself is unchanged)."""
    if not params and max_tokens is None:
        return
    merged = merge_params(suite.spec.model.params.as_body(), params, max_tokens)
    model = suite.spec.model.model_copy(update={"params": merged})
    suite.spec = suite.spec.model_copy(update={"model": model})


def merge_params(body: dict[str, Any], params: tuple[str, ...], max_tokens: int | None, option: str = "--param",
                 max_option: str = "--max-tokens") -> GenerationParams:
    """``body`` (request parameters) with ``params`` (``NAME=VALUE`` texts of ``option``) and ``max_tokens``
    (of ``max_option``) applied, validated; a problem is a ``UsageError`` naming the option."""
    given: dict[str, tuple[Any, str]] = {}  # name -> (value, the option that set it, for messages)
    for text in params:
        name, value = parse_param(text, option)
        given[name] = (value, f"{option} {text.strip()}")
    if max_tokens is not None:
        if "max_tokens" in given and given["max_tokens"][0] != max_tokens:
            raise UsageError(f"{max_option} {max_tokens} contradicts {given['max_tokens'][1]}")
        given["max_tokens"] = (max_tokens, f"{max_option} {max_tokens}")
    body = {**body, **{name: value for name, (value, _) in given.items()}}
    try:
        return GenerationParams.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        source = given[name][1] if name in given else option
        raise UsageError(f"{source}: {error['msg']}") from None
