"""Helpers shared by the CLI commands."""

from __future__ import annotations

import re

import click

from evalkit.errors import EvalkitError, SuiteErrors

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


def safe_text(text: str) -> str:
    """Model output or data printed to a terminal: no raw control or escape sequences."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


def fail(exc: EvalkitError) -> int:
    if isinstance(exc, SuiteErrors):
        for err in exc.errors:
            click.echo(f"evalkit: error: {safe_text(err.message)}", err=True)
    else:
        click.echo(f"evalkit: error: {safe_text(exc.message)}", err=True)
    return exc.exit_code


def split_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]
