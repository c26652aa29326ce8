"""Case sources: inline YAML lists, JSONL and CSV files, and Hugging Face ``datasets``."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import Location, SuiteError
from evalkit.suite._limits import MAX_LINE_BYTES, control_character
from evalkit.suite._schema import DatasetCases, FileCases

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Case:
    """One test case: an id and its fields; ``where`` says where it was defined."""

    id: str
    fields: dict[str, Any]
    where: Location


def case_id_for(fields: dict[str, Any]) -> str:
    """A content-derived id for cases that carry none (stable while the case data is unchanged)."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return "c" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def resolve_data_path(suite_dir: Path, relative: str, location: Location, allow_outside: bool) -> Path:
    """Data paths are relative to the suite; absolute or ``..`` paths that leave its folder are refused
    unless the user allowed them (suites arrive in pull requests)."""
    candidate = (suite_dir / relative).resolve()
    if not allow_outside and not candidate.is_relative_to(suite_dir.resolve()):
        raise SuiteError(
            f"data path {relative!r} leaves the suite's folder; pass --allow-outside-paths to allow it",
            location,
        )
    return candidate


def _apply_mapping(row: dict[str, Any], mapping: dict[str, str], where: Location) -> dict[str, Any]:
    if not mapping:
        return row
    out = dict(row)
    for field, column in mapping.items():
        if column not in row:
            raise SuiteError(f"column {column!r} (mapped to {field!r}) not found",
                             Location(where.file, where.line, where.column, field))
        out[field] = row[column]
    return out


def _make_case(row: dict[str, Any], where: Location) -> Case:
    raw_id = row.get("id")
    if raw_id is None or raw_id == "":
        return Case(case_id_for(row), row, where)
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        raise SuiteError(f"case id must be a string or an integer (got {type(raw_id).__name__})",
                         Location(where.file, where.line, where.column, "id"))
    check_case_id(str(raw_id), Location(where.file, where.line, where.column, "id"))
    return Case(str(raw_id), row, where)


def check_case_id(case_id: str, where: Location) -> None:
    """Refuse control characters in a case id: "\\x1f" joins the parts of an item id, so a crafted case id
    and variant name could make two items share one id (ids are not computed differently: old runs
    must keep lining up)."""
    bad = control_character(case_id)
    if bad:
        raise SuiteError(f"case id {case_id!r} contains a control character ({bad}); use printable characters",
                         where)


