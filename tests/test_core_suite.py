"""Suite loading: schema, located errors, case sources (inline, JSONL, CSV, datasets), templates."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from evalkit.errors import SuiteError, SuiteErrors
from evalkit.items import Planner, Selection, Shard
from evalkit.languages import LANGUAGES, get_language
from evalkit.suite import load_suite
from evalkit.validate import validate_suite

BASE = """\
name: t
languages: [de, fr]
prompts:
  p: {user: "Say {{ word }} in {{ language.name }}"}
scorers: [exact_match]
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_language_registry_has_required_languages() -> None:
    required = ["en", "de", "fr", "it", "pt", "hi", "es", "th"]  # Llama 3.2's eight
    required += ["zh", "ja", "ko", "ar", "ru", "sw", "tr", "vi", "id", "bn"]
    assert len(LANGUAGES) >= 30
    for code in required:
        lang = get_language(code)
        assert lang.name and lang.native
    assert get_language("pt-BR").code == "pt"
    assert get_language("zh").bleu_tokenizer == "zh"
    assert get_language("ja").bleu_tokenizer == "ja-mecab"
    assert get_language("ko").bleu_tokenizer == "ko-mecab"
    assert get_language("th").bleu_tokenizer == "char"
    assert get_language("de").bleu_tokenizer == "13a"


def test_inline_cases_and_per_language_fields(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + """\
cases:
  - id: a
    word: {de: Hallo, fr: Bonjour}
    reference: {de: Hallo, fr: Bonjour}
""")
    suite = load_suite(path)
    items = list(Planner(suite).iter_items())
    assert [(i.language, i.messages[-1]["content"], i.references) for i in items] == [
        ("de", "Say Hallo in German", ("Hallo",)),
        ("fr", "Say Bonjour in French", ("Bonjour",)),
    ]


def test_jsonl_and_csv_sources(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "w": f"word{i}", "reference": {"de": f"de{i}", "fr": [f"fr{i}", f"fr{i}b"]}}
            for i in range(3)]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    (tmp_path / "data.csv").write_text(
        "id,w,reference.de,reference.fr\n" + "".join(f"r{i},word{i},de{i},fr{i}\n" for i in range(3)),
        encoding="utf-8",
    )
    for name in ("data.jsonl", "data.csv"):
        path = write(tmp_path, BASE.replace("{{ word }}", "{{ text }}") + f"""\
cases:
  file: {name}
  fields: {{text: w}}
""")
        items = list(Planner(load_suite(path)).iter_items())
        assert len(items) == 6
        assert items[0].messages[-1]["content"] == "Say word0 in German"
        assert items[0].references == ("de0",)
    items = list(Planner(load_suite(tmp_path / "s.yaml")).iter_items())
    assert items[1].references == ("fr0",)  # CSV: one reference column per language


def test_multiple_references_from_jsonl(tmp_path: Path) -> None:
    rows = [{"id": "a", "word": "x", "reference": {"de": "d", "fr": ["f1", "f2"]}}]
    (tmp_path / "d.jsonl").write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    path = write(tmp_path, BASE + "cases: {file: d.jsonl}\n")
    items = list(Planner(load_suite(path)).iter_items())
    assert items[1].references == ("f1", "f2")


def test_huggingface_datasets_local_files(tmp_path: Path) -> None:
    (tmp_path / "hf").mkdir()
    rows = [{"qid": f"q{i}", "prompt_word": f"w{i}", "ref_de": f"d{i}", "ref_fr": f"f{i}"} for i in range(4)]
    (tmp_path / "hf" / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    path = write(tmp_path, """\
name: hf
languages: [de]
prompts:
  p: {user: "Say {{ word }}"}
cases:
  dataset: {path: json, data_files: hf/train.jsonl, split: train}
  fields: {id: qid, word: prompt_word, reference: ref_de}
scorers: [exact_match]
""")
    items = list(Planner(load_suite(path)).iter_items())
    assert [i.case_id for i in items] == ["q0", "q1", "q2", "q3"]
    assert items[2].messages[-1]["content"] == "Say w2" and items[2].references == ("d2",)


def test_huggingface_saved_dataset_directory(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_list([{"id": "x1", "word": "hi", "reference": "hallo"}])
    ds.save_to_disk(str(tmp_path / "saved"))
    path = write(tmp_path, """\
name: hf2
languages: [de]
prompts: {p: {user: "{{ word }}"}}
cases: {dataset: {path: saved}}
scorers: [exact_match]
""")
    items = list(Planner(load_suite(path)).iter_items())
    assert items[0].case_id == "x1" and items[0].references == ("hallo",)


def test_unknown_key_is_located_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "cases: [{id: a, word: x, reference: y}]\nlanguagez: [de]\n")
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    assert exc.value.message.endswith("s.yaml:7:1: languagez: unknown key 'languagez' (did you mean 'languages'?)")


def test_wrong_type_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("name: t", "name: t\nmodel: {params: {max_tokens: zero}}")
                 + "cases: [{id: a, word: x, reference: y}]\n")
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    assert ":2:" in exc.value.message and "model.params.max_tokens" in exc.value.message


