"""The README's install path, as a new user takes it (``make install-check``, part of ``make test``).

A throw-away virtual environment, a plain ``pip install`` of this checkout (no extras: pip's cache
makes it quick), then, from an empty folder so that nothing of the checkout is in sight: every
built-in suite listed and validated by name, and the translation suite run briefly against the
test server. Japanese and Korean must score with their own tokenizers. Standard library only, so
any ``python3`` runs it. Exit 0 when all is well.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = sorted(p.stem for p in (ROOT / "evalkit" / "suites").glob("*.yaml"))  # built-in, run by name
KOREAN = """\
from evalkit.scoring import build_scorer
scorer = build_scorer("bleu", {}, "ko")
assert "tok:ko-mecab" in scorer.signature(), scorer.signature()
value = scorer.score("나는 학교에 갑니다", ["나는 학교에 갑니다"]).value
assert value is not None and abs(value - 100) < 1e-6, value
print("ko-mecab ok")
"""


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env.update(EVALKIT_CACHE_DIR=str(work / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("AIMLAPI_API_KEY", None)  # a new user's shell: no key, a local endpoint
    return env


def _run(cmd: list[str | Path], work: Path) -> str:
    shown = " ".join(str(c) for c in cmd)
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=work, env=_env(work), capture_output=True, text=True, check=False)
    print(f"$ {shown}  ({time.monotonic() - start:.1f} s)", flush=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"install-check: `{shown}` exited {done.returncode}")
    return done.stdout


def _start_server(python: Path, work: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [python, "-m", "evalkit.testing.server"], cwd=work, env=_env(work), stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    line = server.stdout.readline().strip()
    if not line.startswith("READY "):
        server.kill()
        raise SystemExit(f"install-check: the test server did not start ({line!r})")
    return server, line.split(" ", 1)[1]


def _check_signatures(run_dir: Path) -> None:
    """BLEU on Japanese must have used MeCab, not a fallback tokenizer (TER has its own)."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    for metric, by_language in manifest.get("signatures", {}).items():
        if "ja" in by_language and metric == "bleu":
            assert "ja-mecab" in by_language["ja"], f"{run_dir}: {metric} ja: {by_language['ja']}"


def main() -> int:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="evalkit-install-check-") as tmp:
        work = Path(tmp)
        venv.create(work / "venv", with_pip=True)
        python, evalkit = work / "venv" / "bin" / "python", work / "venv" / "bin" / "evalkit"
        _run([python, "-m", "pip", "install", "-q", "--no-compile", ROOT], work)  # the README's install, no extras
        _run([evalkit, "--version"], work)
        listed = _run([evalkit, "suites"], work)
        assert all(f"{name} " in listed for name in SUITES), listed  # shipped in the wheel
        for suite in SUITES:
            print(_run([evalkit, "validate", suite], work).strip())
        print(_run([python, "-c", KOREAN], work).strip())
        server, base_url = _start_server(python, work)
        try:
            # The README's flagship suite: Japanese BLEU, the language check, the report.
            out = work / "runs" / "translation"
            _run([evalkit, "run", "translation", "--out", out, "--base-url", base_url,
                  "--model", "echo", "--limit", "1", "--languages", "de,zh,ja"], work)
            _check_signatures(out)
            assert (out / "report.html").is_file(), "no report.html"
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"install-check: ok ({time.monotonic() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
