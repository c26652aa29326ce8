"""Render prompt variants into chat messages, in a jinja2 sandbox with strict undefined variables."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from evalkit._hints import did_you_mean
from evalkit._template_sandbox import (
    MAX_BUILT,
    MAX_RANGE_STEPS,
    MAX_RENDERED,
    MAX_STEPS,
    MAX_VALUE_SIZE,
    MAX_VALUE_WEIGHT,
    BoundedSandbox,
    render_budgeted,
)
from evalkit.languages import LANGUAGES, canonical_code, get_language, is_known, same_language

# Suites arrive in pull requests: templates render in a sandbox bounded in memory and work while
# rendering (evalkit/_template_sandbox.py has the limits and how they are enforced).
__all__ = [
    "MAX_BUILT", "MAX_RANGE_STEPS", "MAX_RENDERED", "MAX_STEPS", "MAX_VALUE_SIZE", "MAX_VALUE_WEIGHT",
    "BoundedSandbox", "Message", "RenderContext", "TemplateError", "compile_template", "environment",
    "language_context", "localize", "lookup_path", "render", "render_sandboxed",
]

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
    return BoundedSandbox(
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
    return dict(_language_context(code))


@lru_cache(maxsize=1024)
def _language_context(code: str) -> dict[str, Any]:
    lang = get_language(code)
    return {"code": code, "name": lang.name, "native": lang.native, "script": lang.script}


def _is_per_language(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) and is_known(k) for k in value)


def _language_key(value: dict[str, Any], language: str) -> str | None:
    """The key of ``language``'s value in a per-language mapping: ``language`` itself, else another spelling of
    it (``de`` for ``deu_Latn`` and the other way round: ``evalkit.languages.canonical_code``), else the only
    key of that language a script or region does not contradict (``zh`` for ``zho_Hans``)."""
    if language in value:
        return language
    key = canonical_code(language)
    same = next((k for k in value if canonical_code(k) == key), None)
    if same is not None:
        return same
    close = [k for k in value if same_language(k, language)]
    return close[0] if len(close) == 1 else None


def localize(fields: dict[str, Any], language: str) -> dict[str, Any]:
    """Top-level view of a case for one language: per-language fields resolve to that language's
    value (and are left out when it has none, so a template that needs it fails loudly)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if _is_per_language(value):
            found = _language_key(value, language)
            if found is not None:
                out[key] = value[found]
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
        found = _language_key(node, language)
        return None if found is None else node[found]
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
        ctx["languages"] = _LANGUAGE_NAMES
        return ctx


# Shared by every render (the sandbox makes it read-only for templates).
_LANGUAGE_NAMES = {code: lang.name for code, lang in LANGUAGES.items()}


# Templates that are only text and ``{{ name }}`` / ``{{ name.key }}`` placeholders (most prompts) are
# filled in directly: the same text jinja2 renders, without its per-render set-up. Anything else, and
# any placeholder that is not a plain look-up in plain dicts, goes through the sandbox.
_PLACEHOLDER = re.compile(r"\{\{[ \t\r\n]*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)[ \t\r\n]*\}\}")
_NEWLINES = re.compile(r"\r\n|\r")
# Names jinja2 reads as constants or operators, or gives a meaning of its own.
_RESERVED = frozenset({
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "self", "loop", "caller", "varargs", "kwargs", "super",
})
_Parts = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]  # texts (one more than paths), dotted paths


@lru_cache(maxsize=512)
def _placeholders(source: str) -> _Parts | None:
    """Split a text-and-placeholders template into its texts and look-up paths; None for anything else."""
    pieces = _PLACEHOLDER.split(source)
    texts = tuple(_NEWLINES.sub("\n", text) for text in pieces[::2])  # jinja2's newline normalisation
    if any(marker in text for text in texts for marker in ("{{", "{%", "{#")) \
            or any(text.endswith("{") for text in texts[:-1]):  # "{" + "{{ x }}": jinja2 starts a tag earlier
        return None
    paths = tuple(tuple(path.split(".")) for path in pieces[1::2])
    if any(part in _RESERVED for path in paths for part in path):
        return None
    return texts, paths


def _look_up(context: dict[str, Any], path: tuple[str, ...]) -> str | None:
    """What jinja2 prints for ``{{ a.b.c }}`` when every step is a key of a plain dict (else None)."""
    if path[0] not in context:
        return None  # a global, or undefined: the sandbox decides
    node = context[path[0]]
    for part in path[1:]:
        # jinja2 tries the attribute first (dict methods such as .items): only keys that are not one
        if type(node) is not dict or hasattr(dict, part) or part not in node:
            return None
        node = node[part]
    return str(node)


def _fill(source: str, context: dict[str, Any]) -> str | None:
    parts = _placeholders(source)
    if parts is None:
        return None
    texts, paths = parts
    out = [texts[0]]
    for path, text in zip(paths, texts[1:], strict=True):
        try:
            value = _look_up(context, path)
        except Exception:  # e.g. an int too long for str(): the sandbox reports it
            return None
        if value is None:
            return None
        out.append(value)
        out.append(text)
    rendered = "".join(out)
    return rendered.strip() if len(rendered) <= MAX_RENDERED else None


def render(source: str, field: str, context: dict[str, Any]) -> str:
    filled = _fill(source, context)
    return filled if filled is not None else render_sandboxed(source, field, context)


def render_sandboxed(source: str, field: str, context: dict[str, Any]) -> str:
    template = compile_template(source, field)
    try:
        return render_budgeted(template, context).strip()
    except jinja2.UndefinedError as exc:
        raise TemplateError(field, explain_undefined(source, context) or f"undefined variable: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(field, f"blocked by the template sandbox: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(field, f"template error: {exc}") from None
    except OverflowError as exc:  # e.g. range() beyond the sandbox's MAX_RANGE
        raise TemplateError(field, f"blocked by the template sandbox: {exc}") from None
    except (MemoryError, RecursionError) as exc:
        raise TemplateError(field, f"template error: {type(exc).__name__} (the template builds too much)") from None
    except (TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError, IndexError) as exc:
        raise TemplateError(field, f"template error: {type(exc).__name__}: {exc}") from None


def explain_undefined(source: str, context: dict[str, Any]) -> str | None:
    """What a template looks up that the context lacks, in the suite's terms rather than jinja2's
    (``case.nativ: no such field (fields: id, source)``, not "'dict object' has no attribute 'nativ'")."""
    from jinja2 import nodes

    try:
        tree = environment().parse(source)
    except jinja2.TemplateError:
        return None
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    bound |= set(environment().globals) | _RESERVED
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        path = _dotted(node)
        if path is None or path[0] in bound:
            continue
        value: Any = context
        for depth, part in enumerate(path):
            if not isinstance(value, dict):
                break
            if part not in value:
                keys = [str(k) for k in value]
                hint = did_you_mean(part, keys, "did you mean {!r}? ")
                what = ("variable", "variables") if depth == 0 else ("field", "fields")
                return f"{'.'.join(path[: depth + 1])}: no such {what[0]} ({hint}{what[1]}: {', '.join(keys)})"
            value = value[part]
    return None


def _dotted(node: Any) -> tuple[str, ...] | None:
    """``case.text.en`` / ``case["text"]`` as ("case", "text", "en"); None for anything else."""
    from jinja2 import nodes

    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Name):
            return (node.name, *reversed(parts))
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
