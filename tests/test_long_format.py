"""Data in long format (issue #13 item 7): ``case_language`` names the case field holding each case's language
(or languages), so a row becomes items in its own language only — JSONL, CSV, inline cases and a Hugging Face
``save_to_disk`` folder; ids, duplicates, skipped languages, ``--languages``, ``--limit``, shards, ``validate``,
and an end-to-end run with per-language summaries and a gate against the project's test server."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from helpers import run_cli

from evalkit.compare import compare_runs
from evalkit.errors import SuiteError
from evalkit.items import Planner, Selection, Shard, item_id_for
from evalkit.results import RESULTS, iter_results, read_manifest, read_summary
from evalkit.suite import load_suite
from evalkit.testing import FakeOpenAIServer
from evalkit.validate import validate_suite

HEAD = """\
name: long
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32, seed: 1}}
  max_attempts: 2
languages: [de, zh, th]
case_language: lang
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
scorers: [exact_match]
"""

ROWS = [
    {"id": "p1", "lang": "de", "source": "Good morning", "reference": "Guten Morgen"},
    {"id": "p1", "lang": "zh", "source": "Good morning", "reference": "早上好"},  # same id, other language
    {"id": "p2", "lang": "zh", "source": "Thank you very much", "reference": "非常感谢"},
    {"id": "p3", "lang": "th", "source": "The weather is nice today", "reference": "วันนี้อากาศดี"},
    {"id": "p4", "lang": "de", "source": "Unknown phrase", "reference": "Unbekannt"},  # answered "Sorry"
]


def suite_file(tmp_path: Path, cases: str, base_url: str = "http://127.0.0.1:9/v1", head: str = HEAD) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(head.format(base_url=base_url) + textwrap.dedent(cases), encoding="utf-8")
    return path


def jsonl(tmp_path: Path, rows: list[dict[str, object]], name: str = "data.jsonl") -> None:
    (tmp_path / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def plan(path: Path, selection: Selection = Selection()) -> list[tuple[str, str]]:
    return [(i.case_id, i.language) for i in Planner(load_suite(path), selection).iter_items()]


def test_jsonl_rows_become_one_item_each_in_their_own_language(tmp_path: Path) -> None:
    jsonl(tmp_path, ROWS)
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    items = list(Planner(load_suite(path)).iter_items())
    assert [(i.case_id, i.language) for i in items] == [("p1", "de"), ("p1", "zh"), ("p2", "zh"), ("p3", "th"),
                                                       ("p4", "de")]
    # Stable ids: the same hash as a wide-format item of that case and language; no two collide.
    assert [i.item_id for i in items] == [item_id_for(i.case_id, i.language, "plain", 0) for i in items]
    assert len({i.item_id for i in items}) == len(items)
    assert items[1].messages[-1]["content"] == "Translate into Chinese: Good morning"
    assert items[1].references == ("早上好",)


def test_csv_language_column_and_code_spelling(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(
        "id,lang,source,reference\np1,DE,Good morning,Guten Morgen\np2,zh,Thank you very much,非常感谢\n"
        "p3,\"th, de\",Good morning,x\n",
        encoding="utf-8",
    )
    path = suite_file(tmp_path, "cases: {file: data.csv}\n")
    # "DE" is the suite's "de"; a CSV cell may list several languages ("th, de").
    assert plan(path) == [("p1", "de"), ("p2", "zh"), ("p3", "de"), ("p3", "th")]



def test_region_variants_fall_back_to_the_suite_language(tmp_path: Path) -> None:
    jsonl(tmp_path, [{"id": "a", "lang": "de_AT", "source": "s", "reference": "r"},
                     {"id": "b", "lang": "zh-Hant-TW", "source": "s", "reference": "r"},
                     {"id": "c", "lang": "pt-BR", "source": "s", "reference": "r"}])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    planner = Planner(load_suite(path))
    assert [(i.case_id, i.language) for i in planner.iter_items()] == [("a", "de"), ("b", "zh")]
    assert dict(planner.skipped_languages) == {"pt-BR": 1}


def test_inline_cases_restricted_to_some_languages(tmp_path: Path) -> None:
    path = suite_file(tmp_path, """\
        cases:
          - {id: a, lang: [de, th], source: Good morning, reference: {de: Guten Morgen, th: x}}
          - {id: b, lang: zh, source: Thank you very much, reference: 非常感谢}
        """)
    assert plan(path) == [("a", "de"), ("a", "th"), ("b", "zh")]


def test_saved_dataset_in_long_format(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    path = suite_file(tmp_path, "cases: {dataset: {path: saved}}\n")
    assert plan(path) == [("p1", "de"), ("p1", "zh"), ("p2", "zh"), ("p3", "th"), ("p4", "de")]


def test_field_mapping_names_the_language_column(tmp_path: Path) -> None:
    jsonl(tmp_path, [{"id": r["id"], "locale": r["lang"], "source": r["source"], "reference": r["reference"]}
                     for r in ROWS])
    path = suite_file(tmp_path, "cases: {file: data.jsonl, fields: {lang: locale}}\n")
    assert plan(path)[:2] == [("p1", "de"), ("p1", "zh")]


def test_rows_in_other_languages_are_skipped_and_counted(tmp_path: Path) -> None:
    jsonl(tmp_path, [*ROWS, {"id": "p9", "lang": "fr", "source": "Bonjour", "reference": "x"},
                     {"id": "p10", "lang": "fr", "source": "Merci", "reference": "y"}])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    planner = Planner(load_suite(path))
    assert len(list(planner.iter_items())) == 5
    assert dict(planner.skipped_languages) == {"fr": 2}
    assert len(list(planner.iter_items())) == 5 and dict(planner.skipped_languages) == {"fr": 2}  # a second pass
    report = validate_suite(path)
    assert report.ok, report.errors
    assert (report.cases, report.items) == (7, 5)
    assert report.skipped_languages == {"fr": 2}
    # --languages selects among the suite's languages; the other rows are not planned (nor "skipped").
    planner = Planner(load_suite(path), Selection(languages=["zh"]))
    assert [(i.case_id, i.language) for i in planner.iter_items()] == [("p1", "zh"), ("p2", "zh")]
    assert dict(planner.skipped_languages) == {"fr": 2}


def test_validate_cli_says_what_was_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jsonl(tmp_path, [*ROWS, {"id": "p9", "lang": "fr", "source": "Bonjour", "reference": "x"}])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    assert run_cli("validate", path) == 0
    out = capsys.readouterr().out
    assert "ok (6 cases, 5 items)" in out
    assert "1 case skipped, in a language the suite does not run (fr: 1)" in out


def test_validate_reports_every_bad_language_with_file_line_field(tmp_path: Path) -> None:
    rows = [ROWS[0], {"id": "q1", "lang": "xx-nope", "source": "a", "reference": "b"},
            {"id": "q2", "source": "a", "reference": "b"}, ROWS[2], {"id": "q3", "lang": 7, "source": "a",
                                                                     "reference": "b"},
            {"id": "q4", "lang": "", "source": "a", "reference": "b"}]
    jsonl(tmp_path, rows)
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    report = validate_suite(path)
    messages = [e.message for e in report.errors]
    data = "data.jsonl" if not (tmp_path / "data.jsonl").is_absolute() else str(tmp_path / "data.jsonl")
    assert len(messages) == 4, messages
    assert messages[0].startswith(f"{data}:2: lang: unknown language code 'xx-nope'")
    assert messages[1].startswith(f"{data}:3: lang: case 'q2' has no language")
    assert messages[2].startswith(f"{data}:5: lang: ")
    assert messages[3].startswith(f"{data}:6: lang: case 'q4' has no language")
    with pytest.raises(SuiteError, match=r"data\.jsonl:2: lang: unknown language code 'xx-nope'"):
        list(Planner(load_suite(path)).iter_items())


def test_inline_bad_language_located_at_its_line(tmp_path: Path) -> None:
    path = suite_file(tmp_path, """\
        cases:
          - {id: a, lang: de, source: Good morning, reference: x}
          - id: b
            source: Good morning
            lang: [de, klingon]
            reference: x
        """)
    report = validate_suite(path)
    assert [e.message for e in report.errors] == [
        f"{path}:17:5: cases[1].lang: unknown language code 'klingon' (case 'b'); "
        "use a code such as de, pt-BR or deu_Latn"
    ]


def test_ids_unique_per_language(tmp_path: Path) -> None:
    jsonl(tmp_path, [*ROWS, {"id": "p2", "lang": "zh", "source": "again", "reference": "z"}])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    duplicate = r"data\.jsonl:6: id: duplicate case id 'p2' in zh \(first at .*data\.jsonl:3\)"
    with pytest.raises(SuiteError, match=duplicate):
        list(Planner(load_suite(path)).iter_items())
    assert any("duplicate case id 'p2' in zh" in e.message for e in validate_suite(path).errors)


def test_language_field_must_not_be_a_reference_shape(tmp_path: Path) -> None:
    path = suite_file(tmp_path, "case_language: ''\ncases: [{id: a, source: x, reference: y}]\n")
    report = validate_suite(path)
    assert report.errors and "case_language" in report.errors[0].message


def test_limit_counts_cases_per_language(tmp_path: Path) -> None:
    rows = [{"id": f"{lang}{n}", "lang": lang, "source": "s", "reference": "r"}
            for lang in ("de", "zh", "th") for n in range(4)]
    jsonl(tmp_path, rows)
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    got = plan(path, Selection(limit=2))
    assert got == [("de0", "de"), ("de1", "de"), ("zh0", "zh"), ("zh1", "zh"), ("th0", "th"), ("th1", "th")]


def test_wide_format_limit_unchanged(tmp_path: Path) -> None:
    head = HEAD.replace("case_language: lang\n", "")
    path = suite_file(tmp_path, """\
        cases:
          - {id: a, source: s, reference: r}
          - {id: b, source: s, reference: r}
          - {id: c, source: s, reference: r}
        """, head=head)
    assert [c for c, _ in plan(path, Selection(limit=2))] == ["a", "a", "a", "b", "b", "b"]


def test_shards_split_long_format_items(tmp_path: Path) -> None:
    jsonl(tmp_path, ROWS)
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    whole = set(plan(path))
    parts = [plan(path, Selection(shard=Shard(k, 2))) for k in (1, 2)]
    assert set(parts[0]) | set(parts[1]) == whole and not set(parts[0]) & set(parts[1])


def test_run_summary_per_language_and_gate(tmp_path: Path, server: FakeOpenAIServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    jsonl(tmp_path, [*ROWS, {"id": "p9", "lang": "fr", "source": "Bonjour", "reference": "x"}])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n", base_url=server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", path, "--out", out, "--no-report") == 0
    assert "1 case skipped, in a language the suite does not run (fr: 1)" in capsys.readouterr().err
    results = list(iter_results(out / RESULTS))
    assert sorted((r.case_id, r.language) for r in results) == [("p1", "de"), ("p1", "zh"), ("p2", "zh"),
                                                                 ("p3", "th"), ("p4", "de")]
    assert read_manifest(out).counts.planned == 5
    assert len(server.chat_requests) == 5  # one request per row, not rows x languages
    em = {c.language: c for c in read_summary(out).cells if c.metric == "exact_match"}
    assert {lang: (c.n, c.value) for lang, c in em.items()} == {"de": (2, 50.0), "zh": (2, 100.0), "th": (1, 100.0)}
    gates = tmp_path / "gates.yaml"
    gates.write_text("gates:\n  min_items: 1\n  thresholds:\n    exact_match: {min: 60, languages: {de: {min: 40}}}\n",
                     encoding="utf-8")
    assert run_cli("gate", out, "--gates", gates) == 0
    gates.write_text("gates:\n  min_items: 1\n  thresholds:\n    exact_match: {min: 60}\n", encoding="utf-8")
    assert run_cli("gate", out, "--gates", gates) == 1  # de is at 50
    # Resume: nothing left to do, no new request.
    assert run_cli("run", path, "--out", out, "--no-report") == 0
    assert len(server.chat_requests) == 5


def test_a_suite_language_without_rows_is_reported(tmp_path: Path) -> None:
    jsonl(tmp_path, [r for r in ROWS if r["lang"] != "th"])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    assert [e.message for e in validate_suite(path).errors] == [
        f"{path}:7:21: languages[2]: no case is in language 'th' (field 'lang'); add cases in it or remove it"
    ]


def test_docs_example(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "docs" / "suite-format.md").read_text(encoding="utf-8")
    section = text.split("## Long-format data", 1)[1].split("\n## ", 1)[0]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "qa.jsonl").write_text(re.search(r"```json\n(.*?)```", section, re.S).group(1),
                                                encoding="utf-8")
    suite = tmp_path / "suite.yaml"
    suite.write_text(re.search(r"```yaml\n(.*?)```", section, re.S).group(1), encoding="utf-8")
    report = validate_suite(suite)
    assert report.ok, [e.message for e in report.errors]
    assert (report.cases, report.items, report.skipped_languages) == (4, 3, {"fr": 1})


def test_shards_merge_compare_and_limit_end_to_end(tmp_path: Path, server: FakeOpenAIServer) -> None:
    jsonl(tmp_path, [*ROWS, {"id": "p9", "lang": "fr", "source": "Bonjour", "reference": "x"}])
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n", base_url=server.base_url)
    assert run_cli("run", path, "--out", tmp_path / "full", "--no-report") == 0
    shards = [tmp_path / f"shard{k}" for k in (1, 2)]
    for k, out in enumerate(shards, start=1):
        assert run_cli("run", path, "--out", out, "--shard", f"{k}/2", "--no-report") == 0
    assert run_cli("merge", *shards, "--out", tmp_path / "merged", "--no-report") == 0
    cells = [sorted((c.variant, c.language, c.metric, c.value, c.n) for c in read_summary(tmp_path / d).cells)
             for d in ("full", "merged")]
    assert cells[0] == cells[1] and len(cells[0]) == 3
    c = compare_runs(tmp_path / "full", tmp_path / "merged")
    assert len(c.pairs) == 5 and (c.unmatched_base, c.unmatched_cand) == (0, 0)
    assert c.languages() == ["de", "zh", "th"]
    # --limit 1: the first case of each language.
    assert run_cli("run", path, "--out", tmp_path / "one", "--limit", "1", "--no-report") == 0
    assert sorted((r.case_id, r.language) for r in iter_results(tmp_path / "one" / RESULTS)) == [
        ("p1", "de"), ("p1", "zh"), ("p3", "th")]


def test_item_limit_counts_one_language_per_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jsonl(tmp_path, ROWS)
    path = suite_file(tmp_path, "cases: {file: data.jsonl}\n")
    monkeypatch.setenv("EVALKIT_MAX_ITEMS", "6")  # 5 rows; crossed with 3 languages they would be 15 items
    assert len(plan(path)) == 5
    monkeypatch.setenv("EVALKIT_MAX_ITEMS", "4")
    with pytest.raises(SuiteError, match=r"plans 5 items \(5 cases x 1 language each x 1 prompt variants"):
        plan(path)
