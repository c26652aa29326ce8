"""The cause next to the effect (issue #14): a run records its prompt templates in the manifest, and the
comparison report (HTML and Markdown) shows what changed between baseline and candidate — templates as a
line diff, model, endpoint and parameters — at the top, and per regressed item the rendered messages' diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli, write_suite
from test_report_render import all_attrs, parse

from evalkit.compare import compare_runs
from evalkit.report import render_compare_report
from evalkit.report._synthetic import XSS_OUTPUT, SyntheticItem, demo_runs, write_run
from evalkit.results import MANIFEST, PromptRecord, read_manifest, write_json_atomic
from evalkit.testing import FakeOpenAIServer

NOT_RECORDED = "prompt templates not recorded in this run"

BASE_PROMPTS = {
    "plain": {"user": "Translate into {{ language.name }}: {{ source }}"},
    "polite": {"system": "You are a translator.\nAnswer with the translation only.",
               "user": "Please translate into {{ language.name }}: {{ source }}"},
}
CAND_PROMPTS = {
    "plain": {"user": "Translate into {{ language.name }}: {{ source }}"},
    "polite": {"system": "You are a careful translator.\nAnswer with the translation only.\n" + XSS_OUTPUT,
               "user": "Please translate into {{ language.name }}: {{ source }}",
               "few_shot": [{"user": "Translate into German: Yes", "assistant": "Ja"}]},
}


def _set_manifest(run: Path, *, prompts: dict | None = None, **model: object) -> None:
    m = read_manifest(run)
    if prompts is not None:
        m.prompts = {k: PromptRecord.model_validate(v) for k, v in prompts.items()}
    for key, value in model.items():
        if key == "params":
            m.model.params = value  # type: ignore[assignment]
        else:
            setattr(m.model, key, value)
    write_json_atomic(run / MANIFEST, m)


def _items(prompt: str, out: str, out2: str = "Vielen Dank") -> list[SyntheticItem]:
    return [SyntheticItem("c1", "de", "polite", f"{prompt}: Good morning", "Guten Morgen", out),
            SyntheticItem("c2", "de", "polite", "Please translate into German: Thank you", "Vielen Dank", out2),
            SyntheticItem("c3", "de", "plain", "Translate into German: Yes", "Ja", "Ja"),
            SyntheticItem("c4", "de", "plain", "Translate into German: No", "Nein", "Nein")]


@pytest.fixture
def changed(tmp_path: Path) -> tuple[Path, Path]:
    """A baseline and a candidate whose 'polite' system prompt, few-shot turns, temperature and endpoint changed;
    the candidate's rendered prompt of item c1 changed too (and carries an XSS payload); c1 and c2 regressed."""
    base = write_run(tmp_path / "base", _items("Please translate into German", "Guten Morgen"))
    cand = write_run(tmp_path / "cand", _items("Kindly translate into German " + XSS_OUTPUT, "Hallo", "Danke"),
                     base_url="http://127.0.0.1:9000/v1")
    _set_manifest(base, prompts=BASE_PROMPTS)
    _set_manifest(cand, prompts=CAND_PROMPTS, params={"temperature": 0.7, "seed": 1})
    return base, cand


def _lines(node: object, cls: str) -> list[str]:
    return [d.text for d in node.find_all("div") if cls in (d.attrs.get("class") or "").split()]  # type: ignore[attr-defined]


