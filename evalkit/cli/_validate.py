"""``evalkit validate SUITE``."""

from __future__ import annotations

from pathlib import Path

import click

from evalkit.cli._common import safe_text
from evalkit.cli._format import MAX_PROBLEMS_SHOWN, plural, quiet_libraries


@click.command("validate")
@click.argument("suites", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-outside-paths", is_flag=True, help="Let the suite read data outside its folder.")
@click.option("--base-url", help="The endpoint `evalkit run` will use (a suite may not send the key elsewhere).")
@click.option("--api-key-env", help="The variable `evalkit run` will read the API key from.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE_OR_PATH",
              help="Import custom scorers from a module or .py/package path (repeatable; see docs/scorers.md).")
def command(suites: tuple[Path, ...], allow_outside_paths: bool, base_url: str | None, api_key_env: str | None,
            plugins: tuple[str, ...] = ()) -> int:
    """Check suites (files, or built-in suites' names) without calling a model: schema, files, templates,
    languages, scorers, references.

    Every problem is printed as file:line:col: field: message. Exit 0 when valid, 2 otherwise.
    """
    from evalkit.config import check_suite_choices
    from evalkit.items import skipped_note
    from evalkit.scoring import load_plugins
    from evalkit.validate import validate_suite

    quiet_libraries()
    load_plugins(plugins)

    status = 0
    for path in suites:
        report = validate_suite(path, allow_outside_paths=allow_outside_paths)
        if report.suite is not None:
            # What only the person running evalkit may choose: endpoint, key variable, a model path outside.
            report.errors[:0] = check_suite_choices(report.suite, base_url=base_url, api_key_env=api_key_env)
        if report.ok:
            click.echo(f"{path}: ok ({plural(report.cases, 'case')}, {plural(report.items, 'item')})")
            skipped = skipped_note(report.skipped_languages)  # long-format data: rows in other languages
            if skipped:
                click.echo(f"  {skipped}")
            continue
        status = 2
        for err in report.errors[:MAX_PROBLEMS_SHOWN]:
            click.echo(safe_text(err.message), err=True)
        if len(report.errors) > MAX_PROBLEMS_SHOWN:
            click.echo(f"... and {plural(len(report.errors) - MAX_PROBLEMS_SHOWN, 'more problem')}", err=True)
    return status
