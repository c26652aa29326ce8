"""First-hour follow-ups (issues #13/#14 edges): FLORES-style language codes, a suite's ``models:`` list,
``load_suite`` taking built-in names, long-format skip counts in ``--dry-run``, and validate's grouping of
template/reference errors on structured fields."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import SUITE, run_cli, translator, write_suite

from evalkit.cli._models import model_slug
from evalkit.errors import SuiteError
from evalkit.items import Planner, Selection
from evalkit.languages import ISO639_3, LANGUAGES, canonical_code, flores_code, get_language
from evalkit.results import RESULTS, iter_results, read_manifest, read_summary
from evalkit.suite import load_suite
from evalkit.suites import SUITES_DIR
from evalkit.testing import FakeOpenAIServer
from evalkit.validate import validate_suite

LONG = """\
name: long
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32, seed: 1}}
  max_attempts: 2
languages: [{languages}]
case_language: lang
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
scorers: [{scorers}]
cases: {{file: data.jsonl}}
"""


def long_suite(tmp_path: Path, rows: list[dict[str, object]], *, languages: str = "de, zh",
               scorers: str = "exact_match", base_url: str = "http://127.0.0.1:9/v1") -> Path:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    path = tmp_path / "suite.yaml"
    path.write_text(LONG.format(base_url=base_url, languages=languages, scorers=scorers), encoding="utf-8")
    return path


# --- load_suite takes a built-in suite's name (item 5) -------------------------------------------------


def test_load_suite_takes_a_builtin_suite_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no file of that name here
    suite = load_suite("quickstart")
    assert suite.path == SUITES_DIR / "quickstart.yaml"
    assert suite.spec.name == "quickstart"
    assert load_suite("translation.yaml").path == SUITES_DIR / "translation.yaml"
    # A file in the working directory wins over a built-in suite of the same name.
    (tmp_path / "quickstart.yaml").write_text((SUITES_DIR / "quickstart.yaml").read_text(encoding="utf-8")
                                              .replace("name: quickstart", "name: mine"), encoding="utf-8")
    assert load_suite("quickstart.yaml").spec.name == "mine"
    with pytest.raises(SuiteError, match=r"suite file not found.*did you mean 'translation'"):
        load_suite("translaton")


# --- --dry-run says which long-format cases it leaves out (item 6) --------------------------------------


def test_dry_run_prints_long_format_skip_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": "a", "lang": "de", "source": "s", "reference": "r"},
            {"id": "b", "lang": "fr", "source": "s", "reference": "r"},
            {"id": "c", "lang": "fr", "source": "s", "reference": "r"},
            {"id": "d", "lang": "zh", "source": "s", "reference": "r"}]
    path = long_suite(tmp_path, rows)
    assert run_cli("run", path, "--out", tmp_path / "run", "--dry-run") == 0
    out = capsys.readouterr()
    printed = out.out + out.err
    assert "total: 2 items" in printed
    assert "2 cases skipped, in a language the suite does not run (fr: 2)" in printed
    assert not (tmp_path / "run").exists()


def test_dry_run_columns_fit_flores_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": "a", "lang": "deu_Latn", "source": "s", "reference": "r"},
            {"id": "b", "lang": "zh", "source": "s", "reference": "r"}]
    assert run_cli("run", long_suite(tmp_path, rows, languages="deu_Latn, zh"), "--out", tmp_path / "run",
                   "--dry-run") == 0
    rows_printed = [line for line in capsys.readouterr().out.splitlines() if " items " in line and "to send" in line]
    assert len(rows_printed) == 2, rows_printed
    assert len({line.index(" items ") for line in rows_printed}) == 1, rows_printed  # one column, whatever the code


# --- FLORES-200 / Belebele language codes (item 1) ------------------------------------------------------

FLORES_ROWS = [
    {"id": "g1", "lang": "deu_Latn", "source": "Good morning", "reference": "Guten Morgen"},
    {"id": "z1", "lang": "zho_Hans", "source": "Good morning", "reference": "早上好"},
    {"id": "j1", "lang": "jpn_Jpan", "source": "Thank you very much", "reference": "どうもありがとうございます"},
    {"id": "z2", "lang": "zho_Hans", "source": "Thank you", "reference": "谢谢"},  # answered in English
]


def flores_translator(request: dict[str, Any]) -> str:
    text = request["messages"][-1]["content"]
    answers = {"German: Good morning": "Guten Morgen", "Chinese: Good morning": "早上好",
               "Japanese: Thank you very much": "どうもありがとうございます"}
    return next((out for key, out in answers.items() if text.endswith(key)), "Thank you")


def test_flores_codes_score_with_their_languages_tokenizers_and_script_check(tmp_path: Path) -> None:
    with FakeOpenAIServer(flores_translator) as server:
        path = long_suite(tmp_path, FLORES_ROWS, languages="deu_Latn, zho_Hans, jpn_Jpan",
                          scorers="bleu, language", base_url=server.base_url)
        assert validate_suite(path).ok, validate_suite(path).errors
        out = tmp_path / "run"
        assert run_cli("run", path, "--out", out, "--no-report") == 0
    manifest = read_manifest(out)
    assert manifest.languages == ["deu_Latn", "zho_Hans", "jpn_Jpan"]  # the user's codes, as written
    bleu = manifest.signatures["bleu"]
    assert "tok:13a" in bleu["deu_Latn"] and "tok:zh" in bleu["zho_Hans"] and "tok:ja-mecab" in bleu["jpn_Jpan"]
    results = {r.case_id: r for r in iter_results(out / RESULTS)}
    assert {r.language for r in results.values()} == {"deu_Latn", "zho_Hans", "jpn_Jpan"}
    assert results["j1"].scores["bleu"] == pytest.approx(100.0)
    assert [results[c].scores["language"] for c in ("g1", "z1", "j1", "z2")] == [1.0, 1.0, 1.0, 0.0]
    assert results["z2"].details["language"]["expected"] == "zh"
    assert results["z2"].details["language"]["reason"].startswith("wrong script: Latin")  # not Han
    cells = {(c.language, c.metric): c.value for c in read_summary(out).cells}
    assert cells[("zho_Hans", "language")] == pytest.approx(50.0)
    assert cells[("jpn_Jpan", "bleu")] == pytest.approx(100.0)


def test_flores_and_iso_639_1_codes_name_the_same_language(tmp_path: Path) -> None:
    # Rows in FLORES codes in a suite of ISO 639-1 codes, and the other way round.
    path = long_suite(tmp_path, FLORES_ROWS, languages="de, zh, ja")
    assert [(i.case_id, i.language) for i in Planner(load_suite(path)).iter_items()] == [
        ("g1", "de"), ("z1", "zh"), ("j1", "ja"), ("z2", "zh")]
    rows = [{**r, "lang": {"deu_Latn": "de", "zho_Hans": "zh", "jpn_Jpan": "ja-JP"}[str(r["lang"])]}
            for r in FLORES_ROWS]
    path = long_suite(tmp_path, rows, languages="deu_Latn, zho_Hans, jpn_Jpan")
    planner = Planner(load_suite(path), Selection(languages=["zho_Hans"]))
    assert [(i.case_id, i.language, i.messages[-1]["content"]) for i in planner.iter_items()] == [
        ("z1", "zho_Hans", "Translate into Chinese: Good morning"),
        ("z2", "zho_Hans", "Translate into Chinese: Thank you")]
    # Traditional Chinese is not Simplified Chinese: a zho_Hant row is not in a zho_Hans suite.
    path = long_suite(tmp_path, [{**FLORES_ROWS[1], "lang": "zho_Hant"}, FLORES_ROWS[0]], languages="zho_Hans, de")
    planner = Planner(load_suite(path))
    assert [i.case_id for i in planner.iter_items()] == ["g1"]
    assert dict(planner.skipped_languages) == {"zho_Hant": 1}


def test_languages_option_takes_flores_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = long_suite(tmp_path, FLORES_ROWS, languages="de, zh, ja")
    assert run_cli("run", path, "--out", tmp_path / "run", "--dry-run", "--languages", "zho_hans,JPN_Jpan") == 0
    printed = capsys.readouterr().out
    assert "total: 3 items" in printed
    assert {line.split()[1] for line in printed.splitlines() if line.startswith("  plain")} == {"zh", "ja"}


def test_suite_listing_one_language_twice_in_two_spellings(tmp_path: Path) -> None:
    path = long_suite(tmp_path, FLORES_ROWS, languages="de, deu_Latn")
    with pytest.raises(SuiteError, match=r"language 'deu_Latn' listed twice \(as 'de' on line 7\)"):
        load_suite(path)


@pytest.mark.parametrize(("code", "says"), [
    ("hin_Latn", "unknown language code 'hin_Latn'; the Latn script is not one evalkit checks Hindi in "
                 "(it checks Devanagari: hi or hin_Deva)"),
    ("zho_Hnas", "unknown language code 'zho_Hnas'; Hnas is not a script code; did you mean 'zh' or 'zho_Hans'?"),
    ("dei_Latn", "unknown language code 'dei_Latn'; did you mean 'deu_Latn'?"),
    ("xx", "unknown language code 'xx'"),
])
def test_bad_flores_codes_say_what_is_wrong(tmp_path: Path, code: str, says: str) -> None:
    path = long_suite(tmp_path, [FLORES_ROWS[0]], languages=f"de, {code}")
    messages = [e.message for e in validate_suite(path).errors]
    assert messages == [f"{path}:7:17: languages[1]: {says}"]
    rows = [FLORES_ROWS[0], {**FLORES_ROWS[1], "lang": code}]
    path = long_suite(tmp_path, rows, languages="de")
    messages = [e.message for e in validate_suite(path).errors]
    remedy = says.removeprefix(f"unknown language code {code!r}") or "; use a code such as de, pt-BR or deu_Latn"
    assert messages == [f"{tmp_path / 'data.jsonl'}:2: lang: unknown language code {code!r} (case 'z1'){remedy}"]


def test_iso_639_3_table_agrees_with_lingua() -> None:
    from lingua import Language as Lingua

    pairs = {lang.iso_code_639_1.name.lower(): lang.iso_code_639_3.name.lower() for lang in Lingua.all()}
    pairs.update({"am": "amh", "my": "mya", "km": "khm", "lo": "lao"})  # not in lingua
    individual = {"arb", "cmn", "pes", "zsm", "swh"}  # FLORES-200's individual languages of macrolanguages
    assert {two: three for three, two in ISO639_3.items() if three not in individual} == {
        code: pairs[code] for code in LANGUAGES}
    assert {three: ISO639_3[three] for three in individual} == {"arb": "ar", "cmn": "zh", "pes": "fa",
                                                                "zsm": "ms", "swh": "sw"}
    for lang in LANGUAGES.values():
        assert get_language(flores_code(lang)) is lang
        assert canonical_code(flores_code(lang)) == (lang.code if lang.code != "zh" else "zh-hans")


# --- a suite's models: list (item 2) --------------------------------------------------------------------

GOOD = "meta-llama/Llama-3.2-3B-Instruct-Turbo"
BAD = "gpt-bad"


def per_model(request: dict[str, Any]) -> str:
    return translator(request) if request["model"] == GOOD else "Sorry"


def models_suite(tmp_path: Path, base_url: str, models: str, name: str = "") -> Path:
    body = SUITE.replace("  name: test-model\n", f"  name: {name}\n" if name else "") + f"models: {models}\n"
    return write_suite(tmp_path, base_url, body)


def test_models_list_runs_like_repeated_model_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(per_model) as srv:
        suite = models_suite(tmp_path, srv.base_url, f"[{GOOD}, {BAD}]")
        assert validate_suite(suite).ok
        out = tmp_path / "out"
        assert run_cli("run", suite, "--out", out, "--prompts", "plain") == 0
        asked = [r.body["model"] for r in srv.chat_requests if r.body]
        sent = srv.count
        # The same command again resumes both runs: nothing is sent.
        assert run_cli("run", suite, "--out", out, "--prompts", "plain") == 0
        assert srv.count == sent
    assert sorted(set(asked)) == sorted({GOOD, BAD}) and len(asked) == 18
    good, bad = out / model_slug(GOOD), out / model_slug(BAD)
    assert read_manifest(good).model.name == GOOD and read_manifest(bad).model.name == BAD
    exact = {run: {c.language: c.value for c in read_summary(run).cells if c.metric == "exact_match"}
             for run in (good, bad)}
    assert exact == {good: {"de": 100.0, "zh": 100.0, "th": 100.0}, bad: {"de": 0.0, "zh": 0.0, "th": 0.0}}
    assert (out / "compare.html").exists() and not (out / "manifest.json").exists()
    printed = capsys.readouterr().out
    assert f"{BAD} vs {GOOD}:" in printed


def test_model_option_overrides_the_models_list(tmp_path: Path) -> None:
    with FakeOpenAIServer(per_model) as srv:
        suite = models_suite(tmp_path, srv.base_url, f"[{GOOD}, {BAD}]")
        out = tmp_path / "one"
        assert run_cli("run", suite, "--out", out, "--model", BAD, "--prompts", "plain", "--no-report") == 0
        assert {r.body["model"] for r in srv.chat_requests if r.body} == {BAD}
    assert read_manifest(out).model.name == BAD  # a single run, in --out itself
    with FakeOpenAIServer(per_model) as srv:  # a list of one is one run, like one --model
        suite = models_suite(tmp_path, srv.base_url, f"[{GOOD}]")
        out = tmp_path / "listed"
        assert run_cli("run", suite, "--out", out, "--prompts", "plain", "--no-report") == 0
    assert read_manifest(out).model.name == GOOD


@pytest.mark.parametrize(("models", "name", "says"), [
    ("[a, b, a]", "", ":28:16: models[2]: model 'a' is listed twice (first on line 28); name each model once"),
    ("[a, 3]", "", ":28:13: models[1]: Input should be a valid string"),
    ("[a, ' ']", "", ":28:13: models[1]: a model name cannot be empty"),
    ("[]", "", ":28:1: models: is empty; give at least one entry"),
    ("[a, b]", "c", ":3:3: model.name: give the model in model.name or in models, not both (models: a, b)"),
])
def test_models_list_errors(tmp_path: Path, models: str, name: str, says: str) -> None:
    suite = models_suite(tmp_path, "http://127.0.0.1:9/v1", models, name)
    messages = [e.message for e in validate_suite(suite).errors]
    assert messages == [f"{suite}{says}"]
    assert run_cli("run", suite, "--out", tmp_path / "out") == 2


# --- validate groups template and reference problems on structured fields (item 4) ----------------------


@pytest.mark.parametrize("ids", [["c0", "c1", "c2"], ["it's 1", "it's 2", "it's 3"],
                                 ["a) at x, language y)", "b", "c"]])
def test_validate_groups_a_problem_across_cases_whatever_their_ids(tmp_path: Path, ids: list[str]) -> None:
    rows = [{"id": i, "lang": "de", "source": "s", "reference": "r"} for i in ids]
    path = long_suite(tmp_path, rows, languages="de")
    template = path.read_text(encoding="utf-8").replace("{{ source }}", "{{ case.nativ }}")
    path.write_text(template, encoding="utf-8")
    messages = [e.message for e in validate_suite(path).errors]
    assert messages == [f"{path}:11:5: prompts.plain.user: case.nativ: no such field (fields: id, lang, source, "
                        f"reference) (in 3 cases: {', '.join(ids)})"]
    path = long_suite(tmp_path, [{k: v for k, v in r.items() if k != "reference"} for r in rows], languages="de")
    messages = [e.message for e in validate_suite(path).errors]
    assert messages == [f"{tmp_path / 'data.jsonl'}:1: reference: no reference 'reference' for language 'de' "
                        f"(in 3 cases: {', '.join(ids)})"]


def test_a_single_run_of_a_suite_with_models_uses_the_first(tmp_path: Path) -> None:
    """The Python API (and anything else that runs one model) runs the list's first model, not the default."""
    import evalkit

    with FakeOpenAIServer(per_model) as srv:
        suite = evalkit.load_suite(models_suite(tmp_path, srv.base_url, f"[{BAD}, {GOOD}]"))
        assert suite.spec.model.name == BAD  # not the default model (which GOOD happens to be)
        evalkit.run(suite, evalkit.RunOptions(out_dir=tmp_path / "api", write_report=False))
        assert {r.body["model"] for r in srv.chat_requests if r.body} == {BAD}


