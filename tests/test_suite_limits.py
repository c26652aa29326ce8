"""Suites arrive in pull requests: their size is bounded (suite file, items planned, one line of a data
file), each limit refused with exit 2 and one line naming the file, the limit and how to raise it.
Also: duplicate languages differing only in case, a CSV or JSONL file with a UTF-8 BOM, and control
characters in case ids, variant names and language codes (which could make two items share one id)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import SUITE, run_cli, write_suite

from evalkit.items import item_id_for
from evalkit.suite import load_suite

LINE = re.compile(r"^(?:evalkit: error: )?(?P<file>[^:\n]+):(?P<line>\d+)(?::\d+)?: (?P<rest>\S.*)$")
URL = "http://127.0.0.1:9/v1"

FILE_SUITE = """\
name: limits
model: {{name: m, base_url: "{base_url}"}}
languages: [de]
prompts:
  a: {{user: "{{{{ source }}}}"}}
  b: {{user: "Say {{{{ source }}}}"}}
cases: {{file: cases.{ext}}}
scorers: [chrf]
"""


def _one_line(capsys: pytest.CaptureFixture[str]) -> re.Match[str]:
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1, lines
    match = LINE.match(lines[0])
    assert match, lines[0]
    return match


def _file_suite(tmp_path: Path, rows: str, ext: str = "jsonl") -> Path:
    (tmp_path / f"cases.{ext}").write_text(rows, encoding="utf-8")
    return write_suite(tmp_path, URL, FILE_SUITE.replace("{ext}", ext))


# --- size limits ------------------------------------------------------------------------------------


def test_suite_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    suite = write_suite(tmp_path, URL)
    with suite.open("a", encoding="utf-8") as fh:
        fh.write("description: " + "x" * (5 * 1024 * 1024) + "\n")
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["file"].endswith("suite.yaml") and match["line"] == "1"
    assert "more than the limit of 2,097,152 bytes" in match["rest"] and "EVALKIT_MAX_SUITE_BYTES" in match["rest"]
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache") == 2
    assert "EVALKIT_MAX_SUITE_BYTES" in capsys.readouterr().err
    # The person running evalkit may raise it.
    monkeypatch.setenv("EVALKIT_MAX_SUITE_BYTES", str(8 * 1024 * 1024))
    assert run_cli("validate", suite) == 0


def test_two_million_items_are_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _file_suite(tmp_path, '{"source": "a", "reference": "b"}\n' * 1_000_001)  # x 2 prompts
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["file"].endswith("suite.yaml") and match["line"] == "7"
    assert "2,000,002 items" in match["rest"] and "more than the limit of 1,000,000" in match["rest"]
    assert "EVALKIT_MAX_ITEMS" in match["rest"]


def test_item_limit_counts_languages_prompts_and_repeats(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    suite = write_suite(tmp_path, URL, SUITE + "repeats: 6\n")  # 3 cases x 3 languages x 2 prompts x 6
    monkeypatch.setenv("EVALKIT_MAX_ITEMS", "100")
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["line"] == "14" and "108 items" in match["rest"] and "limit of 100" in match["rest"]
    monkeypatch.setenv("EVALKIT_MAX_ITEMS", "108")
    assert run_cli("validate", suite) == 0
    # A CSV file is counted as it streams; the suite's own `limit:` is respected.
    monkeypatch.setenv("EVALKIT_MAX_ITEMS", "10")
    (tmp_path / "csv").mkdir()
    csv_suite = _file_suite(tmp_path / "csv", "id,source,reference\n" + "".join(f"c{i},s,r\n" for i in range(8)), "csv")
    assert run_cli("validate", csv_suite) == 2
    match = _one_line(capsys)
    assert match["file"].endswith("cases.csv") and match["line"] == "7" and "limit of 10" in match["rest"]
    csv_suite.write_text(csv_suite.read_text().replace("cases.csv}", "cases.csv, limit: 5}"))
    assert run_cli("validate", csv_suite) == 0


def test_bad_limit_value_in_the_environment_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_MAX_ITEMS", "lots")
    assert run_cli("validate", write_suite(tmp_path, URL)) == 2
    assert "EVALKIT_MAX_ITEMS must be a positive integer" in capsys.readouterr().err


def test_a_data_line_over_the_limit_is_refused_without_reading_it_whole(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    suite = _file_suite(tmp_path, '{"source": "a", "reference": "b"}\n{"source": "' + "x" * (9 * 1024 * 1024) + '"}\n')
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["file"].endswith("cases.jsonl") and match["line"] == "2"
    assert "longer than 8,388,608 bytes" in match["rest"]


# --- the small ones ---------------------------------------------------------------------------------


def test_languages_differing_only_in_case_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, URL, SUITE.replace("languages: [de, zh, th]", "languages:\n  - de\n  - zh\n  - DE"))
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["line"] == "10" and "languages: language 'DE' listed twice (as 'de' on line 8)" in match["rest"]


@pytest.mark.parametrize("ext", ["csv", "jsonl"])
def test_a_utf8_bom_does_not_hide_the_first_column(ext: str, tmp_path: Path) -> None:
    rows = ("id,source,reference\na1,s,r\na2,t,u\n" if ext == "csv"
            else '{"id": "a1", "source": "s", "reference": "r"}\n{"id": "a2", "source": "t", "reference": "u"}\n')
    (tmp_path / f"cases.{ext}").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    suite = write_suite(tmp_path, URL, FILE_SUITE.replace("{ext}", ext))
    assert [c.id for c in load_suite(suite).iter_cases()] == ["a1", "a2"]


def test_control_characters_in_case_ids_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Item ids join (case id, language, variant, repeat) with \x1f: "a\x1fde\x1fb" + variant "x" would
    # collide with case "a", variant "b\x1fde\x1fx"... so neither may hold a control character.
    inline = write_suite(tmp_path, URL, SUITE.replace("  - id: c2\n", '  - id: "c\\x1f2"\n'))
    assert run_cli("validate", inline) == 2
    match = _one_line(capsys)
    assert match["line"] == "18" and "id: case id 'c\\x1f2' contains a control character (U+001F)" in match["rest"]

    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": "ok", "source": "a", "reference": "b"}, {"id": "x\x07y", "source": "b", "reference": "c"}]
    suite = _file_suite(data, "".join(json.dumps(row) + "\n" for row in rows))
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["file"].endswith("cases.jsonl") and match["line"] == "2" and "U+0007" in match["rest"]


def test_control_characters_in_variant_names_and_languages_are_refused(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, URL, SUITE.replace("  polite:\n", '  "pol\\x1fite":\n'))
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["line"] == "11"
    assert "prompt variant name 'pol\\x1fite' contains a control character (U+001F)" in match["rest"]
    suite = write_suite(tmp_path, URL, SUITE.replace("languages: [de, zh, th]", 'languages: [de, "zh-\\x1f"]'))
    assert run_cli("validate", suite) == 2
    match = _one_line(capsys)
    assert match["line"] == "7" and "control character (U+001F)" in match["rest"]


def test_item_ids_are_unchanged() -> None:
    # Old runs must keep lining up: the checks above refuse ids, they do not change how ids are made.
    assert item_id_for("c1", "de", "plain", 0) == "2894a2c318b882848168"
