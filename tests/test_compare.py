"""evalkit.compare: alignment, refusal of incompatible runs, and numbers checked against evalkit.stats
and sacrebleu directly, on real runs against the project's OpenAI-compatible test server."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sacrebleu
import yaml
from helpers import run_cli

from evalkit.compare import compare_runs, load_run
from evalkit.errors import IncompatibleRuns, ResultsError, UsageError
from evalkit.stats import corpus_score_fn, paired_binary, paired_bootstrap
from evalkit.testing import FakeOpenAIServer

# --- a generated multilingual suite (shared with test_gate.py) -------------------------------------

LANGS = {"de": "German", "hi": "Hindi", "th": "Thai"}
WORDS = {  # space-separated vocabularies
    "en": "the dog cat house tree runs quickly today green market friend book very good we went home",
    "de": "der Hund Katze Haus Baum läuft schnell heute grüne Markt Freund Buch sehr gut wir gingen nach",
    "hi": "मैं आज बाजार जा रहा हूँ यह किताब बहुत अच्छी है हम कल घर पर थे",
    "th": "ฉัน ไป ตลาด วันนี้ หนังสือ เล่ม นี้ ดี มาก เรา อยู่ บ้าน เมื่อวาน แมว หมา",
}


def _sentence(rng: random.Random, lang: str, n: int) -> str:
    vocabulary = WORDS[lang].split()
    words = [rng.choice(vocabulary) for _ in range(n)]
    return "".join(words) if lang == "th" else " ".join(words)


def make_cases(n: int = 30, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` cases with an English source and a reference in each of LANGS."""
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        length = rng.randint(6, 10)
        source = f"Sentence {i}: " + _sentence(rng, "en", length)
        cases.append({"id": f"c{i:02d}", "source": source,
                      "reference": {lang: _sentence(rng, lang, length) for lang in LANGS}})
    return cases


CASES = make_cases()
REFERENCES = {(LANGS[lang], case["source"]): (i, lang, case["reference"][lang])
              for i, case in enumerate(CASES) for lang in LANGS}


