"""The run directory: who may write into it, and which of its lines a resume adopts.

* **Lock.** A run holds an exclusive ``flock`` on ``DIR/.evalkit.lock`` from before it reads anything in the
  directory until its manifest, summary and report are written. The kernel releases it when the process ends,
  however it ends (SIGKILL included), so a killed run never blocks its resume. A second run into the same
  directory stops at once (exit 2) naming the directory and the holder's pid; it has touched nothing. Every
  rewrite of ``results.jsonl`` (the resume's clean-up) happens under the lock.
* **Run key.** Every line carries ``run_key``, a hash of the suite file's hash, the model, the endpoint and the
  generation parameters. A resume adopts a line only when its key is this run's (a line without a key, written
  before keys existed, only when the manifest is there and matches) and its item id is one this run plans, so
  neither a lost ``manifest.json`` nor lines appended from another run can smuggle answers in.
* **Quarantine.** Lines that are damaged (not a result) or belong elsewhere are moved, byte for byte, to
  ``DIR/results.quarantine.jsonl`` (appended, never overwritten) and named in one message; failed items and
  superseded duplicates are dropped as before (they are retried / replaced).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from evalkit.errors import UsageError
from evalkit.results import MANIFEST, IdTally, ItemResult, RunManifest, read_manifest
from evalkit.results._store import create_new

LOCK = ".evalkit.lock"
QUARANTINE = "results.quarantine.jsonl"


def run_key(suite_sha256: str, model: str, endpoint: str, params: dict[str, Any]) -> str:
    """What every line of a run carries: the same for a resume of the run, different for any other."""
    material = json.dumps({"suite": suite_sha256, "model": model, "endpoint": endpoint.rstrip("/"), "params": params},
                          sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


class RunDirLock:
    """An exclusive lock on a run directory, held from ``acquire`` (or ``with``) to ``release``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        # Never truncated before it is ours (it holds the holder's pid); never followed if it is a symlink.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink planted in place of the lock file
                raise UsageError(f"{self.path}: the run directory's lock file is a symlink; remove it") from None
            raise  # permissions, read-only file system...: the CLI names the --out option and the remedy
        try:
            _lock(fd)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise UsageError(
                f"{self.run_dir} is in use by another evalkit run (pid {holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        # The file stays: deleting it would let a third process lock a new file while a second holds the old one.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


# --- resuming -------------------------------------------------------------------------------------------------

def check_resumable(run_dir: Path, new: RunManifest) -> RunManifest | None:
    """The manifest already in ``run_dir`` (None when there is none), after checking that this run may resume
    it: same suite file, model, endpoint and parameters, and the same selection of items."""
    if not (run_dir / MANIFEST).exists():
        return None
    old = read_manifest(run_dir)
    mismatches = []
    if old.suite.sha256 != new.suite.sha256:
        mismatches.append("suite file changed")
    if (old.model.name, old.model.base_url, old.model.params) != (new.model.name, new.model.base_url,
                                                                  new.model.params):
        mismatches.append("model, endpoint or parameters differ")
    if [r.plugin for r in old.scorers] != [r.plugin for r in new.scorers]:
        mismatches.append("a plugin scorer's code changed")  # one run, one version of each scorer
    if mismatches:
        raise UsageError(
            f"{run_dir} holds a run that cannot be resumed with these settings ({'; '.join(mismatches)}); "
            "choose a new --out directory"
        )
    was, now = _selection(old), _selection(new)
    if old.run_key is None:  # written before manifests recorded --limit: unplanned lines are quarantined instead
        was["--limit"] = now["--limit"]
    if was != now:
        differ = [name for name in now if was[name] != now[name]]
        raise UsageError(
            f"{run_dir} holds a run of another selection ({_options(was, differ)}; now {_options(now, differ)}); "
            "resume with the same options or choose a new --out directory"
        )
    return old


def _selection(m: RunManifest) -> dict[str, Any]:
    return {"--languages": sorted(m.languages), "--prompts": sorted(m.variants), "--limit": m.limit,
            "--repeat": m.repeats, "--shard": m.shard}


def _options(selection: dict[str, Any], names: list[str]) -> str:
    def show(value: Any) -> str:
        return "all" if value is None else ",".join(value) if isinstance(value, list) else str(value)

    return " ".join(f"{name} {show(selection[name])}" for name in names)


@dataclass
class Resumed:
    """What a resume found in ``results.jsonl``."""

    found: IdTally  # what results.jsonl held before anything was changed, counted as the gate and merge count it
    done: set[str] = field(default_factory=set)  # item ids with an adopted, successful line
    quarantined: int = 0
    note: str | None = None  # one line naming the quarantine file, when lines were moved there


_DAMAGED, _TORN = "damaged (not a result line)", "torn (a write cut short by a crash)"
_FOREIGN, _UNPLANNED = "of another run", "not in this run's plan"


def prepare_resume(path: Path, planned: Collection[str], key: str, vouched: bool) -> Resumed:
    """Make ``results.jsonl`` hold only lines this run adopts: valid results with this run's key (or no key when
    ``vouched``: the manifest matched) and a planned item id, each item once (the last line wins), failed items
    dropped (they are retried). Everything else, a torn last line included, is moved to the quarantine file.
    Must run under the lock.

    Every line is validated here, before any request is sent. The file is streamed twice, not held, and
    rewritten (atomically) only when something changes."""
    found = IdTally(planned, key)
    if not path.exists():
        return Resumed(found)
    keep: dict[str, int] = {}  # item id -> number of the line that is kept
    moved: dict[str, list[int]] = {}  # reason -> line numbers
    rewrite = False
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                rewrite = True
                continue
            reason, item_id, failed = _judge(found.take(raw), planned, key, vouched)
            if not raw.endswith(b"\n"):  # the last line, cut by a crash (or only its newline lost)
                rewrite = True
                reason = _TORN if reason == _DAMAGED else reason
            if reason is not None:
                moved.setdefault(reason, []).append(number)
                continue
            assert item_id is not None
            if item_id in keep or failed:
                rewrite = True
            if failed:
                keep.pop(item_id, None)
            else:
                keep[item_id] = number
    if rewrite or moved:
        _rewrite(path, set(keep.values()), {n for numbers in moved.values() for n in numbers})
    resumed = Resumed(found, done=set(keep), quarantined=sum(len(n) for n in moved.values()))
    if moved:
        resumed.note = _note(path, moved)
    return resumed


def _judge(result: ItemResult | None, planned: Collection[str], key: str,
           vouched: bool) -> tuple[str | None, str | None, bool]:
    """(why the line is quarantined or None, its item id, whether the item failed); ``result`` None: damaged."""
    if result is None:
        return _DAMAGED, None, False
    if result.run_key != key and not (result.run_key is None and vouched):
        return _FOREIGN, result.item_id, False
    if result.item_id not in planned:
        return _UNPLANNED, result.item_id, False
    return None, result.item_id, result.error is not None


def _rewrite(path: Path, kept: set[int], moved: set[int]) -> None:
    """Quarantine first (appended and synced), then replace the results file with the kept lines: a crash in
    between leaves a line in both files, never in neither."""
    tmp = path.with_name(path.name + ".tmp")
    with ExitStack() as stack:
        handle = stack.enter_context(path.open("rb"))
        out = stack.enter_context(create_new(tmp))
        side = stack.enter_context(_append_only(path.with_name(QUARANTINE))) if moved else None
        for number, raw in enumerate(handle, start=1):
            line = raw if raw.endswith(b"\n") else raw + b"\n"
            if number in kept:
                out.write(line)
            elif side is not None and number in moved:
                side.write(line)
        for f in (side, out):
            if f is not None:
                f.flush()
                os.fsync(f.fileno())
    os.replace(tmp, path)


def _append_only(path: Path) -> BinaryIO:
    """``path`` opened for appending; refused (``UsageError``) when it is a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the quarantine file ({exc.strerror})") from None
    return os.fdopen(fd, "ab")


def _note(path: Path, moved: dict[str, list[int]]) -> str:
    total = sum(len(n) for n in moved.values())
    parts = []
    for reason, numbers in moved.items():
        shown = ", ".join(map(str, numbers[:5])) + (", ..." if len(numbers) > 5 else "")
        parts.append(f"{len(numbers)} {reason}: line{'s' if len(numbers) > 1 else ''} {shown}")
    lines = "line" if total == 1 else "lines"
    return (f"{path}: {total} {lines} moved to {path.with_name(QUARANTINE)} and not counted "
            f"({'; '.join(parts)})")