def test_manifest_without_prompts_reads_as_not_recorded(tmp_path: Path) -> None:
    run = write_run(tmp_path / "old", _items("Please translate into German", "Guten Morgen"))
    data = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
    data.pop("prompts", None)
    (run / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    assert read_manifest(run).prompts is None


def test_run_records_prompt_templates(tmp_path: Path, server: FakeOpenAIServer) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-report", "--prompts", "polite") == 0
    prompts = read_manifest(out).prompts
    assert prompts is not None and list(prompts) == ["polite"]  # the selected variants only
    polite = prompts["polite"]
    assert polite.system == "You are a translator."
    assert polite.user == "Please translate into {{ language.name }}: {{ source }}"  # the template, not rendered
    assert polite.few_shot == [] and polite.target_language is None


def test_html_shows_template_and_parameter_diff_at_the_top(changed: tuple[Path, Path]) -> None:
    html = render_compare_report([compare_runs(*changed, n_resamples=100)])
    doc = parse(html)
    box = doc.find("div", id="cand1-changes")
    section = doc.find("section", id="cand1")
    # At the top of the candidate's section: before the metric table.
    assert html.index('id="cand1-changes"') < html.index('id="cand1-metrics"')
    assert section.find("div", id="cand1-changes") is box
    settings = {r.find("th").words: [td.words for td in r.find_all("td")] for r in box.find_all("tr")[1:]}
    assert settings["temperature"] == ["0", "0.7"]
    assert settings["Endpoint"] == ["http://127.0.0.1:8000/v1", "http://127.0.0.1:9000/v1"]
    assert "seed" not in settings and "Model" not in settings  # unchanged settings are not listed
    polite = box.find("details", **{"data-variant": "polite"})
    assert "open" in polite.attrs  # a changed template is shown, not hidden
    removed, added = _lines(polite, "dl-del"), _lines(polite, "dl-ins")
    assert removed == ["You are a translator."]
    assert "You are a careful translator." in added and XSS_OUTPUT in added  # shown as text
    assert any("Translate into German: Yes" in line for line in added)  # the new few-shot turn
    assert "Answer with the translation only." in _lines(polite, "dl-eq")
    assert [d.text for d in polite.find_all("ins")] == ["careful "]  # the changed word inside the line
    unchanged = box.find("p", **{"class": "note prompts-same"})
    assert "plain" in unchanged.words
    # Inert: the payload is escaped text, never markup.
    assert not doc.find_all("img") and "<img src=x" not in html
    assert not [a for a in all_attrs(doc) if a[1].startswith("on")]


def test_html_per_item_message_diff_collapsed(changed: tuple[Path, Path]) -> None:
    doc = parse(render_compare_report([compare_runs(*changed, n_resamples=100)]))
    cards = {c.attrs["data-case"]: c for c in doc.find("div", id="cand1-regression-list").find_all("article")}
    c1 = cards["c1"]
    diff = c1.find("details", **{"class": "msg-diff"})
    assert "open" not in diff.attrs  # collapsed by default
    assert _lines(diff, "dl-del") == ["Please translate into German: Good morning"]
    assert _lines(diff, "dl-ins") == ["Kindly translate into German " + XSS_OUTPUT + ": Good morning"]
    assert "[system]" in _lines(diff, "dl-eq")
    # An item whose rendered messages are the same has no diff.
    c2 = cards["c2"]
    assert not c2.find_all("details")


def test_markdown_shows_what_changed(changed: tuple[Path, Path]) -> None:
    text = render_compare_report([compare_runs(*changed, n_resamples=100)], "md")
    head = text.partition("significant regressions")[0]
    assert "temperature" in head and "0.7" in head and "9000" in head  # at the top, before the numbers
    fence = head.index("```diff")
    block = head[fence:].split("\n```", 1)[0].splitlines()
    assert "-You are a translator." in block
    assert "+You are a careful translator." in block
    assert " Answer with the translation only." in block
    assert "Prompt templates unchanged: plain" in head
    # The top regressions say which items were asked something else.
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| de | c")}
    assert "rendered prompt changed" in rows["c1"] and "rendered prompt changed" not in rows["c2"]
    # The payload sits inside the code block (literal in GitHub's renderer), never as live HTML outside it.
    outside = head[:fence] + head[fence:].split("\n```", 1)[1]
    assert "<script" not in outside and "<img" not in outside


def test_markdown_fence_cannot_be_closed_by_a_template(tmp_path: Path, changed: tuple[Path, Path]) -> None:
    base, cand = changed
    evil = {**CAND_PROMPTS, "polite": {"user": "x\n```\n<img src=x onerror=alert(1)>\n````\n\x1b[31mred\u202e",
                                       "system": "s"}}
    _set_manifest(cand, prompts=evil)
    text = render_compare_report([compare_runs(base, cand, n_resamples=100)], "md")
    opener = next(line for line in text.splitlines() if line.endswith("diff") and line.startswith("```"))
    assert opener.startswith("`````") and opener == "`" * 5 + "diff"  # longer than any backtick run inside
    assert "\x1b" not in text and "\u202e" not in text and "+\\x1b[31mred\\u202e" in text  # controls as escapes


@pytest.mark.parametrize("missing", ["base", "cand", "both"])
def test_old_runs_without_templates_do_not_crash(tmp_path: Path, changed: tuple[Path, Path], missing: str) -> None:
    base, cand = changed
    for side, run in (("base", base), ("cand", cand)):
        if missing in (side, "both"):
            data = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
            data.pop("prompts")
            (run / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    comparison = compare_runs(base, cand, n_resamples=100)
    doc = parse(render_compare_report([comparison]))
    box = doc.find("div", id="cand1-changes")
    assert NOT_RECORDED in box.words
    assert "temperature" in box.words  # the parameters are still compared
    assert not box.find_all("details")
    text = render_compare_report([comparison], "md")
    assert NOT_RECORDED in text.lower() and "```diff" not in text


def test_demo_runs_record_their_templates_as_a_real_run_does(tmp_path: Path) -> None:
    # The demo (make demo's report pages, screenshots) records its prompt templates in the manifest, so its
    # comparison shows what changed: the candidate's 'polite' system prompt, as a template diff at the top and
    # in the rendered messages of the items.
    base, cand = demo_runs(tmp_path)
    assert set(read_manifest(base).prompts or {}) == set(read_manifest(cand).prompts or {}) == {"plain", "polite"}
    text = render_compare_report([compare_runs(base, cand, n_resamples=100)])
    box = parse(text).find("div", id="cand1-changes")
    assert NOT_RECORDED not in box.words
    polite = box.find("details", **{"data-variant": "polite"})
    assert [d.attrs["data-variant"] for d in box.find_all("details")] == ["polite"]  # only what changed
    assert "Answer with the translation only." in _lines(polite, "dl-ins")
    assert "You are a translator." in _lines(polite, "dl-del")
    # The templates are the ones the items were rendered from.
    items = {json.loads(line)["item_id"]: json.loads(line) for line in
             (cand / "results.jsonl").read_text(encoding="utf-8").splitlines()}
    polite_item = next(r for r in items.values() if r["variant"] == "polite")
    assert polite_item["messages"][0] == {"role": "system", "content": read_manifest(cand).prompts["polite"].system}
    # The demo's candidate is another model: the model row says so.
    rows = parse(text).find("table", id="cand1-settings").find_all("tr")
    assert any(r.find("th").words == "Model" for r in rows[1:])


def test_variant_comparison_diffs_the_two_variants(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [SyntheticItem("c1", "de", v, f"{v}: Yes", "Ja", "Ja") for v in BASE_PROMPTS])
    _set_manifest(run, prompts=BASE_PROMPTS)
    doc = parse(render_compare_report([compare_runs(run, run, variants=("plain", "polite"), n_resamples=100)]))
    box = doc.find("div", id="cand1-changes")
    details = box.find_all("details")
    assert len(details) == 1 and details[0].attrs["data-variant"] == "plain → polite"
    assert "Please translate into {{ language.name }}: {{ source }}" in _lines(details[0], "dl-ins")
    assert "Translate into {{ language.name }}: {{ source }}" in _lines(details[0], "dl-del")


def test_end_to_end_compare_with_a_changed_system_prompt(tmp_path: Path, server: FakeOpenAIServer,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    base_suite = write_suite(tmp_path, server.base_url, name="base.yaml")
    cand_suite = tmp_path / "cand.yaml"
    cand_suite.write_text(base_suite.read_text(encoding="utf-8").replace(
        "system: You are a translator.", "system: You are a terse translator.").replace(
        "temperature: 0,", "temperature: 0.2,"), encoding="utf-8")
    for name, suite in (("base", base_suite), ("cand", cand_suite)):
        assert run_cli("run", suite, "--out", tmp_path / name, "--no-report", "--no-cache") == 0
    capsys.readouterr()
    assert run_cli("compare", tmp_path / "base", tmp_path / "cand", "--format", "md", "--resamples", "100") == 0
    out = capsys.readouterr().out
    assert "-system: You are a translator." not in out  # the diff is of templates, not of YAML
    assert "-You are a translator." in out and "+You are a terse translator." in out
    assert "temperature" in out and "0.2" in out
    assert "Prompt templates unchanged: plain" in out
