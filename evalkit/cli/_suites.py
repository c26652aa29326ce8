"""``evalkit suites``: the built-in suites, with their languages and sizes."""

from __future__ import annotations

import click

from evalkit.cli._common import safe_text
from evalkit.cli._format import plural


@click.command("suites")
def command() -> int:
    """List the built-in suites (run one by name: evalkit run translation --out runs/t)."""
    from evalkit.suites import describe, names

    infos = [describe(name) for name in names()]
    width = max(len(info.name) for info in infos)
    for info in infos:
        langs = " ".join(info.languages)
        sizes = ", ".join(plural(n, noun) for n, noun in
                          ((info.prompts, "prompt"), (info.cases, "case"), (info.items, "item")))
        click.echo(f"{info.name:<{width}}  {plural(len(info.languages), 'language')} ({langs}), {sizes}")
        if info.description:
            click.echo(" " * (width + 2) + safe_text(info.description))
    click.echo("\nrun one: evalkit run NAME --out runs/NAME    copy one to edit: evalkit init --from NAME")
    return 0
