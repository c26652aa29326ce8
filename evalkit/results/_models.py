"""What a run writes to disk. Versioned pydantic models: reports are rendered only from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULTS_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ErrorInfo(_Model):
    kind: str  # rate_limited, server_error, transport_error, bad_response, client_error, auth_error
    message: str
    status: int | None = None
    attempts: int = 1


class UsageInfo(_Model):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ItemResult(_Model):
    """One line of ``results.jsonl``."""

    v: int = RESULTS_VERSION
    item_id: str
    case_id: str
    language: str
    variant: str
    repeat: int = 0
    # The seed sent with this item's request: the suite's seed for repeat 0, one derived from it and the
    # repeat index for the others (``evalkit.items.repeat_seed``); None when the suite sets no seed.
    seed: int | None = None
    # Which run wrote the line (``evalkit.runner.run_key``: suite hash, model, endpoint, parameters). A resume
    # adopts only lines with its own key; None on lines written before it existed.
    run_key: str | None = None
    target_language: str
    messages: list[dict[str, str]]
    # Mutable defaults as factories: pydantic deep-copies a literal {} or [] for every instance.
    references: list[str] = Field(default_factory=list)
    output: str | None = None
    finish_reason: str | None = None
    truncated: bool = False
    usage: UsageInfo | None = None
    latency_ms: float | None = None
    response_id: str | None = None
    cached: bool = False
    attempts: int = 1
    error: ErrorInfo | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)
    stats: dict[str, list[float]] = Field(default_factory=dict)  # sacrebleu sufficient statistics per corpus metric
    details: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per scorer (e.g. detected language)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def wrong_language(self) -> bool:
        return self.scores.get("language") == 0.0


class ScorerRecord(_Model):
    name: str
    label: str
    options: dict[str, Any] = {}
    kind: Literal["corpus", "binary"]
    higher_is_better: bool = True
    plugin: str | None = None  # a custom scorer: name=module:function [version] sha256:source-hash
    aggregate: Literal["mean", "custom"] | None = None  # "mean": aggregated without the plugin's code


class SuiteRecord(_Model):
    path: str
    name: str
    sha256: str
    description: str = ""


class ModelRecord(_Model):
    provider: str
    name: str
    base_url: str
    api_key_env: str | None = None
    params: dict[str, Any] = {}


class Counts(_Model):
    """A run is ``complete`` only when every planned item has exactly one line: missing == duplicates ==
    unplanned == foreign == damaged == 0 (else ``incomplete``, unless it was stopped early). Counted by
    ``evalkit.results.IdTally`` alone, for a run, a resume, a merge and the gate."""

    planned: int = 0  # items the selection plans
    done: int = 0  # lines in results.jsonl
    failed: int = 0
    cached: int = 0
    errors_by_kind: dict[str, int] = {}
    missing: int = 0  # planned items without a line
    duplicates: int = 0  # lines whose item id already had a line
    unplanned: int = 0  # item ids not in the plan (each counted once; a second line of one is a duplicate)
    foreign: int = 0  # lines carrying another run's run_key
    damaged: int = 0  # lines that are not a result (a torn last line included)
    quarantined: int = 0  # lines a resume moved to results.quarantine.jsonl (damaged or of another run)


class Prices(_Model):
    """What the person running evalkit said the model costs, per million tokens (never a default)."""

    model: str
    input_per_mtok: float  # per 1,000,000 prompt tokens
    output_per_mtok: float  # per 1,000,000 completion tokens
    currency: str = "USD"
    source: str = ""  # where the prices came from, e.g. "--price-in/--price-out"


class FewShotRecord(_Model):
    user: str
    assistant: str


class PromptRecord(_Model):
    """One prompt variant's templates as the suite gave them (jinja2 source, not rendered)."""

    user: str
    system: str | None = None
    few_shot: list[FewShotRecord] = Field(default_factory=list)
    target_language: str | None = None


