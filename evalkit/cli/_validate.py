"""``evalkit validate SUITE``."""

from __future__ import annotations

from pathlib import Path

import click

from evalkit.cli._common import safe_text
from evalkit.cli._format import MAX_PROBLEMS_SHOWN, plural, quiet_libraries


@click.command("validate")
@click.argument("suites", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-outside-paths", is_flag=True, help="Let the suite read data outside its folder.")
def command(suites: tuple[Path, ...], allow_outside_paths: bool) -> int:
    """Check suites (files, or built-in suites' names) without calling a model: schema, files, templates,
    languages, scorers, references.

    Every problem is printed as file:line:col: field: message. Exit 0 when valid, 2 otherwise.
    """
    from evalkit.validate import validate_suite

    quiet_libraries()

    status = 0
    for path in suites:
        report = validate_suite(path, allow_outside_paths=allow_outside_paths)
        if report.ok:
            click.echo(f"{path}: ok ({plural(report.cases, 'case')}, {plural(report.items, 'item')})")
            continue
        status = 2
        for err in report.errors[:MAX_PROBLEMS_SHOWN]:
            click.echo(safe_text(err.message), err=True)
        if len(report.errors) > MAX_PROBLEMS_SHOWN:
            click.echo(f"... and {plural(len(report.errors) - MAX_PROBLEMS_SHOWN, 'more problem')}", err=True)
    return status
