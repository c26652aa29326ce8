"""SIGTERM at any moment of evalkit's start-up exits 130 (its documented "interrupted"), never 143 / -15.

The CLI's imports (click, a command's modules) take tens of milliseconds before ``main()`` runs; the handler is
installed by the entry point itself (``evalkit/__main__.py``, also the console script's entry), before them. Two
ways to check it, both with real processes:

* **deterministic**: an import hook in the child sends SIGTERM to its own process at the N-th import after
  the entry module was found (so at the very first import of evalkit's code, then deeper and deeper);
* **timed**: ``python -X importtime -m evalkit run`` gets SIGTERM after increasing delays from the spawn. A
  SIGTERM that lands before evalkit's entry ran (the interpreter's own start-up) kills it, which no program
  can prevent; the ``-X importtime`` lines tell such a death apart from one inside evalkit's imports (none
  of click's or of an ``evalkit.`` module's imports had completed).

Either way a run directory that was created is consistent (never left ``running``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import translator

from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parent.parent
SUITE = """\
name: start-up-signals
model: {{name: test-model, base_url: '{base_url}', params: {{temperature: 0, max_tokens: 16}}}}
languages: [de]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - {{id: c1, source: Good morning, reference: {{de: Guten Morgen}}}}
  - {{id: c2, source: Thank you very much, reference: {{de: Vielen Dank}}}}
scorers: [exact_match]
"""

# The child: an import hook that sends SIGTERM to its own process at the N-th import after the entry module was
# looked up, then evalkit as `python -m evalkit` or as the console script pip writes for pyproject's entry.
CHILD = r"""
import os, signal, sys
n, how, entry_module, entry_func, *args = sys.argv[1:]
n = int(n)

class KillAt:
    armed = False
    seen = 0

    def find_spec(self, name, path=None, target=None):
        if KillAt.armed:
            KillAt.seen += 1
            if KillAt.seen == n:
                sys.stderr.write(f"SIGTERM at the import of {name}\n")
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGTERM)
        elif name == entry_module:
            KillAt.armed = True
        return None

sys.meta_path.insert(0, KillAt())
sys.argv = ["evalkit", *args]
if how == "-m":
    import runpy
    runpy.run_module("evalkit", run_name="__main__", alter_sys=True)
else:  # pip's console-script template
    exec(f"import re\nimport sys\nfrom {entry_module} import {entry_func}\n"
         f"sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\nsys.exit({entry_func}())",
         {"__name__": "__main__"})
"""


def _console_entry() -> tuple[str, str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        target = tomllib.load(fh)["project"]["scripts"]["evalkit"]
    module, _, func = target.partition(":")
    return module, func


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "EVALKIT_CACHE_DIR": str(tmp_path / "cache")}


def _consistent(out: Path) -> None:
    if (out / "manifest.json").exists():
        assert read_manifest(out).status in {"interrupted", "complete"}, read_manifest(out).status


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith(("import time:", "SIGTERM at")) and " items  " not in line]


@pytest.fixture
def slow_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(translator, latency=1.0) as srv:
        yield srv


@pytest.mark.parametrize(("how", "kills"), [("-m", (1, 2, 3, 5, 10, 25, 60, 150, 400)),
                                            ("script", (1, 2, 10, 60))])
def test_sigterm_at_each_import_of_the_start_up_exits_130(how: str, kills: tuple[int, ...], tmp_path: Path,
                                                           slow_server: FakeOpenAIServer) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(base_url=slow_server.base_url), encoding="utf-8")
    module, func = ("evalkit.__main__", "entry") if how == "-m" else _console_entry()
    killed = 0
    for n in kills:
        out = tmp_path / f"run-{how}-{n}"
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n), how, module, func, "run", str(suite),
                               "--out", str(out), "--no-report"], capture_output=True, text=True, timeout=120,
                              env=_env(tmp_path))
        hit = "SIGTERM at the import of" in proc.stderr
        killed += hit
        assert proc.returncode == (130 if hit else 0), (n, proc.returncode, proc.stderr[-2000:])
        if hit:
            assert "interrupted" in _errors(proc.stderr)[-1] and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        _consistent(out)
    assert killed >= 3  # the hook did fire, from the very first import on


# Modules whose import completes only after evalkit's entry has run: a death after one of these is evalkit's fault.
_EVALKIT_STARTED = re.compile(r"^import time:.*\|\s*(click|evalkit\.)", re.MULTILINE)


def test_sigterm_after_small_delays_from_the_spawn_exits_130(tmp_path: Path, slow_server: FakeOpenAIServer) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(base_url=slow_server.base_url), encoding="utf-8")
    outcomes = []
    for i, delay in enumerate((0.0, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.7)):
        out = tmp_path / f"run-{i}"
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "evalkit", "run", str(suite), "--out",
                                 str(out), "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=_env(tmp_path))
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        started = bool(_EVALKIT_STARTED.search(stderr))
        outcomes.append((delay, proc.returncode, started))
        if proc.returncode == -signal.SIGTERM:
            assert not started, f"killed by SIGTERM after evalkit's entry ran (delay {delay} s): {stderr[-3000:]}"
        else:
            assert proc.returncode == 130, (delay, proc.returncode, stderr[-3000:])
            assert "interrupted" in _errors(stderr)[-1] and "Traceback" not in stderr, stderr[-3000:]
        _consistent(out)
    assert any(code == 130 for _, code, _ in outcomes), outcomes
