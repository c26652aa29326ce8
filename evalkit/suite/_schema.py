"""The suite file's schema. One shape per field; unknown keys are errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_BASE_URL = "https://api.aimlapi.com/v1"
DEFAULT_MODEL = "meta-llama/Llama-3.2-3B-Instruct-Turbo"
DEFAULT_API_KEY_ENV = "AIMLAPI_API_KEY"
# Also in evalkit.providers._body (not imported from there: the suite schema does not import providers).
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationParams(_Strict):
    """Sent as-is in the request body (only the ones that are set)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=131072)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: list[str] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def as_body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ModelSpec(_Strict):
    """Which model to query and how. ``name`` starting with ``local:`` selects the embedded provider."""

    name: str = DEFAULT_MODEL
    provider: Literal["openai", "local"] | None = None
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str = DEFAULT_API_KEY_ENV
    params: GenerationParams = GenerationParams()
    timeout: float = Field(default=60.0, gt=0, le=3600)
    concurrency: int = Field(default=8, ge=1, le=1024)
    max_attempts: int = Field(default=6, ge=1, le=50)
    max_error_rate: float = Field(default=0.5, gt=0, le=1)
    # A suite may lower the cap on a reply's size, not raise it (the CLI option and the environment may).
    max_response_bytes: int = Field(default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024)

    @field_validator("max_response_bytes")
    @classmethod
    def _cap_not_raised(cls, v: int) -> int:
        if v > DEFAULT_MAX_RESPONSE_BYTES:
            raise ValueError(
                f"a suite may lower max_response_bytes, not raise it above {DEFAULT_MAX_RESPONSE_BYTES:,}; "
                "the person running evalkit can, with --max-response-bytes or EVALKIT_MAX_RESPONSE_BYTES"
            )
        return v

    @property
    def resolved_provider(self) -> Literal["openai", "local"]:
        if self.provider is not None:
            return self.provider
        return "local" if self.name.startswith("local:") else "openai"


class FewShotTurn(_Strict):
    user: str
    assistant: str


class PromptVariant(_Strict):
    """One prompt version: jinja2 templates for the system and user messages."""

    user: str
    system: str | None = None
    few_shot: list[FewShotTurn] = []
    # Language the answer must be in (a code or a template); default: the item's language.
    target_language: str | None = None
    # Case field holding the references for this variant (dotted path allowed: "text.en").
    reference: str | None = None


class FileCases(_Strict):
    file: str
    format: Literal["jsonl", "csv"] | None = None
    fields: dict[str, str] = {}  # case field -> column
    limit: int | None = Field(default=None, ge=1)


class DatasetSpec(_Strict):
    path: str  # local directory, builder name ("json", "csv", "parquet") or hub id
    name: str | None = None
    split: str = "train"
    data_files: str | list[str] | dict[str, str | list[str]] | None = None
    revision: str | None = None


class DatasetCases(_Strict):
    dataset: DatasetSpec
    fields: dict[str, str] = {}
    limit: int | None = Field(default=None, ge=1)


ScorerName = Literal["bleu", "chrf", "ter", "exact_match", "contains", "regex", "language", "judge"]
SCORER_NAMES: tuple[str, ...] = ScorerName.__args__  # type: ignore[attr-defined]


class ScorerSpec(_Strict):
    # A built-in scorer, or one an enabled plugin provides (--plugin, EVALKIT_PLUGINS, an installed
    # package's "evalkit.scorers" entry point): naming a scorer never imports code by itself.
    name: str
    options: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _registered(cls, v: str) -> str:
        if v in SCORER_NAMES:
            return v
        from evalkit.scoring import UnknownScorer, is_registered

        if not is_registered(v):
            raise ValueError(UnknownScorer(v).message)
        return v


class Suite(_Strict):
    """A parsed suite file (cases not loaded yet)."""

    name: str = Field(min_length=1)
    description: str = ""
    model: ModelSpec = ModelSpec()
    # Several models side by side, as `evalkit run --model A --model B` (which overrides the list): each name
    # replaces model.name, the rest of `model:` is shared.
    models: list[str] | None = Field(default=None, min_length=1)
    languages: list[str] = Field(min_length=1)
    prompts: dict[str, PromptVariant] = Field(min_length=1)
    cases: list[dict[str, Any]] | FileCases | DatasetCases
    reference: str = "reference"  # default case field holding references
    # Long-format data: the case field holding each case's language (a code, or a list of codes); the case
    # becomes items in those languages only, not in every suite language (docs/suite-format.md).
    case_language: str | None = Field(default=None, min_length=1)
    scorers: list[ScorerSpec] = Field(min_length=1)
    gates: dict[str, Any] | None = None
    repeats: int = Field(default=1, ge=1, le=1000)

    @field_validator("models", mode="before")
    @classmethod
    def _one_model(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v  # `models: gpt-4o` is a list of one

    @model_validator(mode="after")
    def _first_model(self) -> Suite:
        # One run of a suite with a list (the Python API, the pytest plugin) is a run of its first model.
        if self.models and "name" not in self.model.model_fields_set:
            object.__setattr__(self, "model", self.model.model_copy(update={"name": self.models[0]}))
        return self

    @field_validator("scorers", mode="before")
    @classmethod
    def _scorer_shapes(cls, v: Any) -> Any:
        # YAML allows `bleu` or `{bleu: {options}}`; both become ScorerSpec.
        if not isinstance(v, list):
            return v
        out: list[Any] = []
        for entry in v:
            if isinstance(entry, str):
                out.append({"name": entry})
            elif isinstance(entry, dict) and len(entry) == 1 and "name" not in entry:
                (name, opts), = entry.items()
                out.append({"name": name, "options": opts or {}})
            else:
                out.append(entry)
        return out
