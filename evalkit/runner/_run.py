"""One run, start to end: plan → (lock the directory, adopt what a resume may keep) → send → score → write.

Workers take items from the send stage's queue; each answer is scored and its line written as soon as it is
there. An abort (auth refused, too many errors) or an interruption stops new requests, lets the ones in flight
finish, and writes the manifest: nothing already written is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator

from evalkit.cache import ResponseCache, default_cache_path
from evalkit.config import apply_run_policy
from evalkit.errors import AuthError, ProviderError
from evalkit.items import Item, Planner, skipped_note
from evalkit.providers import AdaptiveLimiter, Completion, Provider, RetryPolicy, WaitWatch, make_provider
from evalkit.results import (
    MANIFEST,
    RESULTS,
    ResultsWriter,
    RunManifest,
    read_manifest,
    tally_for,
    write_json_atomic,
)
from evalkit.runner._judge import Judges
from evalkit.runner._plan import (
    Plan,
    RunOptions,
    RunOutcome,
    effective_model,
    endpoint_of,
    new_manifest,
    now,
    scorer_records,
)
from evalkit.runner._rundir import RunDirLock, check_resumable, prepare_resume, run_key
from evalkit.runner._score import ItemScoring
from evalkit.runner._send import Requests, Sender, Todo, Unfinished, serve
from evalkit.runner._write import Recorder, finish, preload_summary_libraries
from evalkit.suite import LoadedSuite
from evalkit.validate import check_static


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
        self.model = apply_run_policy(suite, options, self.model)  # who chose the endpoint, key and model path
        self.planner = Planner(suite, options.selection)
        self.records = scorer_records(suite)
        self.params = self.model.params.as_body()
        self.endpoint = endpoint_of(self.model)
        self.run_key = run_key(suite.sha256, self.model.name, self.endpoint, self.params)
        self.requests = Requests(self.endpoint, self.model.name, self.params)
        self.policy = RetryPolicy(max_attempts=self.model.max_attempts, max_retry_after=options.max_retry_wait
                                  if options.max_retry_wait is not None else RetryPolicy.max_retry_after)
        self.scoring = ItemScoring(self.records, self.run_key, Judges(suite, options, self.records, self.policy))
        self._scoring_tasks: set[asyncio.Task[None]] = set()
        self._scoring_slots = asyncio.Semaphore(1024)  # items waiting to be scored, at most
        self.counts: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self.abort: BaseException | None = None
        self.limiter: AdaptiveLimiter | None = None  # the run's concurrency limit (inspectable afterwards)
        self._written: RunManifest | None = None  # the manifest this run wrote when it started
        self._finished = False  # the final manifest is written

    async def execute(self) -> RunOutcome:
        plan = Plan.make(self.planner)  # every template rendered before anything is written
        skipped = skipped_note(self.planner.skipped_languages)  # long-format rows in other languages
        if skipped and self.options.notice:
            self.options.notice(skipped)
        self.out.mkdir(parents=True, exist_ok=True)
        with RunDirLock(self.out):
            try:
                return await self._execute_locked(plan)
            except BaseException as exc:
                self._settle(exc)
                raise

    def _settle(self, exc: BaseException) -> None:
        """A failure outside the abort path, or a second stop signal, after this run wrote its manifest: record it
        with the counts of what is on disk (never left "running"). The summary is not computed."""
        if self._written is None:
            return
        with contextlib.suppress(Exception):  # the failure itself is what gets reported
            current = read_manifest(self.out)
            if current.status == "running" and current.started_at == self._written.started_at:
                tally = tally_for(current)
                for _ in tally.read(self.out / RESULTS):
                    pass
                status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "aborted"
                write_json_atomic(self.out / MANIFEST, current.model_copy(update={
                    "finished_at": now(), "status": status, "abort_reason": f"{type(exc).__name__}: {exc}",
                    "counts": tally.counts(current.counts.quarantined)}))

    def quit_now(self) -> None:
        """A second stop signal: exit at once (130) without waiting for the requests in flight. Every line already
        written stays (each was flushed whole), and the manifest says ``interrupted`` with the counts on disk;
        after the final manifest is written the signal is ignored (the run is ending anyway)."""
        if self._finished:
            return
        self._settle(KeyboardInterrupt("stopped by a second signal, without waiting for the requests in flight"))
        with contextlib.suppress(Exception):
            sys.stderr.write("evalkit: interrupted again: stopped without waiting for the requests in flight; "
                             "run the same command again to resume\n")
            sys.stderr.flush()
        os._exit(130)

    async def _execute_locked(self, plan: Plan) -> RunOutcome:
        manifest = new_manifest(self.suite, self.model, self.planner, self.records, self.options, len(plan.ids),
                                self.run_key)
        manifest.planned_ids = sorted(plan.ids)
        old = check_resumable(self.out, manifest)
        resumed = prepare_resume(self.out / RESULTS, plan.ids, self.run_key, vouched=old is not None)
        found = resumed.found.problem() if resumed.found.done or resumed.found.damaged else None
        if found and self.options.notice:  # what the gate and merge would say of the file as it was
            self.options.notice(f"{self.out}: resuming, {found}")
        if resumed.note and self.options.notice:
            self.options.notice(resumed.note)
        manifest.counts.quarantined = resumed.quarantined
        self.counts["todo"] = len(plan.ids - resumed.done)
        # Before the manifest: a missing runtime or model file, or a cache that cannot be used, must not leave a run
        # behind (a manifest stuck at "running").
        cache = ResponseCache(self.options.cache_path or default_cache_path()) if self.options.use_cache else None
        try:
            provider = make_provider(self.model, concurrency=self.options.concurrency)
        except BaseException:
            if cache is not None:
                cache.close()
            raise
        write_json_atomic(self.out / MANIFEST, manifest)
        self._written = manifest
        interrupted = await self._send_all(plan.pending(self.planner, resumed.done), provider, cache)
        manifest, error = finish(self.out, manifest, plan.ids, self.abort, interrupted, self.options.write_report)
        self._finished = True
        if error is not None:
            raise error
        return RunOutcome(self.out, manifest, interrupted)

    async def _send_all(self, pending: Iterator[Item], provider: Provider, cache: ResponseCache | None) -> bool:
        """Every pending item answered, scored and written (or left for the resume when stopped). True when the
        run was interrupted."""
        cap = self.model.concurrency
        if provider.max_concurrency is not None:
            cap = min(cap, provider.max_concurrency)
        limiter = self.limiter = AdaptiveLimiter(cap)
        writer = ResultsWriter(self.out / RESULTS)
        recorder = Recorder(writer, self.counts, self.model.max_error_rate, self.out, self.options.progress,
                            self._stop_with)
        sender = Sender(provider, limiter, self.policy, self.requests, self.stop)

        def write_hit(item: Item, completion: Completion, scores: dict[str, object]) -> None:
            recorder.record(self.scoring.from_cache(item, completion, scores))

        queue = serve(pending, cache, self.requests, self.scoring.item_score_key, write_hit)
        item_scorer = self.scoring.start(self.counts["todo"])
        watcher = asyncio.create_task(WaitWatch(limiter, self.policy, self.model.timeout, self.options.on_wait).watch())
        try:
            workers = [asyncio.create_task(self._worker(queue, sender, cache, recorder)) for _ in range(cap)]
            # The summary's libraries (numpy, statistics) load while the first answers are awaited.
            asyncio.get_running_loop().call_later(0.05, preload_summary_libraries)
            results = await asyncio.gather(*workers, return_exceptions=True)
            # Items handed to the scoring worker are still being scored: wait for them (nothing is lost).
            while self._scoring_tasks:
                await asyncio.gather(*list(self._scoring_tasks), return_exceptions=True)
            item_scorer.close(wait=False)  # the worker process exits while the summary is computed
            for r in results:
                if isinstance(r, BaseException) and self.abort is None:
                    self.abort = r
            return self.stop.is_set() and self.abort is None
        finally:
            watcher.cancel()
            item_scorer.close()
            writer.close()
            await self.scoring.aclose()  # the judges' providers
            if cache:
                cache.close()
            await provider.aclose()

    async def _worker(self, queue: Iterator[Todo | None], sender: Sender, cache: ResponseCache | None,
                      recorder: Recorder) -> None:
        try:
            await self._work(queue, sender, cache, recorder)
        except Exception as exc:  # a bug: stop every worker, keep what was written, report it
            self._stop_with(exc)

    async def _work(self, queue: Iterator[Todo | None], sender: Sender, cache: ResponseCache | None,
                    recorder: Recorder) -> None:
        while not self.stop.is_set():
            try:
                todo = next(queue)
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
                    completion, error, attempts = await sender.send(item)
                except Unfinished:
                    return
                except AuthError as exc:
                    self._stop_with(exc)  # every further request would be refused the same way
                    return
                if completion is not None and cache is not None:
                    cache.put(key, completion)
            done = self._score_and_record(item, completion, error, attempts, cached, cache, recorder)
            if error is None and self.scoring.pooled:
                # Scored in a worker process: hand the item over and send the next request now,
                # so scoring (and the worker's start-up) never holds up the requests.
                await self._scoring_slots.acquire()
                task = asyncio.create_task(done)
                self._scoring_tasks.add(task)
                task.add_done_callback(self._scoring_done)
            else:
                await done

    async def _score_and_record(self, item: Item, completion: Completion | None, error: ProviderError | None,
                                attempts: int, cached: bool, cache: ResponseCache | None, recorder: Recorder) -> None:
        recorder.record(await self.scoring.result(item, completion, error, attempts, cached, cache))

    def _scoring_done(self, task: asyncio.Task[None]) -> None:
        self._scoring_tasks.discard(task)
        self._scoring_slots.release()
        if not task.cancelled() and task.exception() is not None:
            self._stop_with(task.exception())  # type: ignore[arg-type]

    def _stop_with(self, reason: BaseException) -> None:
        if self.abort is None:
            self.abort = reason
        self.stop.set()


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
        the_run.quit_now()  # second signal: the user insists
        return
    the_run.stop.set()
