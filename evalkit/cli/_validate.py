"""``evalkit validate SUITE``."""

from __future__ import annotations

from pathlib import Path

import click

from evalkit.cli._common import safe_text


@click.command("validate")
@click.argument("suites", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-outside-paths", is_flag=True, help="Let the suite read data outside its folder.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE_OR_PATH",
              help="Import custom scorers from a module or .py/package path (repeatable; see docs/scorers.md).")
def command(suites: tuple[Path, ...], allow_outside_paths: bool, plugins: tuple[str, ...] = ()) -> int:
    """Check suites without calling a model: schema, files, templates, languages, scorers, references.

    Every problem is printed as file:line:col: field: message. Exit 0 when valid, 2 otherwise.
    """
    from evalkit.scoring import load_plugins
    from evalkit.validate import validate_suite

    load_plugins(plugins)

    status = 0
    for path in suites:
        report = validate_suite(path, allow_outside_paths=allow_outside_paths)
        if report.ok:
            click.echo(f"{path}: ok ({report.cases} cases, {report.items} items)")
            continue
        status = 2
        for err in report.errors:
            click.echo(safe_text(err.message), err=True)
    return status
