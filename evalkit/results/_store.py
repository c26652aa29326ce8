"""``results.jsonl``: appended and flushed item by item; torn last lines are detected and repaired."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

from evalkit.errors import ResultsError
from evalkit.results._models import ItemResult, RunManifest, Summary

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"

M = TypeVar("M", bound=BaseModel)


def create_new(path: Path) -> BinaryIO:
    """``path`` created afresh for writing: whatever was there (a stale temporary file, or a symlink planted to
    make the write land elsewhere) is removed first, and the new file is never a followed link."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    return os.fdopen(fd, "wb")


def write_json_atomic(path: Path, model: BaseModel) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with create_new(tmp) as handle:
        handle.write((model.model_dump_json(indent=2) + "\n").encode())
    os.replace(tmp, path)


def read_manifest(run_dir: Path) -> RunManifest:
    return _read_model(run_dir / MANIFEST, RunManifest)


def read_summary(run_dir: Path) -> Summary:
    return _read_model(run_dir / SUMMARY, Summary)


def _read_model(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ResultsError(f"{path}: not found (is this an evalkit run directory?)") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        raise ResultsError(f"{path}: {where}: {err['msg']}") from None


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


def _last_line_start(handle: BinaryIO, size: int) -> int:
    """Offset where the last line starts (its own final newline excluded from the search)."""
    end = size - 1  # the byte at size-1 may be the last line's newline
    chunk = 1 << 16
    while end > 0:
        begin = max(0, end - chunk)
        handle.seek(begin)
        block = handle.read(end - begin)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return begin + cut + 1
        end = begin
    return 0


def repair_torn_tail(path: Path) -> int:
    """Cut a last line that was not completely written (no newline, or not JSON). Returns bytes removed.
    Complete lines before it are never touched, however long they are."""
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        start = _last_line_start(handle, size)
        handle.seek(start)
        last = handle.read(size - start)
        if last.endswith(b"\n") and _is_json(last):
            return 0
        handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())
        return size - start


def iter_results(path: Path, *, strict: bool = True) -> Iterator[ItemResult]:
    """Read every line. A bad line raises ``ResultsError`` naming it (the torn last line is skipped)."""
    if not path.exists():
        raise ResultsError(f"{path}: not found")
    with path.open("rb") as handle:
        lines = iter(handle)
        number = 0
        for raw in lines:
            number += 1
            if not raw.strip():
                continue
            try:
                yield ItemResult.model_validate_json(raw)
            except ValidationError as exc:
                if not raw.endswith(b"\n"):
                    return  # torn last line: an interrupted write
                if strict:
                    err = exc.errors()[0]
                    field = ".".join(str(p) for p in err["loc"]) or "(line)"
                    raise ResultsError(f"{path}:{number}: {field}: {err['msg']}") from None


def latest_by_item(path: Path) -> dict[str, ItemResult]:
    """The last line for every item id (a retried item appears once in the answer)."""
    out: dict[str, ItemResult] = {}
    for result in iter_results(path):
        out[result.item_id] = result
    return out


class ResultsWriter:
    """Appends one JSON line per item and flushes it, so a crash loses at most the line in flight
    (``flush_each=False``: buffered, for a file that is only a result once it is closed, as a merge's)."""

    def __init__(self, path: Path, *, flush_each: bool = True) -> None:
        self.path = path
        self.flush_each = flush_each
        repair_torn_tail(path)
        self._handle = path.open("a", encoding="utf-8")

    def write(self, result: ItemResult) -> None:
        self._handle.write(result.model_dump_json() + "\n")
        if self.flush_each:
            self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
