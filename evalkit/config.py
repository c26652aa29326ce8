"""Who chooses where the API key goes: the person running evalkit, never the suite.

Suites arrive in pull requests. A suite may name a model and suggest an endpoint for a keyless
local server; the endpoint that receives a key and the variable the key is read from are chosen
only by the person running evalkit, from (highest first):

    base URL       --base-url (RunOptions.base_url), $EVALKIT_BASE_URL, project config ``base_url``
    key variable   --api-key-env (RunOptions.api_key_env), $EVALKIT_API_KEY_ENV, project config
                   ``api_key_env``, else AIMLAPI_API_KEY

The project config is ``evalkit.toml`` in the current directory (top-level keys) or, when there is
none, the ``[tool.evalkit]`` table of ``pyproject.toml`` there. With none of the above, the
endpoint is the suite's ``model.base_url`` (no key may go there: it is refused while the key
variable is set) or the default AI/ML API endpoint, which needs a key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import RunAborted, SuiteError, UsageError
from evalkit.redact import split_url_credentials, strip_url_credentials
from evalkit.suite import DEFAULT_API_KEY_ENV, DEFAULT_BASE_URL, LoadedSuite, ModelSpec

if TYPE_CHECKING:
    from evalkit.runner import RunOptions

ENV_BASE_URL = "EVALKIT_BASE_URL"
ENV_API_KEY_ENV = "EVALKIT_API_KEY_ENV"
PROJECT_FILE = "evalkit.toml"
PYPROJECT = "pyproject.toml"
PROJECT_KEYS = ("base_url", "api_key_env")


@dataclass(frozen=True)
class ProjectConfig:
    """``base_url`` / ``api_key_env`` from the project file; ``source`` names the file (for messages)."""

    base_url: str | None = None
    api_key_env: str | None = None
    source: str | None = None


def _table(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path.name}: cannot read the project config: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path.name}: not valid TOML: {exc}") from None
    if path.name == PROJECT_FILE:
        return data
    tool = data.get("tool")
    table = tool.get("evalkit") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise UsageError(f"{path.name}: [tool.evalkit] must be a table")
    return table


def load_project_config(cwd: Path | None = None) -> ProjectConfig:
    """The project config of ``cwd`` (default: the current directory); empty when there is none."""
    folder = cwd or Path.cwd()
    for name, label in ((PROJECT_FILE, PROJECT_FILE), (PYPROJECT, "pyproject.toml [tool.evalkit]")):
        path = folder / name
        if not path.is_file():
            continue
        table = _table(path)
        if table is None:
            continue
        values: dict[str, str] = {}
        for key, value in table.items():
            if key not in PROJECT_KEYS:
                raise UsageError(f"{label}: unknown key {key!r} (known: {', '.join(PROJECT_KEYS)})")
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"{label}: {key} must be a non-empty string")
            values[key] = value.strip()
        return ProjectConfig(values.get("base_url"), values.get("api_key_env"), label)
    return ProjectConfig()


@dataclass(frozen=True)
class Endpoint:
    """Where requests go and which variable holds the key, each with who chose it."""

    base_url: str
    base_url_from: str  # "--base-url", "EVALKIT_BASE_URL", a project file, "suite" or "default"
    api_key_env: str
    api_key_env_from: str  # "--api-key-env", "EVALKIT_API_KEY_ENV", a project file or "default"

    @property
    def key_required(self) -> bool:
        """The default endpoint always needs a key, and so does a variable named on the command line."""
        return self.base_url_from == "default" or self.api_key_env_from == "--api-key-env"


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def user_endpoint(
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Endpoint:
    """The endpoint and key variable the person running evalkit chose: an option, then the environment
    (``EVALKIT_BASE_URL`` / ``EVALKIT_API_KEY_ENV``), then the project config, else the defaults
    (``base_url_from == "default"``). No suite is involved: the run's rules add what a suite suggests."""
    env = os.environ if environ is None else environ
    project = load_project_config(cwd)

    def first(*choices: tuple[str | None, str | None], default: str) -> tuple[str, str]:
        for value, source in choices:
            if value and source:
                return value, source
        return default, "default"

    key_env, key_from = first((api_key_env, "--api-key-env"), (env.get(ENV_API_KEY_ENV), ENV_API_KEY_ENV),
                              (project.api_key_env, project.source), default=DEFAULT_API_KEY_ENV)
    url, url_from = first((base_url, "--base-url"), (env.get(ENV_BASE_URL), ENV_BASE_URL),
                          (project.base_url, project.source), default=DEFAULT_BASE_URL)
    return Endpoint(url, url_from, key_env, key_from)


