"""``evalkit report RUN_DIR [--out FILE] [--format html|md]``."""

from __future__ import annotations

from pathlib import Path

import click

from evalkit.cli._common import safe_text


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file (default: RUN_DIR/report.html; Markdown goes to stdout).")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True,
              help="A self-contained HTML page, or a Markdown summary for pull-request comments.")
def command(run_dir: Path, out: Path | None, fmt: str) -> int:
    """Render the report of one run directory from its manifest, results and summary."""
    from evalkit.report import render_run_report, write_run_report

    if fmt == "md" and out is None:
        click.echo(safe_text(render_run_report(run_dir, "md")))  # outputs and names are untrusted
        return 0
    target = out or run_dir / "report.html"
    write_run_report(run_dir, target, "md" if fmt == "md" else "html")
    click.echo(f"report: {target}")
    return 0
