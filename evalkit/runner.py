"""Run a suite: plan items, query the provider with bounded concurrency, score, append results.

The runner is resumable: items already in ``results.jsonl`` are kept and skipped; failed items
are retried. Nothing already written is ever lost: an abort (auth refused, too many errors) or an
interruption stops new requests, lets the ones in flight finish, and writes the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.cache import ResponseCache, default_cache_path, response_keys, score_key, score_keys
from evalkit.errors import AuthError, ProviderError, SuiteError, TooManyErrors, UsageError
from evalkit.items import Item, Planner, Selection
from evalkit.providers import AdaptiveLimiter, Completion, Provider, Request, RetryPolicy, make_provider
from evalkit.results import (
    MANIFEST,
    RESULTS,
    SUMMARY,
    Counts,
    ErrorInfo,
    ItemResult,
    ModelRecord,
    ResultsWriter,
    RunManifest,
    ScorerRecord,
    SuiteRecord,
    UsageInfo,
    compact_for_resume,
    iter_results,
    read_manifest,
    sacrebleu_version,
    scorer_record,
    summarize_run,
    write_json_atomic,
)
from evalkit.scoring._pool import SCORER_ERROR, ItemScorer, default_workers
from evalkit.suite import LoadedSuite, ModelSpec
from evalkit.validate import check_static

MIN_ITEMS_BEFORE_ABORT = 10
KEEP_RENDERED_ITEMS = 20_000
HIT_BATCH = 256  # items looked up in the cache together; their cache hits are written without a request


class _Unfinished(Exception):
    """A stop was requested before this item got an answer: it is left for the resume."""


@dataclass(frozen=True)
class _Todo:
    """An item for the request path: its cache key and, when only its scores are missing, its cached response."""

    item: Item
    key: str
    completion: Completion | None = None


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@dataclass
class RunOptions:
    out_dir: Path
    selection: Selection = field(default_factory=Selection)
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = None
    use_cache: bool = True
    cache_path: Path | None = None
    max_error_rate: float | None = None
    max_attempts: int | None = None
    timeout: float | None = None
    write_report: bool = True
    argv: list[str] = field(default_factory=list)
    progress: Callable[[int, int, Counter[str]], None] | None = None


@dataclass
class RunOutcome:
    out_dir: Path
    manifest: RunManifest
    interrupted: bool = False


def effective_model(spec: ModelSpec, options: RunOptions) -> ModelSpec:
    updates: dict[str, object] = {}
    if options.model:
        updates["name"] = options.model
        updates["provider"] = None
    if options.base_url:
        updates["base_url"] = options.base_url
    if options.api_key_env:
        updates["api_key_env"] = options.api_key_env
    if options.concurrency:
        updates["concurrency"] = options.concurrency
    if options.max_error_rate is not None:
        updates["max_error_rate"] = options.max_error_rate
    if options.max_attempts is not None:
        updates["max_attempts"] = options.max_attempts
    if options.timeout is not None:
        updates["timeout"] = options.timeout
    return spec.model_copy(update=updates)


def scorer_records(suite: LoadedSuite) -> list[ScorerRecord]:
    records = [scorer_record(s.name, s.options, suite.spec.languages[0]) for s in suite.spec.scorers]
    labels = [r.label for r in records]
    dupes = {x for x in labels if labels.count(x) > 1}
    if dupes:
        raise SuiteError(f"two scorers are named {sorted(dupes)[0]!r}; give one a different 'label' option")
    return records


def git_revision(path: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Run:
    """One execution of a suite into a run directory."""

    def __init__(self, suite: LoadedSuite, options: RunOptions) -> None:
        self.suite = suite
        self.options = options
        self.out = options.out_dir
        self.model = effective_model(suite.spec.model, options)
        errors = check_static(suite)
        if errors:
            raise errors[0]
        self.planner = Planner(suite, options.selection)
        self.records = scorer_records(suite)
        self.scorer_defs = [(r.label, r.name, r.options) for r in self.records]
        self.item_scorer: ItemScorer | None = None
        self._scoring_tasks: set[asyncio.Task[None]] = set()
        self._scoring_slots = asyncio.Semaphore(1024)  # items waiting to be scored, at most
        self.score_versions = f"evalkit {__version__}, sacrebleu {sacrebleu_version()}" + "".join(
            f", {r.plugin}" for r in self.records if r.plugin)  # a plugin's code: its edits change the key
        self.params = self.model.params.as_body()
        # What the manifest and the cache key call the endpoint ("local" for the embedded model).
        self.endpoint = self.model.base_url if self.model.resolved_provider == "openai" else "local"
        self.policy = RetryPolicy(max_attempts=self.model.max_attempts)
        self.counts: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self.abort: BaseException | None = None
        self.limiter: AdaptiveLimiter | None = None  # the run's concurrency limit (inspectable afterwards)
        self._written: RunManifest | None = None  # the manifest this run wrote when it started

    # --- manifest -------------------------------------------------------------------------
    def _new_manifest(self, planned: int) -> RunManifest:
        spec = self.suite.spec
        shard = self.options.selection.shard
        return RunManifest(
            evalkit_version=__version__,
            sacrebleu_version=sacrebleu_version(),
            python_version=platform.python_version(),
            git_revision=git_revision(self.suite.path.parent),
            suite=SuiteRecord(
                path=str(self.suite.path), name=spec.name, sha256=self.suite.sha256, description=spec.description
            ),
            model=ModelRecord(
                provider=self.model.resolved_provider,
                name=self.model.name,
                base_url=self.endpoint,
                api_key_env=self.model.api_key_env if self.model.resolved_provider == "openai" else None,
                params=self.params,
            ),
            languages=self.planner.languages,
            variants=self.planner.variants,
            repeats=self.planner.repeats,
            shard=f"{shard.index}/{shard.count}" if shard else None,
            scorers=self.records,
            started_at=_now(),
            counts=Counts(planned=planned),
            argv=self.options.argv,
        )

    def _check_resumable(self, planned_manifest: RunManifest) -> None:
        path = self.out / MANIFEST
        if not path.exists():
            return
        old = read_manifest(self.out)
        mismatches = []
        if old.suite.sha256 != planned_manifest.suite.sha256:
            mismatches.append("suite file changed")
        if (old.model.name, old.model.base_url, old.model.params) != (
            planned_manifest.model.name,
            planned_manifest.model.base_url,
            planned_manifest.model.params,
        ):
            mismatches.append("model, endpoint or parameters differ")
        if [r.plugin for r in old.scorers] != [r.plugin for r in planned_manifest.scorers]:
            mismatches.append("a plugin scorer's code changed")  # one run, one version of each scorer
        if mismatches:
            raise UsageError(
                f"{self.out} holds a run that cannot be resumed with these settings ({'; '.join(mismatches)}); "
                "choose a new --out directory"
            )

    # --- items ----------------------------------------------------------------------------
    def _pending(self, done: set[str], rendered: list[Item] | None = None) -> Iterator[Item]:
        for item in rendered if rendered is not None else self.planner.iter_items():
            if item.item_id not in done:
                yield item

    @cached_property
    def _response_key(self) -> Callable[[Any, int], str]:
        """``cache_key`` for this run's endpoint, model and parameters."""
        return response_keys(self.endpoint, self.model.name, self.params)

    @cached_property
    def _score_key(self) -> Callable[[str, str, Any], str]:
        """``score_key`` for this run's versions and scorers."""
        return score_keys(self.score_versions, self.scorer_defs)

    def _serve(self, items: Iterator[Item], cache: ResponseCache | None,
               writer: ResultsWriter) -> Iterator[_Todo | None]:
        """The workers' queue. With a cache, items are looked up a batch at a time; those whose response and
        scores are both cached are written right here, without a request, a task or the limiter, and the rest
        are handed on. ``None`` after each batch lets the worker that asked yield to the event loop."""
        if cache is None:
            for item in items:
                yield _Todo(item, self._response_key(item.messages, item.repeat))
            return
        for batch in _batches(items, HIT_BATCH):
            yield from self._serve_batch(batch, cache, writer)
            yield None

    def _serve_batch(self, batch: list[Item], cache: ResponseCache, writer: ResultsWriter) -> Iterator[_Todo]:
        keys = [self._response_key(item.messages, item.repeat) for item in batch]
        responses = cache.get_many(keys)
        skeys = [
            self._score_key(item.target_language, responses[key].text, item.scored_inputs) if key in responses else None
            for item, key in zip(batch, keys, strict=True)
        ]
        scores = cache.get_scores_many(k for k in skeys if k is not None)
        for item, key, skey in zip(batch, keys, skeys, strict=True):
            completion = responses.get(key)
            hit = scores.get(skey) if skey is not None else None
            if completion is not None and hit is not None:
                self._write_hit(item, completion, hit, writer)
            else:
                yield _Todo(item, key, completion)

    def _write_hit(self, item: Item, completion: Completion, scores: dict[str, Any], writer: ResultsWriter) -> None:
        """An item answered and scored from the cache: its line, counted as ``_finish_item`` counts it."""
        result = self._answered(item, completion, None, 0, cached=True)
        result.scores, result.stats, result.details = scores["scores"], scores["stats"], scores["details"]
        writer.write(result)
        self.counts["done"] += 1
        self.counts["cached"] += 1
        if self.options.progress:
            self.options.progress(self.counts["done"], self.counts["todo"], self.counts)

    async def _request(self, provider: Provider, limiter: AdaptiveLimiter, item: Item) -> tuple[
        Completion | None, ProviderError | None, int
    ]:
        request = Request(item.messages, self.params)
        attempt = 0
        while True:
            attempt += 1
            await limiter.acquire()
            if self.stop.is_set():  # stopped while waiting for a slot: send nothing new
                await limiter.release()
                raise _Unfinished
            try:
                completion = await provider.complete(request)
            except ProviderError as exc:
                await limiter.release(rate_limited=exc.kind == "rate_limited")
                if isinstance(exc, AuthError):
                    raise
                delay = self.policy.delay(exc, attempt)
                if delay is None:
                    return None, exc, attempt
                if await self._stopped_within(delay):
                    raise _Unfinished from None
                continue
            await limiter.release()
            return completion, None, attempt

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds`` (a retry delay) unless a stop is requested first."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def _answered(self, item: Item, completion: Completion | None, error: ProviderError | None,
                  attempts: int, cached: bool) -> ItemResult:
        """An item's result line, all but its scores."""
        result = ItemResult(
            item_id=item.item_id,
            case_id=item.case_id,
            language=item.language,
            variant=item.variant,
            repeat=item.repeat,
            target_language=item.target_language,
            messages=list(item.messages),
            references=list(item.references),
            cached=cached,
            attempts=attempts,
        )
        if error is not None or completion is None:
            assert error is not None
            result.error = ErrorInfo(kind=error.kind, message=error.message, status=error.status, attempts=attempts)
            return result
        result.output = completion.text
        result.finish_reason = completion.finish_reason
        result.truncated = completion.finish_reason == "length"
        result.usage = UsageInfo(**completion.usage.__dict__)
        result.latency_ms = round(completion.latency_ms, 2)
        result.response_id = completion.response_id
        return result

    async def _result(self, item: Item, completion: Completion | None, error: ProviderError | None,
                      attempts: int, cached: bool, cache: ResponseCache | None) -> ItemResult:
        result = self._answered(item, completion, error, attempts, cached)
        if result.error is None and completion is not None:
            result.scores, result.stats, result.details = await self._scores(item, completion.text, cache)
            if (failed := result.details.pop(SCORER_ERROR, None)) is not None:  # a custom scorer raised
                result.error = ErrorInfo(kind="scorer_error", message=failed["message"], attempts=attempts)
        return result

    async def _scores(self, item: Item, text: str, cache: ResponseCache | None) -> tuple[
        dict[str, float | None], dict[str, list[float]], dict[str, dict[str, Any]]
    ]:
        assert self.item_scorer is not None
        key = None
        if cache is not None:
            key = score_key(self.score_versions, self.scorer_defs, item.target_language, text, item.scored_inputs)
            hit = cache.get_scores(key)
            if hit is not None:
                return hit["scores"], hit["stats"], hit["details"]
        scored = await self.item_scorer.ascore(item.target_language, text, item.references, item.fields)
        if scored.error is not None:  # never cached: a fixed plugin scores the item on the next run
            return scored.scores, scored.stats, {**scored.details, SCORER_ERROR: {"message": scored.error}}
        if cache is not None and key is not None:
            cache.put_scores(key, {"scores": scored.scores, "stats": scored.stats, "details": scored.details})
        return scored.scores, scored.stats, scored.details

    async def _worker(self, items: Iterator[_Todo | None], provider: Provider, limiter: AdaptiveLimiter,
                      cache: ResponseCache | None, writer: ResultsWriter) -> None:
        try:
            await self._work(items, provider, limiter, cache, writer)
        except Exception as exc:  # a bug: stop every worker, keep what was written, report it
            self._stop_with(exc)

    async def _work(self, items: Iterator[_Todo | None], provider: Provider, limiter: AdaptiveLimiter,
                    cache: ResponseCache | None, writer: ResultsWriter) -> None:
        while not self.stop.is_set():
            try:
                todo = next(items)
            except StopIteration:
                return
            if todo is None:  # a batch of cache hits was written: let signals and the other workers in
                await asyncio.sleep(0)
                continue
            item, key, completion = todo.item, todo.key, todo.completion
            if completion is None and cache is not None:
                completion = cache.get(key)  # the same request may have been answered since the batch look-up
            cached = completion is not None
            error: ProviderError | None = None
            attempts = 0
            if completion is None:
                try:
                    completion, error, attempts = await self._request(provider, limiter, item)
                except _Unfinished:
                    return
                except AuthError as exc:
                    # Every further request would be refused the same way: stop everything now.
                    self._stop_with(exc)
                    return
                if completion is not None and cache is not None:
                    cache.put(key, completion)
            finish = self._finish_item(item, completion, error, attempts, cached, cache, writer)
            if error is None and self.item_scorer is not None and self.item_scorer.pooled:
                # Scored in a worker process: hand the item over and send the next request now,
                # so scoring (and the worker's start-up) never holds up the requests.
                await self._scoring_slots.acquire()
                task = asyncio.create_task(finish)
                self._scoring_tasks.add(task)
                task.add_done_callback(self._scoring_done)
            else:
                await finish

    async def _finish_item(self, item: Item, completion: Completion | None, error: ProviderError | None,
                           attempts: int, cached: bool, cache: ResponseCache | None, writer: ResultsWriter) -> None:
        result = await self._result(item, completion, error, attempts, cached, cache)
        writer.write(result)
        self.counts["done"] += 1
        if cached:
            self.counts["cached"] += 1
        if result.error is not None:
            self.counts["failed"] += 1
            self.counts["error:" + result.error.kind] += 1
            self._check_error_rate()
        if self.options.progress:
            self.options.progress(self.counts["done"], self.counts["todo"], self.counts)

    def _scoring_done(self, task: asyncio.Task[None]) -> None:
        self._scoring_tasks.discard(task)
        self._scoring_slots.release()
        if not task.cancelled() and task.exception() is not None:
            self._stop_with(task.exception())  # type: ignore[arg-type]

    def _stop_with(self, reason: BaseException) -> None:
        if self.abort is None:
            self.abort = reason
        self.stop.set()

    def _check_error_rate(self) -> None:
        done, failed = self.counts["done"], self.counts["failed"]
        # A run smaller than the minimum is judged once all its items are done.
        enough = min(MIN_ITEMS_BEFORE_ABORT, max(1, self.counts["todo"]))
        if done >= enough and failed / done > self.model.max_error_rate and self.abort is None:
            kinds = ", ".join(
                f"{k.removeprefix('error:')} {v}" for k, v in sorted(self.counts.items()) if k.startswith("error:")
            )
            self._stop_with(TooManyErrors(
                f"{failed} of {done} items failed ({kinds}), more than the limit of "
                f"{self.model.max_error_rate:.0%}; stopped early (results so far are kept in {self.out})"
            ))

    async def execute(self) -> RunOutcome:
        try:
            return await self._execute()
        except BaseException as exc:
            self._settle(exc)
            raise

    def _settle(self, exc: BaseException) -> None:
        """A failure outside the abort path after this run wrote its manifest: record it (never left "running")."""
        if self._written is None:
            return
        with contextlib.suppress(Exception):  # the failure itself is what gets reported
            current = read_manifest(self.out)
            if current.status == "running" and current.started_at == self._written.started_at:
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "aborted"
                write_json_atomic(self.out / MANIFEST, current.model_copy(update={
                    "finished_at": _now(), "status": status, "abort_reason": f"{type(exc).__name__}: {exc}"}))

    async def _execute(self) -> RunOutcome:
        # One full planning pass renders every template before any request is sent (and before
        # the run directory exists, so a broken suite leaves nothing behind).
        planned_ids: set[str] = set()
        kept: list[Item] | None = []  # the rendered items, kept unless the run is large
        for item in self.planner.iter_items():
            planned_ids.add(item.item_id)
            if kept is not None:
                kept.append(item)
                if len(kept) > KEEP_RENDERED_ITEMS:
                    kept = None  # stream (render again) instead: memory stays flat for huge suites
        self.out.mkdir(parents=True, exist_ok=True)
        manifest = self._new_manifest(len(planned_ids))
        self._check_resumable(manifest)
        results_path = self.out / RESULTS
        done = compact_for_resume(results_path)
        self.counts["todo"] = len(planned_ids - done)
        # Before the manifest: a missing runtime or model file, or a cache that cannot be used, must not leave a run
        # behind (a manifest stuck at "running").
        cache = ResponseCache(self.options.cache_path or default_cache_path()) if self.options.use_cache else None
        provider = make_provider(self.model, concurrency=self.options.concurrency)
        write_json_atomic(self.out / MANIFEST, manifest)
        self._written = manifest
        cap = self.model.concurrency
        if provider.max_concurrency is not None:
            cap = min(cap, provider.max_concurrency)
        limiter = self.limiter = AdaptiveLimiter(cap)
        writer = ResultsWriter(results_path)
        items = self._serve(self._pending(done, kept), cache, writer)
        interrupted = False
        self.item_scorer = ItemScorer(self.scorer_defs, default_workers(self.counts["todo"], self.scorer_defs))
        try:
            workers = [
                asyncio.create_task(self._worker(items, provider, limiter, cache, writer)) for _ in range(cap)
            ]
            # The summary's libraries (numpy, statistics) load while the first answers are awaited.
            asyncio.get_running_loop().call_later(0.05, _preload_summary_libraries)
            results = await asyncio.gather(*workers, return_exceptions=True)
            # Items handed to the scoring worker are still being scored: wait for them (nothing is lost).
            while self._scoring_tasks:
                await asyncio.gather(*list(self._scoring_tasks), return_exceptions=True)
            # The worker process exits while the summary is computed.
            self.item_scorer.close(wait=False)
            for r in results:
                if isinstance(r, BaseException) and self.abort is None:
                    self.abort = r
            interrupted = self.stop.is_set() and self.abort is None
        finally:
            self.item_scorer.close()
            writer.close()
            if cache:
                cache.close()
            await provider.aclose()
        manifest = self._finish(manifest, interrupted)
        if self.abort is not None:
            raise self.abort
        return RunOutcome(self.out, manifest, interrupted)

    def _finish(self, manifest: RunManifest, interrupted: bool) -> RunManifest:
        status = "aborted" if self.abort is not None else ("interrupted" if interrupted else "complete")
        manifest = manifest.model_copy(
            update={
                "finished_at": _now(),
                "status": status,
                "abort_reason": str(self.abort) if self.abort is not None else None,
            }
        )
        manifest, summary = summarize_run(manifest, iter_results(self.out / RESULTS))
        write_json_atomic(self.out / MANIFEST, manifest)
        write_json_atomic(self.out / SUMMARY, summary)
        if self.options.write_report:
            write_default_report(self.out)
        return manifest