class RunManifest(_Model):
    format: Literal["evalkit.run"] = "evalkit.run"
    version: int = RESULTS_VERSION
    evalkit_version: str
    sacrebleu_version: str
    python_version: str
    git_revision: str | None = None
    suite: SuiteRecord
    model: ModelRecord
    languages: list[str]
    variants: list[str]
    repeats: int = 1
    shard: str | None = None
    limit: int | None = None  # --limit (cases), part of the selection a resume must repeat
    run_key: str | None = None  # the key every line of results.jsonl carries (see ItemResult.run_key)
    scorers: list[ScorerRecord]
    started_at: str
    finished_at: str | None = None
    status: Literal["running", "complete", "incomplete", "interrupted", "aborted"] = "running"
    abort_reason: str | None = None
    counts: Counts = Field(default_factory=Counts)
    signatures: dict[str, dict[str, str]] = {}  # metric label -> target language -> sacrebleu signature
    argv: list[str] = []
    prices: Prices | None = None  # None: unknown, and every cost is shown as "unknown"
    # The templates of every selected variant; None: written before evalkit recorded them (reports say so).
    prompts: dict[str, PromptRecord] | None = None
    # Every planned item id (sorted): what the gate and merge check results.jsonl against. None: written before
    # manifests recorded them (then only their number, counts.planned, is known).
    planned_ids: list[str] | None = None


class MetricCell(_Model):
    variant: str
    language: str
    metric: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    interval: str = ""  # how the interval was computed
    signature: str | None = None
    higher_is_better: bool = True
    unstable: int | None = None  # with repeats: items that passed in some repeats and failed in others


class RepeatItem(_Model):
    """With ``--repeat N``: one item's pass rate over its repeats (binary metrics)."""

    variant: str
    language: str
    case_id: str
    metric: str
    passes: int
    n: int
    rate: float  # percent
    ci_low: float  # Wilson 95%, percent
    ci_high: float
    unstable: bool


class ErrorCell(_Model):
    variant: str
    language: str
    planned: int
    errors: int
    by_kind: dict[str, int] = {}


class UsageCell(_Model):
    """Tokens, latency, truncation and cost of one (variant, language) (see docs/results-format.md)."""

    variant: str
    language: str
    answered: int = 0  # items with an answer (failed items have no usage)
    with_usage: int = 0  # answered items whose provider reported prompt and completion tokens
    prompt_tokens: int = 0  # totals over ``with_usage`` items
    completion_tokens: int = 0
    prompt_tokens_mean: float | None = None
    completion_tokens_mean: float | None = None
    latency_n: int = 0  # items answered by the provider in this run (cached answers excluded)
    latency_cached: int = 0  # answered items left out of the latency: served from the response cache
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    truncated: int = 0  # finish_reason == "length"
    truncation_rate: float | None = None  # percent of answered items
    cost: float | None = None  # None: prices unknown (never 0 for unknown)
    cost_per_item: float | None = None
    token_tax: float | None = None  # total tokens relative to English on the same cases
    token_tax_cases: int = 0  # (case, repeat) pairs behind ``token_tax``


class JudgeUsageCell(_Model):
    """A judge scorer's own tokens and cost, apart from the model's (see docs/scorers.md, "judge")."""

    label: str
    model: str  # the judge model
    calls: int = 0  # the judge's replies recorded on the result lines (cached or not), unparsable ones included
    unparsable: int = 0  # replies that held no verdict (their tokens count: they were paid for)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # None: no prices for the judge model (never 0 for unknown)
    prices: Prices | None = None  # the judge model's prices behind ``cost``


class Summary(_Model):
    format: Literal["evalkit.summary"] = "evalkit.summary"
    version: int = RESULTS_VERSION
    suite_sha256: str
    model: str
    cells: list[MetricCell]
    errors: list[ErrorCell]
    wrong_language: dict[str, int] = {}
    repeats: int = 1
    repeat_items: list[RepeatItem] = []  # only items that were unstable (passed in some repeats only)
    usage: list[UsageCell] = []  # per variant × language
    judge_usage: list[JudgeUsageCell] = []  # per judge scorer
    prices: Prices | None = None  # copied from the manifest: the prices behind every cost
