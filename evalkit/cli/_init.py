"""``evalkit init``: a starter suite to edit."""

from __future__ import annotations

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
@click.argument("path", default="evalkit.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def command(path: Path, force: bool) -> int:
    """Write a starter suite (default: evalkit.yaml)."""
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    path.write_text(STARTER.format(name=path), encoding="utf-8")
    click.echo(f"wrote {path}; next: evalkit validate {path}")
    return 0