def test_yaml_syntax_error_and_object_tags(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"s.yaml:3:\d+: YAML error"):
        load_suite(write(tmp_path, "name: x\nlanguages: [de\nprompts: {}\n"))
    with pytest.raises(SuiteError, match="tags that construct objects are not allowed"):
        load_suite(write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n"))


def test_validate_reports_template_and_reference_problems(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("{{ word }}", "{{ wrod }}") + "cases: [{id: a, word: x, reference: {de: y}}]\n")
    report = validate_suite(path)
    assert not report.ok
    assert "wrod: no such variable" in report.errors[0].message and "prompts.p.user" in report.errors[0].message
    path = write(tmp_path, BASE + "cases: [{id: a, word: x, reference: {de: y}}]\n")
    report = validate_suite(path)
    assert "no reference 'reference' for language 'fr'" in report.errors[0].message


def test_validate_reports_unknown_language_and_scorer_option(tmp_path: Path) -> None:
    text = BASE.replace("[de, fr]", "[de, xx]").replace("[exact_match]", "[{bleu: {tokenise: zh}}]")
    report = validate_suite(write(tmp_path, text + "cases: [{id: a, word: x, reference: y}]\n"))
    messages = [e.message for e in report.errors]
    assert any("s.yaml:2:" in m and "unknown language code 'xx'" in m for m in messages)
    assert any("scorers[0].bleu.tokenise: unknown option" in m for m in messages)


def test_duplicate_case_ids(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "cases: [{id: a, word: x, reference: y}, {id: a, word: z, reference: y}]\n")
    report = validate_suite(path)
    assert "duplicate case id 'a'" in report.errors[0].message


def test_data_paths_cannot_leave_the_suite_folder(tmp_path: Path) -> None:
    (tmp_path / "outside.jsonl").write_text('{"id": "a", "word": "x", "reference": "y"}\n', encoding="utf-8")
    (tmp_path / "sub").mkdir()
    path = write(tmp_path, BASE + "cases: {file: ../outside.jsonl}\n", name="sub/s.yaml")
    with pytest.raises(SuiteError, match="leaves the suite's folder"):
        list(Planner(load_suite(path)).iter_items())
    assert len(list(Planner(load_suite(path, allow_outside_paths=True)).iter_items())) == 2


def test_shards_partition_items(tmp_path: Path) -> None:
    cases = ", ".join(f"{{id: c{i}, word: w, reference: r}}" for i in range(40))
    suite = load_suite(write(tmp_path, BASE + f"cases: [{cases}]\n"))
    everything = {i.item_id for i in Planner(suite).iter_items()}
    parts = [{i.item_id for i in Planner(suite, Selection(shard=Shard(k, 3))).iter_items()} for k in (1, 2, 3)]
    assert set().union(*parts) == everything
    assert sum(len(p) for p in parts) == len(everything)
    assert all(parts)


def test_several_schema_errors_reported_together(tmp_path: Path) -> None:
    with pytest.raises(SuiteErrors) as exc:
        load_suite(write(tmp_path, "name: x\nlanguages: []\nprompts: {}\ncases: []\nscorers: []\n"))
    assert len(exc.value.errors) >= 2


def test_validate_checks_the_gates_section(tmp_path: Path) -> None:
    text = BASE + "cases: [{id: a, word: x, reference: y}]\ngates:\n  thresholds:\n    exact_match: {minimum: 50}\n"
    report = validate_suite(write(tmp_path, text))
    assert not report.ok
    assert "s.yaml:9:19: gates.thresholds.exact_match.minimum: unknown key" in report.errors[0].message
    ok = BASE + "cases: [{id: a, word: x, reference: y}]\ngates:\n  thresholds:\n    exact_match: {min: 50}\n"
    assert validate_suite(write(tmp_path, ok)).ok
