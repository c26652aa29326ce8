"""Suite files: schema, loading with locations, case sources."""

from evalkit.suite._cases import Case
from evalkit.suite._load import LoadedSuite, load_suite
from evalkit.suite._schema import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    GenerationParams,
    ModelSpec,
    PromptVariant,
    ScorerSpec,
    Suite,
)

__all__ = [
    "DEFAULT_API_KEY_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "Case",
    "GenerationParams",
    "LoadedSuite",
    "ModelSpec",
    "PromptVariant",
    "ScorerSpec",
    "Suite",
    "load_suite",
]
