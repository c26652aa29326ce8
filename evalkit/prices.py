"""A prices file: what each model costs per million tokens, as the person running evalkit says.

    prices:
      gpt-4o-mini: {input: 0.15, output: 0.60}            # per million prompt / completion tokens
      my-model: {input: 0.5, output: 1.5, currency: EUR}   # currency: USD unless given

``evalkit run --prices FILE`` takes the entry of the run's model (exit 2 when there is none: a cost
is never guessed).  Problems are ``SuiteError`` with file, line and field.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evalkit._hints import did_you_mean
from evalkit.errors import Location, SuiteError
from evalkit.results import Prices
from evalkit.suite._yaml import format_path, load_positioned


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0, allow_inf_nan=False)
    output: float = Field(ge=0, allow_inf_nan=False)
    currency: str = "USD"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices: dict[str, _Entry]


def read_prices(path: Path) -> dict[str, Prices]:
    """Every model's prices in the prices file at ``path``, by model name."""
    display = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError("prices file not found", Location(display)) from None
    except (IsADirectoryError, UnicodeDecodeError):
        raise SuiteError("not a UTF-8 prices file", Location(display)) from None
    positioned = load_positioned(text, display)
    if not isinstance(positioned.data, dict):
        raise SuiteError("a prices file is a mapping with a 'prices:' key", Location(display, 1, 1))
    try:
        parsed = _File.model_validate(positioned.data)
    except ValidationError as exc:
        err = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]  # a typo explains the rest
        loc = tuple(err["loc"])
        if err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r} (use input, output, currency)"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        raise SuiteError(message, positioned.locate(loc, format_path(loc) or "prices")) from None
    return {model: Prices(model=model, input_per_mtok=entry.input, output_per_mtok=entry.output,
                          currency=entry.currency, source=display)
            for model, entry in parsed.prices.items()}


def load_prices(path: Path, model: str) -> Prices:
    """The prices of ``model`` in the prices file at ``path``."""
    table = read_prices(path)
    if model not in table:
        hint = did_you_mean(model, table)
        have = ", ".join(table) or "none"
        raise SuiteError(f"no prices for model {model!r} (the file has: {have}){hint}", Location(str(path)))
    return table[model]
