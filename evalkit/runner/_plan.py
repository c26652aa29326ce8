"""Stage 1, plan: the options, the model that will answer, every item rendered once, and the run's manifest.

Planning renders every template before any request is sent (and before the run directory exists), so a broken
suite leaves nothing behind. The rendered items are kept for the send stage unless the run is large; then they
are rendered again, streaming, and memory stays flat.
"""

from __future__ import annotations

import platform
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from evalkit import __version__
from evalkit.errors import SuiteError
from evalkit.items import Item, Planner, Selection
from evalkit.redact import strip_url_credentials
from evalkit.results import (
    Counts,
    FewShotRecord,
    ModelRecord,
    PromptRecord,
    RunManifest,
    ScorerRecord,
    SuiteRecord,
    sacrebleu_version,
    scorer_record,
)
from evalkit.suite import LoadedSuite, ModelSpec, PromptVariant

KEEP_RENDERED_ITEMS = 20_000


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
    max_retry_wait: float | None = None  # cap on a server's Retry-After (default RetryPolicy's 120 s)
    on_wait: Callable[[str], None] | None = None  # one line per stall: what the run waits for
    notice: Callable[[str], None] | None = None  # one-line messages (e.g. lines a resume quarantined)


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


def endpoint_of(model: ModelSpec) -> str:
    """What the manifest, the run key and the cache key call the endpoint ("local" for the embedded model)."""
    # No user:password@ on disk: the credentials are used for the request, never stored.
    return strip_url_credentials(model.base_url) if model.resolved_provider == "openai" else "local"


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


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Plan:
    """Every planned item id, and the rendered items when they were kept (None: render again, streaming)."""

    ids: set[str]
    kept: list[Item] | None

    @classmethod
    def make(cls, planner: Planner) -> Plan:
        ids: set[str] = set()
        kept: list[Item] | None = []
        for item in planner.iter_items():
            ids.add(item.item_id)
            if kept is not None:
                kept.append(item)
                if len(kept) > KEEP_RENDERED_ITEMS:
                    kept = None
        return cls(ids, kept)

    def pending(self, planner: Planner, done: set[str]) -> Iterator[Item]:
        """The items still to do, in plan order."""
        items: Iterable[Item] = self.kept if self.kept is not None else planner.iter_items()
        for item in items:
            if item.item_id not in done:
                yield item


def new_manifest(suite: LoadedSuite, model: ModelSpec, planner: Planner, records: list[ScorerRecord],
                 options: RunOptions, planned: int, key: str) -> RunManifest:
    spec = suite.spec
    shard = options.selection.shard
    return RunManifest(
        evalkit_version=__version__,
        sacrebleu_version=sacrebleu_version(),
        python_version=platform.python_version(),
        git_revision=git_revision(suite.path.parent),
        suite=SuiteRecord(path=str(suite.path), name=spec.name, sha256=suite.sha256, description=spec.description),
        model=ModelRecord(
            provider=model.resolved_provider,
            name=model.name,
            base_url=endpoint_of(model),
            api_key_env=model.api_key_env if model.resolved_provider == "openai" else None,
            params=model.params.as_body(),
        ),
        languages=planner.languages,
        variants=planner.variants,
        repeats=planner.repeats,
        shard=f"{shard.index}/{shard.count}" if shard else None,
        limit=planner.limit,
        run_key=key,
        scorers=records,
        started_at=now(),
        counts=Counts(planned=planned),
        argv=options.argv,
        prompts={name: prompt_record(spec.prompts[name]) for name in planner.variants},
    )


def prompt_record(variant: PromptVariant) -> PromptRecord:
    """A variant's templates as the suite gives them (what ``evalkit compare`` diffs)."""
    return PromptRecord(user=variant.user, system=variant.system, target_language=variant.target_language,
                        few_shot=[FewShotRecord(user=t.user, assistant=t.assistant) for t in variant.few_shot])
