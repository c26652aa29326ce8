"""Property-based tests (hypothesis): normalization, suite loading and the results reader hold up
against arbitrary input: they give an answer or evalkit's own error, never another exception."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from evalkit.errors import ResultsError, SuiteError, SuiteErrors
from evalkit.results import ItemResult, iter_results
from evalkit.results._store import repair_torn_tail
from evalkit.runner._rundir import prepare_resume
from evalkit.scoring._normalize import DEFAULT_STEPS, STEPS, normalize
from evalkit.suite import load_suite
from evalkit.validate import validate_suite

# Derandomized so CI is deterministic; EVALKIT_HYPOTHESIS_EXAMPLES=5000 searches harder locally.
SETTINGS = settings(
    max_examples=int(os.environ.get("EVALKIT_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    derandomize=not os.environ.get("EVALKIT_HYPOTHESIS_EXAMPLES"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
DECIMAL_DIGITS = [chr(cp) for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Nd"]

# --- normalization ---------------------------------------------------------------------------------


@SETTINGS
@given(ANY_TEXT)
@example("C:\u0327")  # removing ":" brings C next to a combining cedilla: NFKC must compose it
@example("e\u200b\u0301")  # the same through an invisible mark
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text, DEFAULT_STEPS)
    assert normalize(once, DEFAULT_STEPS) == once


@SETTINGS
@given(ANY_TEXT, st.lists(st.sampled_from(STEPS), max_size=8))
def test_normalize_never_raises(text: str, steps: list[str]) -> None:
    assert isinstance(normalize(text, steps), str)


@SETTINGS
@given(st.lists(st.sampled_from(DECIMAL_DIGITS), min_size=1, max_size=12))
def test_digits_of_any_script_become_ascii(digits: list[str]) -> None:
    expected = "".join(str(unicodedata.decimal(d)) for d in digits)
    assert normalize("".join(digits)) == expected
    assert normalize("".join(digits), ("digits",)) == expected


def test_every_decimal_digit_is_mapped() -> None:
    assert len(DECIMAL_DIGITS) > 600  # every script's digits, not a hand-picked few
    for digit in DECIMAL_DIGITS:
        assert normalize(digit, ("digits",)) == str(unicodedata.decimal(digit)), hex(ord(digit))
    assert set(normalize("".join(DECIMAL_DIGITS))) <= set("0123456789")


# --- suite loading ---------------------------------------------------------------------------------

VALID = """\
name: p
model: {name: m, base_url: "http://127.0.0.1:9/v1", params: {temperature: 0}}
languages: [de, zh]
prompts:
  plain: {user: "Translate into {{ language.name }}: {{ source }}"}
cases:
  - {id: a, source: Hello, reference: {de: Hallo, zh: 你好}}
scorers: [chrf, {bleu: {}}, exact_match]
"""
YAML_BITS = st.sampled_from([
    ":", "- ", "[", "]", "{", "}", "&a ", "*a", "!!python/object:os.system ", "!!str ", "'", '"', "\n", "  ",
    "\t", "#", "|", "> ", "? ", "%YAML 1.1\n", "---\n", "...\n", "{{ x }}", "{% for %}", "~", "null", "1e9",
    "-1", "languages", "prompts", "cases", "scorers", "model", "name", "\x00", "\ufeff", "é", "\\u00",
])


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    """A valid suite with random edits, or text assembled from YAML syntax."""
    if draw(st.booleans()):
        return "".join(draw(st.lists(st.one_of(YAML_BITS, ANY_TEXT), max_size=30)))
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 5))
        text = text[:at] + draw(st.one_of(YAML_BITS, st.just(""), ANY_TEXT)) + text[at + cut:]
    return text


def _write(text: str, encoding_errors: bool) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / "suite.yaml"
    data = text.encode("utf-8", "surrogatepass")
    path.write_bytes(data + (b"\xff" if encoding_errors else b""))
    return path


@SETTINGS
@given(yamlish(), st.booleans())
def test_suite_loading_loads_or_raises_suite_error(text: str, bad_byte: bool) -> None:
    path = _write(text, bad_byte)
    try:
        suite = load_suite(path)
    except SuiteError as exc:
        assert exc.message and ("\n" not in exc.message or isinstance(exc, SuiteErrors))
        return
    assert suite.spec.name


@SETTINGS
@given(yamlish())
def test_validate_never_raises(text: str) -> None:
    report = validate_suite(_write(text, False))
    assert report.ok or all(e.message for e in report.errors)


# --- results reader --------------------------------------------------------------------------------


def _result(i: int, output: str) -> bytes:
    item = ItemResult(item_id=f"id{i}", case_id=f"c{i}", language="de", variant="p", target_language="de",
                      messages=[{"role": "user", "content": "x"}], output=output)
    return (item.model_dump_json() + "\n").encode()


TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)  # what a result can hold
VALID_LINES = st.lists(TEXT, max_size=6).map(lambda outs: [_result(i, o) for i, o in enumerate(outs)])


@SETTINGS
@given(st.binary(max_size=400) | st.lists(st.sampled_from([
    b"{", b"}", b'"item_id"', b": ", b"\n", b"[", b"]", b"null", b'"x"', b",", b"\xff", b"1e999", b"[" * 200,
]), max_size=40).map(b"".join), st.booleans())
def test_results_reader_reads_or_rejects(data: bytes, prefix_valid: bool) -> None:
    folder = Path(tempfile.mkdtemp())
    path = folder / "results.jsonl"
    path.write_bytes((_result(0, "ok") if prefix_valid else b"") + data)
    try:
        results = list(iter_results(path))
    except ResultsError:
        pass
    else:
        assert all(isinstance(r, ItemResult) for r in results)
    resumed = prepare_resume(path, {"id0"}, "key", vouched=True)  # what a resume does with the same file
    assert resumed.done <= {"id0"}
    assert [r.item_id for r in iter_results(path)] == sorted(resumed.done)


@SETTINGS
@given(VALID_LINES, st.binary(max_size=300).filter(lambda b: b"\n" not in b))
def test_repair_never_loses_complete_lines(lines: list[bytes], torn: bytes) -> None:
    path = Path(tempfile.mkdtemp()) / "results.jsonl"
    path.write_bytes(b"".join(lines) + torn)
    removed = repair_torn_tail(path)
    assert path.read_bytes() == b"".join(lines)
    assert removed == len(torn)
    assert [r.item_id for r in iter_results(path)] == [f"id{i}" for i in range(len(lines))]


@SETTINGS
@given(VALID_LINES, st.binary(max_size=100).filter(lambda b: b"\n" not in b))
def test_repair_cuts_a_complete_but_broken_last_line(lines: list[bytes], garbage: bytes) -> None:
    try:
        json.loads(garbage)
        assume(False)  # valid JSON is a complete line
    except (ValueError, RecursionError):
        pass
    path = Path(tempfile.mkdtemp()) / "results.jsonl"
    path.write_bytes(b"".join(lines) + garbage + b"\n")
    repair_torn_tail(path)
    assert path.read_bytes() == b"".join(lines)


def test_repair_handles_lines_longer_than_any_buffer(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    long_line = _result(1, "x" * 3_000_000)
    path.write_bytes(_result(0, "a") + long_line + b'{"torn": "' + b"y" * 2_000_000)
    repair_torn_tail(path)
    assert path.read_bytes() == _result(0, "a") + long_line