def test_per_language_fields_keyed_in_another_spelling(tmp_path: Path) -> None:
    """Wide format: a suite of FLORES codes reads references and fields keyed by ISO 639-1 codes (and back)."""
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent("""\
        name: wide
        languages: [deu_Latn, zho_Hans]
        prompts:
          p: {user: "{{ greeting }} -> {{ language.name }}"}
        cases:
          - {id: a, greeting: {de: Hallo, zh: 你好}, reference: {de: Guten Tag, zho_Hans: 你好}}
        scorers: [chrf]
        """), encoding="utf-8")
    items = list(Planner(load_suite(path)).iter_items())
    assert [(i.language, i.messages[-1]["content"], i.references) for i in items] == [
        ("deu_Latn", "Hallo -> German", ("Guten Tag",)), ("zho_Hans", "你好 -> Chinese", ("你好",))]


def test_empty_lists_say_so_in_evalkits_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text('name: x\nmodel: {base_url: "http://127.0.0.1:9/v1"}\nlanguages: []\nprompts: {}\n'
                    'cases:\n  - {id: a, source: hi, reference: {de: x}}\nscorers: []\n', encoding="utf-8")
    assert run_cli("validate", path) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "languages: is empty; give at least one entry", "prompts: is empty; give at least one entry",
        "scorers: is empty; give at least one entry"], lines