def _preload_summary_libraries() -> None:
    def load() -> None:
        import evalkit.stats  # noqa: F401  (numpy and the bootstrap, needed only by the summary)

    threading.Thread(target=load, name="evalkit-preload", daemon=True).start()


def write_default_report(run_dir: Path) -> Path | None:
    """``report.html`` next to the results (skipped quietly when the report module is unavailable)."""
    try:
        from evalkit.report import write_run_report
    except ImportError:
        return None
    return write_run_report(run_dir, run_dir / "report.html")


async def run_async(suite: LoadedSuite, options: RunOptions) -> RunOutcome:
    return await Run(suite, options).execute()


def run(suite: LoadedSuite, options: RunOptions, *, handle_signals: bool = True) -> RunOutcome:
    """Run synchronously. SIGINT/SIGTERM stop new requests and finish writing (a second one cancels)."""

    async def main() -> RunOutcome:
        the_run = Run(suite, options)
        # Signal handlers can only be installed from the main thread (not when embedded in a worker).
        if handle_signals and sys.platform != "win32" and threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, _on_signal, the_run)
        return await the_run.execute()

    # asyncio puts SIGTERM back to the default (killed, exit 143) when its loop closes: keep the caller's handlers.
    main_thread = threading.current_thread() is threading.main_thread()
    kept = [(sig, signal.getsignal(sig)) for sig in (signal.SIGINT, signal.SIGTERM)] if main_thread else []
    try:
        return asyncio.run(main())
    finally:
        for sig, handler in kept:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _on_signal(the_run: Run) -> None:
    if the_run.stop.is_set():
        os._exit(130)  # second signal: the user insists
    the_run.stop.set()