def _nest_dotted(row: dict[str, Any]) -> dict[str, Any]:
    """CSV columns such as ``reference.de`` become ``{"reference": {"de": ...}}``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            continue
        if "." in key:
            head, _, tail = key.partition(".")
            out.setdefault(head, {})
            if isinstance(out[head], dict):
                out[head][tail] = value
        else:
            out[key] = value
    return out


def not_utf8(raw: bytes, start: int, display: str) -> tuple[str, Location]:
    """The message and location (line, column) of the first byte that is not UTF-8."""
    line = raw.count(b"\n", 0, start) + 1
    column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
    return f"not UTF-8 text (byte 0x{raw[start]:02x}); save the file as UTF-8", Location(display, line, column)


def _raw_lines(path: Path, display: str) -> Iterator[bytes]:
    """The file's lines as bytes, none longer than ``MAX_LINE_BYTES`` (read no further than that), without
    a leading UTF-8 byte order mark (Excel writes one: it must not become part of the first column's name)."""
    with path.open("rb") as handle:
        number = 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise SuiteError(f"line is longer than {MAX_LINE_BYTES:,} bytes (the limit for one case)",
                                 Location(display, number))
            yield raw


def count_cases(path: Path, display: str) -> int:
    """How many cases a JSONL file holds (its non-blank lines), without parsing them."""
    return sum(1 for raw in _raw_lines(path, display) if raw.strip())


def file_format(spec: FileCases, path: Path) -> str:
    return spec.format or ("csv" if path.suffix.lower() in {".csv", ".tsv"} else "jsonl")


def _decoded_lines(path: Path, display: str) -> Iterator[str]:
    """The file's lines as text, a decoding problem located by line and column."""
    for number, raw in enumerate(_raw_lines(path, display), start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            message, where = not_utf8(raw, exc.start, display)
            raise SuiteError(message, Location(display, number, where.column)) from None


def _csv_cases(spec: FileCases, lines: Iterator[str], display: str, tsv: bool) -> Iterator[Case]:
    reader = csv.reader(lines, dialect="excel-tab" if tsv else "excel", strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        for column, name in enumerate(header):
            if name in header[:column]:
                raise SuiteError(f"column {name!r} appears twice in the header", Location(display, 1, None, name))
        for row in reader:
            where = Location(display, reader.line_num)
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SuiteError(f"row has {len(row)} fields, the header has {len(header)}",
                                 Location(display, reader.line_num, None, "row"))
            yield _make_case(_apply_mapping(_nest_dotted(dict(zip(header, row, strict=True))), spec.fields, where),
                             where)
    except csv.Error as exc:
        raise SuiteError(f"invalid CSV: {exc}", Location(display, reader.line_num, None, "row")) from None


def _jsonl_cases(spec: FileCases, lines: Iterator[str], display: str) -> Iterator[Case]:
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        where = Location(display, number)
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"invalid JSON: {exc.msg}", Location(display, number, exc.colno)) from None
        except RecursionError:
            raise SuiteError("invalid JSON: nested too deeply", Location(display, number)) from None
        if not isinstance(row, dict):
            raise SuiteError(f"each line must be a JSON object (got {type(row).__name__})", where)
        yield _make_case(_apply_mapping(row, spec.fields, where), where)


def iter_file_cases(spec: FileCases, path: Path, display: str, where: Location | None = None) -> Iterator[Case]:
    """Cases from a JSONL or CSV file, streamed. ``where`` locates ``cases.file`` in the suite (for a
    missing or empty file); problems inside the file are located by its own line numbers."""
    fmt = file_format(spec, path)
    suite_where = where or Location(display)
    if not path.is_file():
        raise SuiteError(f"data file not found: {display}", suite_where)
    lines = _decoded_lines(path, display)
    if fmt == "csv":
        cases = _csv_cases(spec, lines, display, path.suffix.lower() == ".tsv")
    else:
        cases = _jsonl_cases(spec, lines, display)
    count = 0
    for case in cases:
        yield case
        count += 1
        if spec.limit and count >= spec.limit:
            return
    if count == 0:
        raise SuiteError(f"data file {display} has no cases", suite_where)


def iter_dataset_cases(spec: DatasetCases, suite_dir: Path, where: Location, allow_outside: bool) -> Iterator[Case]:
    try:
        import datasets  # heavy: imported only for suites that use it
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise SuiteError(f"the 'datasets' package cannot be imported: {exc}", where) from None
    ds = spec.dataset
    path: str = ds.path
    local = suite_dir / ds.path
    if local.exists():
        path = str(resolve_data_path(suite_dir, ds.path, where, allow_outside))
    data_files = ds.data_files
    if isinstance(data_files, str):
        data_files = str(resolve_data_path(suite_dir, data_files, where, allow_outside))
    elif isinstance(data_files, list):
        data_files = [str(resolve_data_path(suite_dir, f, where, allow_outside)) for f in data_files]
    elif isinstance(data_files, dict):
        data_files = {
            k: (
                str(resolve_data_path(suite_dir, v, where, allow_outside))
                if isinstance(v, str)
                else [str(resolve_data_path(suite_dir, f, where, allow_outside)) for f in v]
            )
            for k, v in data_files.items()
        }
    try:
        saved = ("dataset_info.json", "state.json", "dataset_dict.json")
        if local.is_dir() and any((local / n).exists() for n in saved):
            loaded: Any = datasets.load_from_disk(path)
            if isinstance(loaded, datasets.DatasetDict):
                loaded = loaded[ds.split]
        else:
            loaded = datasets.load_dataset(
                path, ds.name, split=ds.split, data_files=data_files, revision=ds.revision
            )
    except Exception as exc:  # datasets raises many unrelated types; all mean "cannot load"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SuiteError(f"cannot load dataset {ds.path!r}: {first}", where) from None
    for index, row in enumerate(loaded):
        row_where = Location(where.file, where.line, where.column, f"cases.dataset[{index}]")
        yield _make_case(_apply_mapping(dict(row), spec.fields, row_where), row_where)
        if spec.limit and index + 1 >= spec.limit:
            return
