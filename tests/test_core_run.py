"""End-to-end `evalkit run` against the project's real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import sacrebleu
from helpers import run_cli, write_suite

from evalkit.results import iter_results, read_manifest, read_summary
from evalkit.testing import FakeOpenAIServer, Fault


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_run_writes_manifest_results_summary(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-report") == 0
    lines = _lines(out)
    assert len(lines) == 3 * 3 * 2  # cases x languages x variants
    assert len({x["item_id"] for x in lines}) == len(lines)
    manifest = read_manifest(out)
    assert manifest.status == "complete"
    assert manifest.counts.planned == manifest.counts.done == 18
    assert manifest.model.base_url == server.base_url
    assert manifest.model.params == {"temperature": 0.0, "max_tokens": 32, "seed": 1}
    assert len(manifest.suite.sha256) == 64
    summary = read_summary(out)
    cells = {(c.variant, c.language, c.metric): c for c in summary.cells}
    # The "plain" prompt is answered perfectly; "polite" is not (the server only knows "into X:" prompts
    # preceded by "Translate", which "Please translate" also contains, so both are perfect here).
    for lang in ("de", "zh", "th"):
        assert cells[("plain", lang, "exact_match")].value == 100.0
        assert cells[("plain", lang, "chrf++")].value == 100.0
        assert cells[("plain", lang, "ter")].value == 0.0
        bleu = cells[("plain", lang, "bleu")]
        assert bleu.signature is not None and "nrefs:1" in bleu.signature
    assert "tok:zh" in cells[("plain", "zh", "bleu")].signature
    assert "tok:char" in cells[("plain", "th", "bleu")].signature
    assert "tok:13a" in cells[("plain", "de", "bleu")].signature
    assert manifest.signatures["bleu"]["zh"] == cells[("plain", "zh", "bleu")].signature


def test_corpus_scores_equal_sacrebleu(tmp_path: Path) -> None:
    hyps = {"Good morning": "Guten Morgen", "Thank you very much": "Danke sehr",
            "The weather is nice today": "Das Wetter ist schön heute"}

    def responder(request: dict) -> str:
        text = request["messages"][-1]["content"]
        return next((v for k, v in hyps.items() if k in text), "?")

    with FakeOpenAIServer(responder) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        out = tmp_path / "run"
        assert run_cli("run", suite, "--out", out, "--languages", "de", "--prompts", "plain", "--no-report") == 0
    results = sorted(iter_results(out / "results.jsonl"), key=lambda r: r.case_id)
    sys_out = [r.output or "" for r in results]
    refs = [[r.references[0] for r in results]]
    cells = {c.metric: c for c in read_summary(out).cells}
    assert abs(cells["bleu"].value - sacrebleu.corpus_bleu(sys_out, refs).score) < 1e-9
    assert abs(cells["chrf++"].value - sacrebleu.corpus_chrf(sys_out, refs, word_order=2).score) < 1e-9
    assert abs(cells["ter"].value - sacrebleu.corpus_ter(sys_out, refs).score) < 1e-9
    assert cells["bleu"].ci_low <= cells["bleu"].value <= cells["bleu"].ci_high
    # item scores equal sentence-level sacrebleu
    for r in results:
        assert abs(r.scores["bleu"] - sacrebleu.sentence_bleu(r.output, r.references).score) < 1e-9
        assert abs(r.scores["chrf++"] - sacrebleu.sentence_chrf(r.output, r.references, word_order=2).score) < 1e-9


def test_resume_requests_only_missing_items(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-cache", "--no-report") == 0
    full = _lines(out)
    # Simulate a crash: keep 7 lines and a torn 8th.
    text = (out / "results.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(text[:7]) + text[7][:25], encoding="utf-8")
    server.reset()
    assert run_cli("run", suite, "--out", out, "--no-cache", "--no-report") == 0
    assert len(server.chat_requests) == 18 - 7
    again = _lines(out)
    assert sorted(x["item_id"] for x in again) == sorted(x["item_id"] for x in full)


def test_cache_hits_and_misses(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    first = len(server.chat_requests)
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    assert len(server.chat_requests) == first  # everything from the cache
    assert read_manifest(tmp_path / "b").counts.cached == 18
    # A different model name or parameter misses the cache.
    assert run_cli("run", suite, "--out", tmp_path / "c", "--model", "other-model", "--no-report") == 0
    assert len(server.chat_requests) == 2 * first
    body = (tmp_path / "suite.yaml").read_text(encoding="utf-8").replace("max_tokens: 32", "max_tokens: 33")
    (tmp_path / "suite.yaml").write_text(body, encoding="utf-8")
    assert run_cli("run", suite, "--out", tmp_path / "d", "--no-report") == 0
    assert len(server.chat_requests) == 3 * first
    # --no-cache always asks
    assert run_cli("run", suite, "--out", tmp_path / "e", "--no-cache", "--no-report") == 0
    assert len(server.chat_requests) == 4 * first


def test_failed_items_are_errors_not_zero_scores(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("400", match="Thank you")])
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    # A third of the items fail, and 400s come back before the answers are scored: with the default limit
    # (50%) the first ten items written could stop the run early. This test is about how failures are recorded.
    assert run_cli("run", suite, "--out", out, "--no-report", "--max-error-rate", "1") == 0
    failed = [x for x in _lines(out) if x["error"]]
    assert len(failed) == 6
    assert all(x["error"]["kind"] == "client_error" and x["scores"] == {} for x in failed)
    assert all(x["attempts"] == 1 for x in failed)  # 400 is never retried
    summary = read_summary(out)
    em = {(c.variant, c.language): c for c in summary.cells if c.metric == "exact_match"}
    assert em[("plain", "de")].n == 2 and em[("plain", "de")].value == 100.0
    errs = {(e.variant, e.language): e for e in summary.errors}
    assert errs[("plain", "de")].errors == 1 and errs[("plain", "de")].by_kind == {"client_error": 1}


def test_retries_honour_retry_after_then_succeed(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.set_faults([Fault("429", attempts={1}, retry_after=0), Fault("503", attempts={2})])
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--languages", "de", "--prompts", "plain", "--no-report") == 0
    lines = _lines(out)
    assert all(x["error"] is None and x["attempts"] == 3 for x in lines)


def test_auth_refused_exits_3_and_names_variable(tmp_path: Path, capsys) -> None:
    with FakeOpenAIServer(api_key="sk-right") as srv:
        suite = write_suite(tmp_path, srv.base_url)
        code = run_cli("run", suite, "--out", tmp_path / "run", "--no-report")
    assert code == 3
    err = capsys.readouterr().err
    assert "AIMLAPI_API_KEY" in err and "sk-right" not in err
    assert read_manifest(tmp_path / "run").status == "aborted"


def test_api_key_sent_from_env_and_never_written(tmp_path: Path, monkeypatch) -> None:
    secret = "sk-evalkit-SECRET-4242"
    monkeypatch.setenv("MY_KEY", secret)
    with FakeOpenAIServer(api_key=secret) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--api-key-env", "MY_KEY",
                       "--base-url", srv.base_url) == 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_stable_item_ids_survive_prompt_edits(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    text = suite.read_text(encoding="utf-8").replace("You are a translator.", "You are an expert translator.")
    suite.write_text(text, encoding="utf-8")
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    a = {x["item_id"] for x in _lines(tmp_path / "a")}
    b = {x["item_id"] for x in _lines(tmp_path / "b")}
    assert a == b


def test_cached_rerun_reuses_scores_but_not_across_scorer_changes(tmp_path: Path, server: FakeOpenAIServer,
                                                                  monkeypatch) -> None:
    from evalkit.scoring._pool import ItemScorer

    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "a", "--no-report") == 0
    calls = []
    real = ItemScorer.ascore

    async def counting(self, *args):  # type: ignore[no-untyped-def]
        calls.append(args)
        return await real(self, *args)

    monkeypatch.setattr(ItemScorer, "ascore", counting)
    assert run_cli("run", suite, "--out", tmp_path / "b", "--no-report") == 0
    assert calls == []  # responses and scores both from the cache

    def scores(d: Path) -> dict:
        return {x["item_id"]: (x["scores"], x["stats"]) for x in _lines(d)}

    assert scores(tmp_path / "a") == scores(tmp_path / "b")
    suite.write_text(suite.read_text(encoding="utf-8").replace("  - ter\n", "  - ter: {no_punct: true}\n"),
                     encoding="utf-8")
    assert run_cli("run", suite, "--out", tmp_path / "c", "--no-report") == 0
    # Same responses but changed scorers: re-scored. Both prompt variants get the same answers, so
    # the 18 items hold 9 distinct (output, references) pairs: scored once each, or twice when the
    # two copies are scored concurrently in a worker process before either reaches the cache.
    assert 9 <= len(calls) <= 18


def test_large_runs_stream_items_instead_of_keeping_them(tmp_path: Path, server: FakeOpenAIServer,
                                                         monkeypatch) -> None:
    import evalkit.runner._plan

    monkeypatch.setattr(evalkit.runner._plan, "KEEP_RENDERED_ITEMS", 2)
    suite = write_suite(tmp_path, server.base_url)
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-report") == 0
    assert len(_lines(tmp_path / "run")) == 18
