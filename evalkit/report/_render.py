"""The jinja2 environment and the page shell: CSS and JS inlined, a CSP that forbids every network fetch."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from evalkit import __version__

_HERE = Path(__file__).parent


@cache
def environment() -> Environment:
    """Templates from the package directory, HTML-escaped by default."""
    env = Environment(
        loader=FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # |tojson escapes < > & ' as \u00XX (so "</script>" cannot end the data block); keep it compact and UTF-8.
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":"), "sort_keys": False}
    return env


@cache
def static(name: str) -> str:
    """A file from ``static/``; refuses anything that could close the element it is inlined into."""
    text = (_HERE / "static" / name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"static/{name} must not contain '</' (it is inlined into a <script> or <style>)")
    return text


def csp(script: str) -> str:
    """Only this exact inline script may run (by hash); no fetches, fonts, frames or forms."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; "
            f"script-src 'sha256-{digest}'; "
            "style-src 'unsafe-inline'; img-src data:; font-src 'none'; connect-src 'none'; "
            "base-uri 'none'; form-action 'none'")


def render_html(template: str, context: dict[str, Any]) -> str:
    """Render ``templates/<template>`` with the shared CSS, JS and CSP."""
    script = static("report.js")
    env = environment()
    return env.get_template(template).render(
        **context,
        css=Markup(static("report.css")),
        script=Markup(script),
        csp=csp(script),
        generator_version=__version__,
    )


def dumps(data: Any) -> str:
    """JSON for humans (Markdown/JSON side outputs)."""
    return json.dumps(data, ensure_ascii=False, indent=2)
