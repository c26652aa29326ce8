"""Render prompt variants into chat messages, in a jinja2 sandbox with strict undefined variables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from evalkit.languages import LANGUAGES, get_language, is_known

Message = dict[str, str]


class TemplateError(Exception):
    """A template failed to compile or render; ``field`` names the template."""

    def __init__(self, field: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.line = line


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    # The sandbox blocks attribute access such as __class__/__globals__ and mutation of
    # inputs; StrictUndefined turns a typo in a variable name into an error, not "".
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


@lru_cache(maxsize=512)
def compile_template(source: str, field: str) -> jinja2.Template:
    try:
        return environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(field, f"template syntax error: {exc.message}", exc.lineno) from None


def language_context(code: str) -> dict[str, Any]:
    lang = get_language(code)
    return {"code": code, "name": lang.name, "native": lang.native, "script": lang.script}


def _is_per_language(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) and is_known(k) for k in value)


def localize(fields: dict[str, Any], language: str) -> dict[str, Any]:
    """Top-level view of a case for one language: per-language fields resolve to that language's
    value (and are left out when it has none, so a template that needs it fails loudly)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if _is_per_language(value):
            if language in value:
                out[key] = value[language]
        else:
            out[key] = value
    return out


def lookup_path(fields: dict[str, Any], path: str, language: str) -> Any:
    """Follow a dotted path (``text.en``) into the case; a per-language mapping at the end
    resolves to ``language``. Returns None when absent."""
    node: Any = fields
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if _is_per_language(node):
        return node.get(language)
    return node


@dataclass(frozen=True)
class RenderContext:
    case_fields: dict[str, Any]
    language: str
    target_language: str

    def as_dict(self) -> dict[str, Any]:
        ctx = localize(self.case_fields, self.language)
        ctx["case"] = self.case_fields
        ctx["language"] = language_context(self.language)
        ctx["target_language"] = language_context(self.target_language)
        ctx["languages"] = {code: lang.name for code, lang in LANGUAGES.items()}
        return ctx


def render(source: str, field: str, context: dict[str, Any]) -> str:
    template = compile_template(source, field)
    try:
        return template.render(context).strip()
    except jinja2.UndefinedError as exc:
        raise TemplateError(field, f"undefined variable: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(field, f"blocked by the template sandbox: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(field, f"template error: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
        raise TemplateError(field, f"template error: {type(exc).__name__}: {exc}") from None
