"""``evalkit init``: a starter suite to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from evalkit.errors import UsageError

STARTER = """\
# A starter evalkit suite: one case, one language. Edit it, then:
#   evalkit validate {name}
#   evalkit run {name} --out runs/first --model local:smollm2     # embedded model, offline
#   AIMLAPI_API_KEY=... evalkit run {name} --out runs/api          # meta-llama/Llama-3.2-3B-Instruct-Turbo
# The format is documented in docs/suite-format.md.
name: my-first-suite
description: Translate a greeting.
model:
  name: meta-llama/Llama-3.2-3B-Instruct-Turbo
  params: {{temperature: 0, max_tokens: 64, seed: 1}}
languages: [de]
prompts:
  plain:
    system: You are a careful translator. Reply with the translation only.
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - id: greet-1
    source: Good morning, how are you?
    reference:
      de: Guten Morgen, wie geht es dir?
scorers:
  - chrf: {{plus: true}}
  - bleu
  - language
"""


@click.command("init")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "from_name", metavar="NAME",
              help="Copy built-in suite NAME (see `evalkit suites`) and its data to edit (default path: NAME.yaml).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def command(path: Path | None, from_name: str | None, force: bool) -> int:
    """Write a starter suite (default: evalkit.yaml), or a copy of a built-in suite with --from."""
    if from_name is not None:
        return _copy_builtin(from_name, path, force)
    path = path or Path("evalkit.yaml")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    path.write_text(STARTER.format(name=path), encoding="utf-8")
    click.echo(f"wrote {path}; next: evalkit validate {path}")
    return 0


def _copy_builtin(name: str, path: Path | None, force: bool) -> int:
    """Copy a built-in suite and the data files it reads, keeping their relative paths."""
    from evalkit.suites import builtin_path, data_files, hint

    source = builtin_path(name)
    if source is None:
        raise UsageError(f"--from {name}: no built-in suite of that name{hint(name)}")
    target = path or Path(source.name)
    copies = [(source, target)] + [(source.parent / rel, target.parent / rel) for rel in data_files(source)]
    if not force:
        for _, dest in copies:
            if dest.exists():
                raise UsageError(f"{dest} already exists (use --force to overwrite)")
    for src, dest in copies:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    extra = f" and {', '.join(str(dest) for _, dest in copies[1:])}" if copies[1:] else ""
    click.echo(f"wrote {target}{extra}; next: evalkit validate {target}")
    return 0
