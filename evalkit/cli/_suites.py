"""``evalkit suites``: the built-in suites, with their languages and sizes."""

from __future__ import annotations

import click

from evalkit.cli._common import safe_text


@click.command("suites")
def command() -> int:
    """List the built-in suites (run one by name: evalkit run translation --out runs/t)."""
    from evalkit.suites import describe, names

    infos = [describe(name) for name in names()]
    width = max(len(info.name) for info in infos)
    for info in infos:
        langs = " ".join(info.languages)
        click.echo(f"{info.name:<{width}}  {len(info.languages)} languages ({langs}), {info.prompts} "
                   f"prompt{'s' if info.prompts != 1 else ''}, {info.cases} cases, {info.items} items")
        if info.description:
            click.echo(" " * (width + 2) + safe_text(info.description))
    click.echo("\nrun one: evalkit run NAME --out runs/NAME    copy one to edit: evalkit init --from NAME")
    return 0
