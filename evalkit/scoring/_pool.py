"""Score finished items, in the runner's process or in a worker process.

Scoring is CPU-bound (TER's shift search takes up to milliseconds per segment, BLEU and chrF
n-grams are cheap only when counted in batches, language identification loads ~0.5 GB of models on
first use). In a worker process it runs on
another core while the event loop keeps requests flowing; a small run scores in-process to avoid
the worker's start-up cost.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evalkit.scoring._base import Scorer
from evalkit.scoring._custom import CustomAdapter
from evalkit.scoring._plugins import load_plugins, loaded_plugins

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# (label, scorer name, options): everything needed to rebuild a scorer in another process.
ScorerDef = tuple[str, str, dict[str, Any]]


@dataclass
class ScoredItem:
    scores: dict[str, float | None] = field(default_factory=dict)
    stats: dict[str, list[float]] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None  # a custom scorer failed on this item: "scorer 'name': what happened"


# Key of ``ScoredItem.details`` under which the runner is handed a custom scorer's failure (no label can be it).
SCORER_ERROR = "\0scorer_error"

# (target language, output, references, case fields custom scorers declared): one segment to score.
Segment = tuple[str, str, tuple[str, ...], dict[str, Any]]


def _fields(segment: Segment) -> dict[str, Any]:
    return segment[3] if len(segment) > 3 else {}  # (language, output, references) from older callers


class _Book:
    def __init__(self, defs: Sequence[ScorerDef]) -> None:
        self.defs = list(defs)
        self._cache: dict[tuple[str, str], Scorer] = {}

    def _scorer(self, label: str, name: str, options: dict[str, Any], target_language: str) -> Scorer:
        from evalkit.scoring import build_scorer

        scorer = self._cache.get((label, target_language))
        if scorer is None:
            scorer = self._cache[(label, target_language)] = build_scorer(name, options, target_language)
        return scorer

    def score(self, target_language: str, text: str, references: Sequence[str],
              fields: dict[str, Any] | None = None) -> ScoredItem:
        return self.score_many([(target_language, text, tuple(references), fields or {})])[0]

    def score_many(self, segments: Sequence[Segment]) -> list[ScoredItem]:
        """Each segment scored as ``score`` would; a scorer sees all segments of a language at once."""
        out = [ScoredItem() for _ in segments]
        by_language: dict[str, list[int]] = {}
        for i, (language, *_) in enumerate(segments):
            by_language.setdefault(language, []).append(i)
        for label, name, options in self.defs:
            for language, indices in by_language.items():
                scorer = self._scorer(label, name, options, language)
                todo = [i for i in indices if segments[i][2] or not scorer.needs_references]
                if not todo:
                    continue
                if isinstance(scorer, CustomAdapter):
                    scores = [scorer.score_item(segments[i][1], segments[i][2], _fields(segments[i])) for i in todo]
                else:
                    scores = scorer.score_many([segments[i][1] for i in todo], [segments[i][2] for i in todo])
                for i, s in zip(todo, scores, strict=True):
                    if s.error is not None:
                        out[i].error = out[i].error or s.error
                        continue
                    out[i].scores[label] = s.value
                    if s.stats is not None:
                        out[i].stats[label] = s.stats
                    if s.details:
                        out[i].details[label] = s.details
        return out


def _needs_langid(defs: Sequence[ScorerDef]) -> bool:
    return any(name == "language" for _, name, _ in defs)


def _warm_up() -> None:
    from evalkit.langid import warm_up

    warm_up()


_worker_book: _Book | None = None


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """A worker whose runner was killed (SIGKILL) is re-parented: it must not linger holding the
    runner's stdout/stderr open (multiprocessing's queues never signal EOF to it)."""
    import time

    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(0)


def _init_worker(defs: list[ScorerDef], parent: int, plugins: Sequence[str] = ()) -> None:
    global _worker_book
    threading.Thread(target=_exit_with_parent, args=(parent,), name="evalkit-parent-watch", daemon=True).start()
    load_plugins(plugins)  # the runner's --plugin modules: the worker rebuilds their scorers
    _worker_book = _Book(defs)
    if _needs_langid(defs):
        _warm_up()


def _score_in_worker(segments: list[Segment]) -> list[ScoredItem]:
    assert _worker_book is not None
    return _worker_book.score_many(segments)


class ItemScorer:
    """Scores item outputs; ``workers=0`` scores in this process.

    Items are scored in batches: whatever arrived while a worker (or, in-process, the previous
    batch) was busy is scored together when it is free, so the pipe and the n-gram counting are
    paid per batch, not per item (the batch is as small as one item when scoring keeps up).
    """

    def __init__(self, defs: Sequence[ScorerDef], workers: int = 0, max_batch: int = 256) -> None:
        self._book = _Book(defs)
        self._defs = list(defs)
        self._plugins = loaded_plugins()
        self._workers = workers
        self._max_batch = max_batch
        self._pool: ProcessPoolExecutor | None = None
        self._queue: list[tuple[Segment, asyncio.Future[ScoredItem]]] = []
        self._batches: set[asyncio.Task[None]] = set()
        if workers == 0 and _needs_langid(defs):
            # Load the language models in the background while the first requests are in flight.
            threading.Thread(target=_warm_up, name="evalkit-langid-warm-up", daemon=True).start()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        # Started on the first item that needs scoring: a fully cached re-run never pays for it.
        if self._pool is None:
            # "spawn": the runner's process has threads (the event loop's executor, llama.cpp),
            # which fork would copy in an undefined state.
            import multiprocessing  # with the pool: a run that scores in-process never loads it
            from concurrent.futures import ProcessPoolExecutor

            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self._workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(self._defs, os.getpid(), self._plugins))
        return self._pool

    @property
    def pooled(self) -> bool:
        return self._workers > 0

    def score(self, target_language: str, text: str, references: Sequence[str],
              fields: dict[str, Any] | None = None) -> ScoredItem:
        return self._book.score(target_language, text, references, fields)

    def score_many(self, segments: Sequence[Segment]) -> list[ScoredItem]:
        """Score a batch now. With workers, a large batch is cut into chunks that the workers take
        from the front while this process, which would otherwise wait, scores from the back."""
        if not self.pooled or len(segments) < 2 * self._max_batch:
            return self._book.score_many(segments)
        size = max(self._max_batch, -(-len(segments) // (4 * (self._workers + 1))))
        chunks = [list(segments[i:i + size]) for i in range(0, len(segments), size)]
        done: list[list[ScoredItem] | None] = [None] * len(chunks)
        todo = deque(range(len(chunks)))
        running: dict[Future[list[ScoredItem]], int] = {}
        try:
            pool = self._ensure_pool()
            while todo or running:
                while todo and len(running) < self._workers:
                    k = todo.popleft()
                    running[pool.submit(_score_in_worker, chunks[k])] = k
                if todo:
                    k = todo.pop()
                    done[k] = self._book.score_many(chunks[k])
                else:
                    wait(running, return_when=FIRST_COMPLETED)
                for future in [f for f in running if f.done()]:
                    done[running.pop(future)] = future.result()
        except BrokenExecutor:  # BrokenProcessPool: score what is left here
            self.close(wait=False)
            self._workers = 0
            for k, chunk in enumerate(chunks):
                if done[k] is None:
                    done[k] = self._book.score_many(chunk)
        return [item for chunk_scores in done for item in chunk_scores or ()]

    async def ascore(self, target_language: str, text: str, references: Sequence[str],
                     fields: dict[str, Any] | None = None) -> ScoredItem:
        # In-process too, items that finish together are scored as one batch (vectorised n-grams).
        future: asyncio.Future[ScoredItem] = asyncio.get_running_loop().create_future()
        self._queue.append(((target_language, text, tuple(references), fields or {}), future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._queue and len(self._batches) < max(self._workers, 1):
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
            task = asyncio.get_running_loop().create_task(self._score_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        if self._queue:
            self._dispatch()

    async def _score_batch(self, batch: list[tuple[Segment, asyncio.Future[ScoredItem]]]) -> None:
        segments = [segment for segment, _ in batch]
        try:
            results = await self._score_segments(segments)
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every item of the batch gets the error (the runner reports it)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _score_segments(self, segments: list[Segment]) -> list[ScoredItem]:
        if not self.pooled:
            return self._book.score_many(segments)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._ensure_pool(), _score_in_worker, segments)
        except BrokenExecutor:  # BrokenProcessPool
            # The worker could not start or died (e.g. a script without an ``if __name__ ==
            # "__main__"`` guard re-ran itself under "spawn"): score here for the rest of the run.
            self.close(wait=False)
            self._workers = 0
            return self._book.score_many(segments)

    def close(self, wait: bool = True) -> None:
        for _, future in self._queue:
            if not future.done():
                future.cancel()
        self._queue = []
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=wait, cancel_futures=True)


# Scorers whose per-item cost (milliseconds) repays sending items to another process.
EXPENSIVE = frozenset({"bleu", "chrf", "ter", "language"})


def default_workers(pending_items: int, defs: Sequence[ScorerDef] = (), threshold: int = 300) -> int:
    """One scoring process per spare core, for runs big enough to repay its start-up (~1 s) whose
    scorers are expensive (exact match and regex cost microseconds: the pipe would cost more)."""
    override = os.environ.get("EVALKIT_SCORING_WORKERS")
    if override is not None and override.strip().isdigit():
        return int(override)
    cores = os.cpu_count() or 1
    if cores < 2 or pending_items < threshold or not any(name in EXPENSIVE for _, name, _ in defs):
        return 0
    return min(cores - 1, 4)