def write_multi_suite(tmp_path: Path, base_url: str, *, name: str = "multi", cases: list[dict[str, Any]] | None = None,
                      prompts: dict[str, Any] | None = None, gates: dict[str, Any] | None = None,
                      scorers: list[Any] | None = None, file: str = "suite.yaml") -> Path:
    """A suite of ~30 cases × de/hi/th against ``base_url``."""
    doc: dict[str, Any] = {
        "name": name,
        "model": {"name": "test-model", "base_url": base_url,
                  "params": {"temperature": 0, "max_tokens": 64, "seed": 1}, "max_attempts": 2},
        "languages": list(LANGS),
        "prompts": prompts or {"plain": {"user": "Translate into {{ language.name }}: {{ source }}"}},
        "cases": cases if cases is not None else CASES,
        # No `language` scorer by default: its detector takes ~25 s to load once per process.
        "scorers": scorers or [{"chrf": {"plus": True}}, "bleu", "ter", "exact_match"],
    }
    if gates is not None:
        doc["gates"] = gates
    path = tmp_path / file
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def translator_for(bad: dict[str, float] | None = None, bad_prompt: str | None = None) -> Callable[[dict], str]:
    """A translator for CASES; for each language in ``bad`` that share of cases is answered badly
    (alternately in English and with a truncated translation). With ``bad_prompt``, prompts
    containing that text are answered badly in every language."""
    bad = bad or {}

    def respond(request: dict[str, Any]) -> str:
        text = request["messages"][-1]["content"]
        for lang_name in LANGS.values():
            marker = f"into {lang_name}: "
            if marker in text:
                source = text.split(marker, 1)[1]
                index, lang, ref = REFERENCES[(lang_name, source)]
                share = 1.0 if bad_prompt and bad_prompt in text else bad.get(lang, 0.0)
                if index % 10 < round(10 * share):
                    return source if index % 2 == 0 else ref[: max(1, len(ref) // 2)]
                return ref
        return "Sorry"

    return respond


def make_run(tmp_path: Path, name: str, responder: Callable[[dict], str], *args: str | Path,
             suite_kwargs: dict[str, Any] | None = None) -> Path:
    """Run the generated suite against a fresh FakeOpenAIServer into ``tmp_path / name``."""
    out = tmp_path / name
    with FakeOpenAIServer(responder) as srv:
        suite = write_multi_suite(tmp_path, srv.base_url, file=f"{name}-suite.yaml", **(suite_kwargs or {}))
        assert run_cli("run", suite, "--out", out, "--no-report", "--no-cache", *args) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base run, an identical second run, and a candidate that answers Thai badly for 70% of cases."""
    tmp = tmp_path_factory.mktemp("runs")
    return {
        "base": make_run(tmp, "base", translator_for()),
        "same": make_run(tmp, "same", translator_for()),
        "bad_th": make_run(tmp, "bad_th", translator_for({"th": 0.7})),
    }


def _rewrite_manifest(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    dst.mkdir()
    (dst / "results.jsonl").write_bytes((src / "results.jsonl").read_bytes())
    manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest)
    (dst / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return dst


def _rewrite_results(src: Path, dst: Path, edit: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Path:
    dst.mkdir()
    (dst / "manifest.json").write_bytes((src / "manifest.json").read_bytes())
    lines = []
    for raw in (src / "results.jsonl").read_text(encoding="utf-8").splitlines():
        row = edit(json.loads(raw))
        if row is not None:
            lines.append(json.dumps(row, ensure_ascii=False))
    (dst / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


def _cells(comparison: Any) -> dict[tuple[str, str], Any]:
    return {(m.language, m.metric): m for m in comparison.metrics}


# --- alignment -------------------------------------------------------------------------------------


def test_identical_runs_align_and_show_no_change(runs: dict[str, Path]) -> None:
    c = compare_runs(runs["base"], runs["same"])
    assert len(c.pairs) == 90
    assert (c.unmatched_base, c.unmatched_cand, c.errors_base, c.errors_cand) == (0, 0, 0, 0)
    assert c.incompatibilities == [] and not c.forced
    assert c.languages() == ["de", "hi", "th"]
    assert len(c.metrics) == 3 * 4
    for m in c.metrics:
        assert m.result.delta == 0 and m.result.p_value == 1.0
        assert not m.regression and not m.significant
        assert m.variant == "plain"
    assert c.flips == []
    assert c.correction == "Holm–Bonferroni over 12 tests"
    assert all(p.key == p.base.item_id == p.cand.item_id for p in c.pairs)


def test_bad_thai_is_a_regression_only_in_thai(runs: dict[str, Path]) -> None:
    c = compare_runs(runs["base"], runs["bad_th"])
    cells = _cells(c)
    for metric in ("chrf++", "bleu", "ter", "exact_match"):
        assert cells[("th", metric)].regression, metric
        assert not cells[("de", metric)].regression and not cells[("hi", metric)].regression
    assert cells[("th", "ter")].result.delta > 0 and not cells[("th", "ter")].higher_is_better
    # Regressions sort first; exact_match lost 21 of 30 items.
    assert all(m.regression for m in c.metrics[:4])
    em = cells[("th", "exact_match")].result
    assert (em.n_pass_to_fail, em.n_fail_to_pass, em.n) == (21, 0, 30)
    assert em.base == 100.0 and abs(em.cand - 30.0) < 1e-9
    # Flips: pass→fail first, then the largest score drops; every one is Thai.
    kinds = [f.kind for f in c.flips]
    assert kinds[0] == "pass_to_fail" and "score_drop" in kinds and "fail_to_pass" not in kinds
    assert kinds.index("score_drop") > max(i for i, k in enumerate(kinds) if k == "pass_to_fail")
    assert {f.pair.language for f in c.flips} == {"th"}
    assert sum(1 for f in c.flips if f.kind == "pass_to_fail" and f.metric == "exact_match") == 21
    drops = [f for f in c.flips if f.kind == "score_drop" and f.metric == "chrf++"]
    assert len(drops) == 10 and drops == sorted(drops, key=lambda f: f.delta)
    lines = c.summary_lines()
    assert [line.split(":")[0] for line in lines] == ["de", "hi", "th"]
    th = lines[2]
    assert th.startswith("th: chrF++ 100.0 → ") and "▼ regression" in th
    assert "exact_match 100.0% → 30.0% (−70.0 pts" in th
    assert "▼" not in lines[0]


def test_corpus_cell_matches_sacrebleu_and_paired_bootstrap(runs: dict[str, Path]) -> None:
    c = compare_runs(runs["base"], runs["bad_th"], n_resamples=500, seed=3)
    cell = _cells(c)[("th", "chrf++")]
    base = {r.item_id: r for r in load_run(runs["base"]).results if r.language == "th"}
    cand = {r.item_id: r for r in load_run(runs["bad_th"]).results if r.language == "th"}
    ids = sorted(base)
    metric = sacrebleu.CHRF(word_order=2)
    b_stats = np.array(metric._extract_corpus_statistics([base[i].output for i in ids], [[base[i].references[0]
                                                                                            for i in ids]]))
    c_stats = np.array(metric._extract_corpus_statistics([cand[i].output for i in ids], [[cand[i].references[0]
                                                                                            for i in ids]]))
    expected = paired_bootstrap(b_stats, c_stats, corpus_score_fn(metric), metric="chrf++", n_resamples=500, seed=3)
    got = cell.result
    assert got.n == 30
    assert got.cand == pytest.approx(sacrebleu.corpus_chrf([cand[i].output for i in ids],
                                                           [[cand[i].references[0] for i in ids]],
                                                           word_order=2).score)
    # Same items in a different order give the same sums, so the point estimates agree exactly
    # and the resampling differs only by the order of the rows.
    assert got.delta == pytest.approx(expected.delta)
    assert got.ci_low < got.delta < got.ci_high < 0
    assert got.p_value <= 0.01 and expected.p_value <= 0.01
    assert cell.signature is not None and cell.signature.startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:2")
    assert got.p_adjusted is not None and got.p_adjusted >= got.p_value


def test_binary_cell_matches_paired_binary(runs: dict[str, Path]) -> None:
    c = compare_runs(runs["base"], runs["bad_th"])
    cell = _cells(c)[("th", "exact_match")]
    pairs = [p for p in c.pairs if p.language == "th"]
    expected = paired_binary([p.base.scores["exact_match"] == 1 for p in pairs],
                             [p.cand.scores["exact_match"] == 1 for p in pairs], metric="exact_match")
    got = cell.result
    assert (got.base, got.cand, got.delta, got.ci_low, got.ci_high, got.p_value) == (
        expected.base, expected.cand, expected.delta, expected.ci_low, expected.ci_high, expected.p_value)
    assert got.method == "exact McNemar"
    # Holm over every cell: the adjusted p is at least the raw one and at most the Bonferroni bound.
    tests = len(c.metrics)
    assert got.p_value <= got.p_adjusted <= min(1.0, got.p_value * tests)


def test_unmatched_items_and_errors_are_counted(runs: dict[str, Path], tmp_path: Path) -> None:
    def drop_and_fail(row: dict[str, Any]) -> dict[str, Any] | None:
        if row["case_id"] in ("c00", "c01"):
            return None  # missing from the candidate
        if row["case_id"] == "c02" and row["language"] == "de":
            row.update(error={"kind": "server_error", "message": "boom"}, output=None, scores={}, stats={})
        return row

    cand = _rewrite_results(runs["base"], tmp_path / "cand", drop_and_fail)
    c = compare_runs(runs["base"], cand)
    assert (c.unmatched_base, c.unmatched_cand) == (6, 0)
    assert (c.errors_base, c.errors_cand) == (0, 1)
    assert _cells(c)[("de", "chrf++")].result.n == 27
    assert _cells(c)[("hi", "chrf++")].result.n == 28


# --- refusal ---------------------------------------------------------------------------------------


def test_different_signatures_are_refused_unless_forced(runs: dict[str, Path], tmp_path: Path) -> None:
    def retokenize(manifest: dict[str, Any]) -> None:
        manifest["signatures"]["bleu"]["th"] = manifest["signatures"]["bleu"]["th"].replace("tok:char", "tok:13a")

    cand = _rewrite_manifest(runs["same"], tmp_path / "cand", retokenize)
    with pytest.raises(IncompatibleRuns, match=r"th bleu: sacrebleu signatures differ .*--force") as info:
        compare_runs(runs["base"], cand)
    assert info.value.exit_code == 2
    c = compare_runs(runs["base"], cand, force=True)
    assert c.forced and len(c.incompatibilities) == 1 and "tok:13a" in c.incompatibilities[0]
    assert len(c.metrics) == 12


def test_different_suites_and_disjoint_items_are_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    def rename(manifest: dict[str, Any]) -> None:
        manifest["suite"]["name"] = "other"

    with pytest.raises(IncompatibleRuns, match="the suites differ: 'multi' vs 'other'"):
        compare_runs(runs["base"], _rewrite_manifest(runs["same"], tmp_path / "renamed", rename))

    def shift_ids(row: dict[str, Any]) -> dict[str, Any]:
        row["item_id"] = "x" + row["item_id"]
        return row

    disjoint = _rewrite_results(runs["same"], tmp_path / "disjoint", shift_ids)
    with pytest.raises(IncompatibleRuns, match="no items align"):
        compare_runs(runs["base"], disjoint)
    forced = compare_runs(runs["base"], disjoint, force=True)
    assert forced.metrics == [] and forced.unmatched_base == 90 and forced.incompatibilities


def test_scorer_option_changes_are_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    def lowercase(manifest: dict[str, Any]) -> None:
        for rec in manifest["scorers"]:
            if rec["label"] == "exact_match":
                rec["options"] = {"case_sensitive": False}

    cand = _rewrite_manifest(runs["same"], tmp_path / "cand", lowercase)
    with pytest.raises(IncompatibleRuns, match="scorer 'exact_match' is configured differently"):
        compare_runs(runs["base"], cand)


def test_not_a_run_directory(tmp_path: Path, runs: dict[str, Path]) -> None:
    with pytest.raises(ResultsError, match="not a directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(ResultsError, match=r"no manifest\.json"):
        compare_runs(tmp_path, runs["base"])
    with pytest.raises(UsageError, match="no prompt variant 'nope'"):
        compare_runs(runs["base"], runs["base"], variants=("plain", "nope"))


# --- variants and repeats --------------------------------------------------------------------------


def test_two_variants_of_one_run(tmp_path: Path) -> None:
    prompts = {"plain": {"user": "Translate into {{ language.name }}: {{ source }}"},
               "sloppy": {"system": "Be quick.", "user": "Quickly! Translate into {{ language.name }}: {{ source }}"}}
    run = make_run(tmp_path, "variants", translator_for(bad_prompt="Quickly!"), "--languages", "de,th",
                   suite_kwargs={"prompts": prompts})
    c = compare_runs(run, run, variants=("plain", "sloppy"))
    assert (c.base_variant, c.cand_variant, c.base_label, c.cand_label) == ("plain", "sloppy", "plain", "sloppy")
    assert len(c.pairs) == 60 and c.unmatched_base == c.unmatched_cand == 0
    assert all(p.key == f"{p.case_id}|{p.language}|0" and p.variant is None for p in c.pairs)
    assert all(m.variant is None for m in c.metrics)
    assert _cells(c)[("de", "exact_match")].result.n_pass_to_fail == 30
    assert all(m.regression for m in c.metrics if m.metric in ("chrf++", "exact_match"))
    # Without variants the two variants are compared with themselves: no change.
    same = compare_runs(run, run)
    assert {m.variant for m in same.metrics} == {"plain", "sloppy"} and not any(m.regression for m in same.metrics)
    assert same.summary_lines()[0].startswith("de [plain]: chrF++")


def _repeat_flaky(request: dict[str, Any], calls: dict[str, int]) -> str:
    text = request["messages"][-1]["content"]
    calls[text] = calls.get(text, 0) + 1
    answer = translator_for({"th": 0.5})(request) if calls[text] == 2 else translator_for()(request)
    return answer


def test_repeats_are_aggregated_per_item(tmp_path: Path) -> None:
    cases = CASES[:20]
    base = make_run(tmp_path, "rbase", translator_for(), "--repeat", "3", "--languages", "th",
                    suite_kwargs={"cases": cases})
    calls: dict[str, int] = {}
    cand = make_run(tmp_path, "rcand", lambda r: _repeat_flaky(r, calls), "--repeat", "3", "--languages", "th",
                    suite_kwargs={"cases": cases})
    c = compare_runs(base, cand)
    em = _cells(c)[("th", "exact_match")]
    assert len(c.pairs) == 60 and em.repeats == 3
    assert em.result.n == 20  # items, not repeats
    assert em.result.method.startswith("paired bootstrap of per-item pass rates")
    # One bad repeat in three: the per-item rate falls to 2/3 for half the items, the majority still passes.
    assert em.result.cand == pytest.approx(100 * (10 + 10 * 2 / 3) / 20)
    assert em.result.n_pass_to_fail == 0 and not any(f.kind == "pass_to_fail" for f in c.flips)
    flat = compare_runs(base, cand, aggregate_repeats=False)
    assert _cells(flat)[("th", "exact_match")].result.n == 60


def test_a_a_comparisons_rarely_flag_regressions(runs: dict[str, Path]) -> None:
    """Identical runs never regress; and the correction is applied over every cell."""
    for seed in range(3):
        c = compare_runs(runs["base"], runs["same"], seed=seed, correction="bh")
        assert not c.regressions
        assert c.correction.startswith("Benjamini–Hochberg over ")


def test_resolution_limited_bootstrap_cells_use_the_normal_tail(runs: dict[str, Path]) -> None:
    """With 200 resamples a resampled p is at least 1/201, and Holm over 12 cells would push it to 0.06:
    a cell beyond every resample gets its tail p from the normal approximation, so it stays flaggable."""
    c = compare_runs(runs["base"], runs["bad_th"], n_resamples=200)
    chrf = _cells(c)[("th", "chrf++")].result
    assert chrf.method == ("paired bootstrap (200 resamples, seed 0; sign-flip p over 200 random arrangements "
                           "of 21 changed items, tail by normal approximation)")
    # 30 items: never below 2^-29, the smallest p an exact paired sign-flip test could give
    assert 2.0**-29 <= chrf.p_value < 1 / 201
    assert chrf.p_adjusted is not None and chrf.p_adjusted < 0.05
    assert _cells(c)[("th", "chrf++")].regression and _cells(c)[("th", "bleu")].regression
    assert _cells(c)[("de", "chrf++")].result.method == "paired bootstrap (200 resamples, seed 0)"  # p = 1
