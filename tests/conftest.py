from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import translator

from evalkit.testing import FakeOpenAIServer


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """A real OpenAI-compatible server on 127.0.0.1 answering as a perfect translator."""
    with FakeOpenAIServer(translator) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    for name in ("EVALKIT_BASE_URL", "EVALKIT_API_KEY_ENV"):  # the runner's choices (evalkit.config)
        monkeypatch.delenv(name, raising=False)
