"""``evalkit run SUITE --model A --model B --out DIR``: one run per model under DIR, a comparison across them
(DIR/compare.html, the first model the baseline), the worst exit code of the runs, each run resumable on its own by
re-running the same command. One fake server answers differently per model name (the request's ``model``)."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.cli._models import model_slug, model_slugs
from evalkit.errors import UsageError
from evalkit.results import read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer

GOOD = "meta-llama/Llama-3.2-3B-Instruct-Turbo"
BAD = "local-ish:bad model"  # no provider prefix the runner knows: served by the OpenAI-compatible endpoint


def per_model(request: dict[str, Any]) -> str:
    """GOOD translates perfectly; any other model answers 'Sorry'."""
    return translator(request) if request["model"] == GOOD else "Sorry"


def test_slugs_are_safe_distinct_and_stable() -> None:
    names = [GOOD, "local:/path/x.gguf", "local:/other/x.gguf", "local:/path/X.gguf", "Model", "model", "gpt-4o",
             "compare.html", "..", ".", "a/b", "a-b", "a:b", "a b", "con", "x" * 300, "x" * 301, "ü-modell", "-rf"]
    slugs = model_slugs(names)
    assert len(set(slugs)) == len(names)
    assert len({s.lower() for s in slugs}) == len(names)  # distinct on case-insensitive file systems too
    for slug in slugs:
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,79}", slug), slug
        assert slug not in {"compare.html", "con", ".", ".."}
    assert model_slug("gpt-4o") == "gpt-4o"  # a plain name is kept as it is
    assert model_slugs([GOOD, "gpt-4o"])[0] == model_slug(GOOD)  # the same folder whatever the other models
    with pytest.raises(UsageError, match="twice"):
        model_slugs(["gpt-4o", "gpt-4o"])


def test_two_models_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(per_model) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "out"
        code = run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", out, "--prompts", "plain")
        asked = {r.body["model"] for r in srv.chat_requests if r.body}
    assert code == 0
    assert asked == {GOOD, BAD}
    good, bad = out / model_slug(GOOD), out / model_slug(BAD)
    assert read_manifest(good).model.name == GOOD and read_manifest(bad).model.name == BAD
    assert read_manifest(good).status == read_manifest(bad).status == "complete"
    exact = {run: {c.language: c.value for c in read_summary(run).cells if c.metric == "exact_match"}
             for run in (good, bad)}
    assert exact[good] == {"de": 100.0, "zh": 100.0, "th": 100.0}
    assert exact[bad] == {"de": 0.0, "zh": 0.0, "th": 0.0}
    assert (good / "report.html").exists() and (bad / "report.html").exists()
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert GOOD in page and "bad model" in page  # labelled by model name, the first one the baseline
    assert not (out / "manifest.json").exists()  # no run of its own in DIR
    printed = capsys.readouterr().out
    # One grid per metric: languages down, the models side by side (one column each, the first the baseline).
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("exact_match") and GOOD in line)
    assert lines[header].split()[1:] == [GOOD, "local-ish:bad", "model"]
    assert [lines[header + i].split() for i in (1, 2, 3)] == [["de", "100.0", "0.0"], ["zh", "100.0", "0.0"],
                                                              ["th", "100.0", "0.0"]]
    assert f"{BAD} vs {GOOD}:" in printed  # the comparison's summary lines
    assert str(out / "compare.html") in printed


def test_worst_exit_code_and_each_run_resumes(tmp_path: Path) -> None:
    def broken_for_bad(request: dict[str, Any]) -> str:
        if request["model"] == BAD:
            raise RuntimeError("the server fails for this model")  # the fake server answers 500
        return translator(request)

    with FakeOpenAIServer(broken_for_bad) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "out"
        argv = ("run", suite, "--model", BAD, "--model", GOOD, "--out", out, "--prompts", "plain",
                "--max-attempts", "1", "--max-error-rate", "0.1", "--no-report")
        assert run_cli(*argv) == 3  # one run could not complete: the command could not
        # The run after the failed one still ran, in full.
        assert read_manifest(out / model_slug(GOOD)).status == "complete"
        assert read_manifest(out / model_slug(BAD)).status == "aborted"
        assert not (out / "compare.html").exists()
        srv.set_responder(per_model)
        srv.reset()
        assert run_cli(*argv) == 0  # the same command again resumes each run
        asked = [r.body["model"] for r in srv.chat_requests if r.body]
    assert GOOD not in asked  # the complete run sent nothing again
    assert asked.count(BAD) == 9  # the aborted run sent what it lacked (3 cases x 3 languages)
    assert read_manifest(out / model_slug(BAD)).status == "complete"


def test_one_model_writes_into_out_as_before(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "out"
    assert run_cli("run", suite, "--model", GOOD, "--out", out, "--prompts", "plain", "--no-report") == 0
    assert read_manifest(out).model.name == GOOD
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == []
    assert not (out / "compare.html").exists()


def test_same_model_twice_is_bad_input(tmp_path: Path, server: FakeOpenAIServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--model", GOOD, "--model", GOOD, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model" in err[0] and "twice" in err[0]
    assert server.count == 0


def test_one_price_for_several_models_is_bad_input(tmp_path: Path, server: FakeOpenAIServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", tmp_path / "out",
                   "--price-in", "1", "--price-out", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--prices" in err[0]
    assert server.count == 0


def test_several_models_into_a_single_run_is_bad_input(tmp_path: Path, server: FakeOpenAIServer,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "out"
    assert run_cli("run", suite, "--model", GOOD, "--out", out, "--prompts", "plain", "--no-report") == 0
    sent = server.count
    capsys.readouterr()
    assert run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", out, "--prompts", "plain") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "single model" in err[0]
    assert server.count == sent
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == []


def test_dry_run_per_model_sends_nothing(tmp_path: Path, server: FakeOpenAIServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "out"
    assert run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", out, "--dry-run") == 0
    printed = capsys.readouterr().out
    assert f"({GOOD} at" in printed and f"({BAD} at" in printed
    assert server.count == 0
    assert not out.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_interrupted_stops_before_the_next_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fired: list[int] = []

    def interrupt_once(request: dict[str, Any]) -> str:
        if not fired:
            fired.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the first model's run is under way
        return per_model(request)

    with FakeOpenAIServer(interrupt_once) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "out"
        code = run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", out, "--no-report")
        asked = {r.body["model"] for r in srv.chat_requests if r.body}
    assert code == 130
    assert asked == {GOOD}  # the second model never started
    assert read_manifest(out / model_slug(GOOD)).status == "interrupted"
    assert not (out / model_slug(BAD)).exists()
    err = capsys.readouterr().err
    assert "interrupted; resume with: evalkit run" in err and f"--model {BAD!r}" in err


def test_one_models_bad_input_does_not_stop_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(per_model) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "out"
        missing = f"local:{tmp_path / 'no-such-model.gguf'}"
        code = run_cli("run", suite, "--model", missing, "--model", GOOD, "--out", out, "--prompts", "plain",
                       "--no-report")
    assert code == 2
    assert read_manifest(out / model_slug(GOOD)).status == "complete"
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("evalkit: error:")]
    assert len(err) == 1 and "no-such-model.gguf" in err[0]


def test_prices_file_prices_each_model_and_a_missing_one_stops_before_any_request(
        tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "out"
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"prices:\n  {GOOD}: {{input: 1, output: 2}}\n", encoding="utf-8")
    assert run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", out, "--prices", prices) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no prices for model" in err[0] and str(prices) in err[0]
    assert server.count == 0 and not out.exists()
    prices.write_text(f"prices:\n  {GOOD}: {{input: 1, output: 2}}\n  '{BAD}': {{input: 3, output: 4}}\n",
                      encoding="utf-8")
    assert run_cli("run", suite, "--model", GOOD, "--model", BAD, "--out", out, "--prices", prices,
                   "--prompts", "plain", "--no-report") == 0
    recorded = {m: read_manifest(out / model_slug(m)).prices for m in (GOOD, BAD)}
    assert {m: (p.model, p.input_per_mtok, p.output_per_mtok) for m, p in recorded.items() if p} == {
        GOOD: (GOOD, 1.0, 2.0), BAD: (BAD, 3.0, 4.0)}
