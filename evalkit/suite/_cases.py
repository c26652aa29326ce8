"""Case sources: inline YAML lists, JSONL and CSV files, and Hugging Face ``datasets``."""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
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
        except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits())
            raise _long_integer(text, where) from None
        if not isinstance(row, dict):
            raise SuiteError(f"each line must be a JSON object (got {type(row).__name__})", where)
        if "\\u" in text:  # only a \u escape makes half a surrogate pair: the line itself was valid UTF-8
            _check_text(row, where, ())
        yield _make_case(_apply_mapping(row, spec.fields, where), where)


class _LongInteger(str):
    """A JSON integer kept as its digits (to find the field of one too long to convert)."""


def _field_name(path: tuple[str | int, ...]) -> str:
    name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return name.encode("utf-8", "backslashreplace").decode("utf-8") or "(line)"


def _find(value: Any, found: Callable[[Any], bool], path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The path of the first value (or object key) in a parsed JSON value for which ``found`` holds."""
    if isinstance(value, dict):
        for key, item in value.items():
            if found(key):
                return (*path, key)
            hit = _find(item, found, (*path, key))
            if hit is not None:
                return hit
    elif isinstance(value, list):
        for index, item in enumerate(value):
            hit = _find(item, found, (*path, index))
            if hit is not None:
                return hit
    elif found(value):
        return path
    return None


def _long_integer(text: str, where: Location) -> SuiteError:
    limit = sys.get_int_max_str_digits()
    try:
        row = json.loads(text, parse_int=_LongInteger)
    except (ValueError, RecursionError):
        row = None
    path = _find(row, lambda v: isinstance(v, _LongInteger) and len(v.lstrip("-")) > limit, ())
    return SuiteError(f"a number has more than {limit} digits; write it as a string (in quotes)",
                      Location(where.file, where.line, None, _field_name(path) if path else None))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(row: dict[str, Any], where: Location, path: tuple[str | int, ...]) -> None:
    """A \\u escape may make half a surrogate pair (``"\\ud800"``): JSON allows it, but it is not text, and every
    later step (ids, cache keys, requests, results) would fail on it."""
    bad = _find(row, lambda v: isinstance(v, str) and _SURROGATE.search(v) is not None, path)
    if bad is not None:
        raise SuiteError("a \\u escape makes half a surrogate pair (not valid text); write the character itself, or "
                         "both halves of the pair",
                         Location(where.file, where.line, None, _field_name(bad)))


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


# ``datasets`` builders a suite may name (with ``data_files`` next to it). Not ``pandas``, which
# unpickles its files (runs code), nor ``sql``, ``cache`` and the like.
DATASET_BUILDERS = ("json", "csv", "parquet", "text", "arrow")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def dataset_source(name: str, suite_dir: Path, where: Location, allow_outside: bool) -> Path | None:
    """Where ``cases.dataset.path`` is read from: a folder next to the suite (its resolved path), or
    ``None`` for a builder name or a Hugging Face hub id (``owner/name``, fetched over the network).
    Anything else is refused: ``datasets`` would resolve it against the current directory."""
    if (suite_dir / name).exists() or name.startswith((".", "/", "~", "\\")) or ".." in Path(name).parts:
        candidate = resolve_data_path(suite_dir, name, where, allow_outside)
        if not candidate.exists():
            raise SuiteError(f"dataset folder not found: {name!r} (relative to the suite's folder)", where)
        return candidate
    if name in DATASET_BUILDERS:
        return None
    if _HUB_ID.fullmatch(name) and ".." not in name:
        if Path(name).exists():  # datasets would read this folder of the current directory, not the hub
            raise SuiteError(
                f"dataset {name!r} looks like a hub id but is a path in the current directory, which datasets "
                "would read instead; run evalkit from another directory or move the data next to the suite",
                where,
            )
        return None
    raise SuiteError(
        f"dataset {name!r} is neither a folder next to the suite, a builder ({', '.join(DATASET_BUILDERS)}) "
        "with data_files, nor a Hugging Face hub id (owner/name)",
        where,
    )


_SAVED = ("dataset_info.json", "state.json", "dataset_dict.json")  # a ``save_to_disk`` folder


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _check_inside(path: Path, suite_dir: Path, where: Location, what: str) -> None:
    if not _inside(path, suite_dir):
        raise SuiteError(f"{what} leaves the suite's folder; pass --allow-outside-paths to allow it", where)


def _config_paths(value: Any) -> Iterator[str]:
    """Every string in a dataset card's ``configs`` (``data_files`` patterns among them)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _config_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _config_paths(item)


def _card_configs(folder: Path) -> Any:
    """The ``configs`` of the folder's dataset card (``README.md`` front matter, ``.huggingface.yaml``)."""
    import yaml

    found: list[Any] = []
    for name in ("README.md", ".huggingface.yaml"):
        path = folder / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if name == "README.md":
            if not text.startswith("---"):
                continue
            text = text[3:].split("\n---", 1)[0]
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # datasets refuses it too
        if isinstance(data, dict) and "configs" in data:
            found.append(data["configs"])
    return found


def check_dataset_folder(folder: Path, suite_dir: Path, where: Location, allow_outside: bool) -> None:
    """A dataset folder next to the suite reads nothing outside the suite's folder.

    ``datasets`` follows what the folder says: a symlink, ``data_files`` in its dataset card
    (``README.md`` ``configs:``) that climb out with ``..`` or are absolute, a ``state.json`` naming
    ``../x.arrow``. Each of these is refused unless the user allowed paths outside."""
    if allow_outside:
        return
    for entry in folder.rglob("*"):
        _check_inside(entry, suite_dir, where, f"dataset file {str(entry.relative_to(folder))!r}")
    for state in folder.rglob("state.json"):  # save_to_disk: the arrow files it lists
        try:
            names = [str(f["filename"]) for f in json.loads(state.read_text(encoding="utf-8"))["_data_files"]]
        except (OSError, ValueError, TypeError, KeyError):
            continue  # datasets reports a broken state.json itself
        for name in names:
            _check_inside(state.parent / name, suite_dir, where, f"dataset file {name!r} listed in state.json")
    for configs in _card_configs(folder):
        for pattern in _config_paths(configs):
            parts = pattern.replace("\\", "/").split("/")
            if pattern.startswith(("/", "~")) or ".." in parts or "://" in pattern:
                raise SuiteError(f"the dataset card of {folder.name!r} names data files {pattern!r} outside the "
                                 "folder; pass --allow-outside-paths to allow it", where)


def iter_dataset_cases(spec: DatasetCases, suite_dir: Path, where: Location, allow_outside: bool) -> Iterator[Case]:
    try:
        import datasets  # heavy: imported only for suites that use it
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise SuiteError(f"the 'datasets' package cannot be imported: {exc}", where) from None
    ds = spec.dataset
    local = dataset_source(ds.path, suite_dir, where, allow_outside)
    path = str(local) if local is not None else ds.path
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
    if local is not None and local.is_dir():
        check_dataset_folder(local, suite_dir, where, allow_outside)
    if not allow_outside:  # a pattern (data/*.jsonl) must not match a symlink that leads outside
        for pattern in _config_paths(data_files):
            if any(c in pattern for c in "*?["):
                for match in glob.glob(pattern, recursive=True):
                    _check_inside(Path(match), suite_dir, where, f"data file {match!r}")
    try:
        if local is not None and local.is_dir() and any((local / n).exists() for n in _SAVED):
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
