from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import EXAMPLE, translator

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
    # pytest (and so pytester runs) prints differently on CI ("CI"/"BUILD_NUMBER": untruncated summaries)
    # and with colour switches set: the tests see one environment wherever they run.
    for name in ("CI", "BUILD_NUMBER", "FORCE_COLOR", "NO_COLOR", "PY_COLORS", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Scorers registered by a test are forgotten after it (and plugin modules unloaded)."""
    from evalkit.scoring import _plugins  # imported on use, to keep conftest light

    monkeypatch.setattr(_plugins, "_registered", {})
    monkeypatch.setattr(_plugins, "_loaded", [])
    monkeypatch.setattr(_plugins, "_env_seen", None)
    monkeypatch.delenv(_plugins.ENV_VAR, raising=False)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:  # plugin modules a test imported from tmp_path or examples/
        source = str(getattr(sys.modules[name], "__file__", "") or "")
        if source.startswith((tempfile.gettempdir(), str(EXAMPLE))):
            del sys.modules[name]


@pytest.fixture
def call_counter(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every request that reaches the embedded model (the real ``LocalProvider.complete`` still runs)."""
    from evalkit.providers._local import LocalProvider  # imported on use, to keep conftest light

    calls: list[Any] = []
    real = LocalProvider.complete

    async def counting(self: LocalProvider, request: Any) -> Any:
        calls.append(request)
        return await real(self, request)

    monkeypatch.setattr(LocalProvider, "complete", counting)
    return calls
