"""``results.jsonl``: appended and flushed item by item; torn last lines are detected and repaired."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from evalkit.errors import ResultsError
from evalkit.results._models import ItemResult, RunManifest, Summary

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"

M = TypeVar("M", bound=BaseModel)


def write_json_atomic(path: Path, model: BaseModel) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(model.model_dump_json(indent=2) + "\n", encoding="utf-8")
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


def repair_torn_tail(path: Path) -> int:
    """Cut a last line that was not completely written (no newline, or not JSON). Returns bytes removed."""
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        # Find the start of the last line.
        block = min(size, 1 << 20)
        handle.seek(size - block)
        tail = handle.read(block)
        if tail.endswith(b"\n"):
            last_start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
            try:
                json.loads(tail[last_start:])
                return 0
            except ValueError:
                cut = size - block + last_start
        else:
            cut = size - block + tail.rfind(b"\n") + 1
        handle.truncate(cut)
        return size - cut


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


def compact_for_resume(path: Path) -> set[str]:
    """Prepare a results file for resuming: repair the tail, drop failed items (they are retried)
    and duplicates. Returns the ids that are done. Rewrites atomically only when needed."""
    if not path.exists():
        return set()
    repair_torn_tail(path)
    keep: dict[str, bytes] = {}
    dropped = False
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                dropped = True
                continue
            try:
                head = json.loads(raw)
                item_id = head["item_id"]
            except (ValueError, KeyError, TypeError):
                raise ResultsError(f"{path}:{number}: not a results line; move the file away to start over") from None
            if item_id in keep:
                dropped = True
            if head.get("error") is not None:
                dropped = True
                keep.pop(item_id, None)
                continue
            keep[item_id] = raw if raw.endswith(b"\n") else raw + b"\n"
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as out:
            out.writelines(keep.values())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    return set(keep)


class ResultsWriter:
    """Appends one JSON line per item and flushes it, so a crash loses at most the line in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        repair_torn_tail(path)
        self._handle = path.open("a", encoding="utf-8")

    def write(self, result: ItemResult) -> None:
        self._handle.write(result.model_dump_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