def resolve_endpoint(
    suite: LoadedSuite,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Endpoint:
    """The endpoint and key variable of a run of ``suite``. ``base_url`` / ``api_key_env`` are the
    options of the person running evalkit. Raises ``SuiteError`` (exit 2, one line saying how to
    allow it) when the suite chose the key variable, or an endpoint that would receive a key."""
    spec = suite.spec.model
    chosen = spec.model_fields_set
    user = user_endpoint(base_url=base_url, api_key_env=api_key_env, environ=environ, cwd=cwd)
    key_env, key_from = user.api_key_env, user.api_key_env_from
    if "api_key_env" in chosen and spec.api_key_env != key_env:
        raise SuiteError(
            f"a suite cannot choose the variable the API key is read from (it names {spec.api_key_env!r}); "
            f"to use it, pass --api-key-env {spec.api_key_env} (or set {ENV_API_KEY_ENV})",
            suite.locate("model", "api_key_env"),
        )

    if user.base_url_from != "default":
        return user
    if "base_url" in chosen and not _same_url(spec.base_url, DEFAULT_BASE_URL):
        if (os.environ if environ is None else environ).get(key_env):
            shown = strip_url_credentials(spec.base_url)
            raise SuiteError(
                f"the suite's endpoint {shown} would receive the API key in {key_env}, and only you choose "
                f"where the key goes: pass --base-url {shown} (or set {ENV_BASE_URL}) to allow it, "
                f"or unset {key_env} for a keyless server",
                suite.locate("model", "base_url"),
            )
        return Endpoint(spec.base_url, "suite", key_env, key_from)
    return Endpoint(DEFAULT_BASE_URL, "default", key_env, key_from)


def _confined_local_name(suite: LoadedSuite, name: str) -> str:
    """The suite's ``local:`` model ``name``, confined to the suite's folder unless the user allowed more."""
    from evalkit.local_paths import confine_model_name

    return confine_model_name(name, suite.path.parent, suite.allow_outside_paths, suite.locate("model", "name"))


def check_suite_choices(suite: LoadedSuite, *, base_url: str | None = None,
                        api_key_env: str | None = None) -> list[SuiteError]:
    """What ``evalkit validate`` reports: choices the suite may not make (endpoint, key, local model path)."""
    try:
        if suite.spec.model.resolved_provider == "local":  # no endpoint, no key: only the path matters
            _confined_local_name(suite, suite.spec.model.name)
        else:
            resolve_endpoint(suite, base_url=base_url, api_key_env=api_key_env)
    except SuiteError as exc:
        return [exc]
    return []


def apply_run_policy(suite: LoadedSuite, options: RunOptions, model: ModelSpec) -> ModelSpec:
    """``model`` (the suite's, with the run's options applied) as the run may use it: the endpoint and
    key variable chosen by the person running evalkit, a suite's ``local:`` path confined to its folder.
    Raises ``SuiteError`` for a choice the suite may not make and ``RunAborted`` (exit 3) when the
    endpoint needs a key and its variable is empty, before anything is written or sent."""
    if model.resolved_provider == "local":
        if options.model:  # named on the command line: the user's choice, any path
            return model
        return model.model_copy(update={"name": _confined_local_name(suite, model.name)})
    endpoint = resolve_endpoint(suite, base_url=options.base_url, api_key_env=options.api_key_env)
    if not endpoint.base_url.startswith(("http://", "https://")):
        message = f"the base URL must start with http:// or https:// (got {strip_url_credentials(endpoint.base_url)!r})"
        if endpoint.base_url_from == "suite":
            raise SuiteError(message, suite.locate("model", "base_url"))
        raise UsageError(f"{endpoint.base_url_from}: {message}")
    key = os.environ.get(endpoint.api_key_env)
    if not key and endpoint.key_required:
        raise RunAborted(
            f"no API key: the environment variable {endpoint.api_key_env} is not set, and "
            f"{strip_url_credentials(endpoint.base_url)} needs one (set it, choose another variable with "
            f"--api-key-env, or pass --base-url for a keyless server)"
        )
    _, user, password = split_url_credentials(endpoint.base_url)
    if key and (user or password):
        raise UsageError(
            f"the base URL carries a user name and password and {endpoint.api_key_env} holds an API key: "
            "use one of them"
        )
    return model.model_copy(update={"base_url": endpoint.base_url, "api_key_env": endpoint.api_key_env})
