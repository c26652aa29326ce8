"""Prompts made only of text and ``{{ name.key }}`` placeholders are filled in without jinja2 (a cached
re-run renders every prompt again). Whatever the template, ``render`` must give what the sandbox gives:
the same text, or the same error."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.templating import RenderContext, TemplateError, _fill, render, render_sandboxed

CONTEXT: dict[str, Any] = {
    **RenderContext({"source": "Good morning", "n": 7}, "de", "fr").as_dict(),
    "f": 1.5,
    "flag": True,
    "nothing": None,
    "items_list": [1, "two"],
    "d": {"x": {"y": "deep"}, "items": "shadowed by dict.items", "n": 3, "_p": "underscore"},
    "big": 10**5000,  # str() refuses it: the sandbox reports the error
    "self": "not the template",
    "true": "not the constant",
    "range": "shadows the global",
    "nl": "a\r\nb",
    "padded": "  x  ",
}

NAMES = ["source", "n", "f", "flag", "nothing", "items_list", "d", "d.x", "d.x.y", "d.items", "d.n", "d._p",
         "d.missing", "d.x.y.z", "d.__class__", "language.name", "language.code", "target_language.native",
         "case.source", "case.items", "case.keys", "languages.de", "big", "self", "true", "True", "none",
         "range", "missing", "loop", "nl", "padded", "n.real", "source.upper", "lipsum", "not", "_x"]
SPACES = ["", " ", "  ", "\n", "\t", "\r\n", "\f"]
TEXT = st.text(alphabet="ab {}%#-+.\r\n\t:", max_size=8)


@st.composite
def placeholder(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES))
    return "{{" + draw(st.sampled_from(SPACES)) + name + draw(st.sampled_from(SPACES)) + "}}"


OTHER_TAGS = ["{{- source }}", "{{ source -}}", "{{ source|upper }}", "{{ 'lit' }}", "{{ 1 + 2 }}", "{# c #}",
              "{% if n %}yes{% endif %}", "{{ d['x'] }}", "{{ source ~ '!' }}", "{{", "}}", "{%", "{#",
              "{% raw %}{{ x }}{% endraw %}", "{{ source }", "{ source }}"]


@st.composite
def template(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.one_of(TEXT, placeholder(), st.sampled_from(OTHER_TAGS)), max_size=6))
    return "".join(pieces)


def _outcome(fn: Any, source: str) -> tuple[str, Any]:
    try:
        return "text", fn(source, "prompts.p.user", CONTEXT)
    except TemplateError as exc:
        return "error", (exc.field, exc.message, exc.line)


@settings(max_examples=600, deadline=None)
@given(template())
def test_render_gives_what_the_sandbox_gives(source: str) -> None:
    assert _outcome(render, source) == _outcome(render_sandboxed, source)


def test_placeholders_with_edge_values_match_the_sandbox() -> None:
    sources = [
        "Translate into {{ language.name }}: {{ source }}",
        "{{source}}\r\n{{ target_language.native }}\rEnd\n",
        "{{ f }} {{ flag }} {{ nothing }} {{ items_list }} {{ d.x }} {{ n }} {{ languages.de }}",
        "{{ d.items }}", "{{ case.items }}", "{{ self }}", "{{ true }}", "{{ range }}", "{{ big }}",
        "{{{ source }}}", "{ {{ source }} }", "{{ missing }}", "{{ d.missing }}", "{{ padded }}",
        "  {{ padded }}  ", "{{ nl }}", "plain text, no placeholder", "", "{{ source }}" * 3,
    ]
    for source in sources:
        assert _outcome(render, source) == _outcome(render_sandboxed, source), source


def test_long_output_is_refused_as_by_the_sandbox() -> None:
    context = {"s": "x" * 600_000}
    for fn in (render, render_sandboxed):
        try:
            fn("{{ s }}{{ s }}", "prompts.p.user", context)
        except TemplateError as exc:
            assert "longer than 1,000,000 characters" in exc.message
        else:
            raise AssertionError(f"{fn.__name__} rendered more than the limit")


def test_common_prompts_are_filled_without_the_sandbox() -> None:
    # Guards the property test above against testing nothing: ordinary prompts take the direct path.
    assert _fill("Translate into {{ language.name }}: {{ source }}", CONTEXT) == "Translate into German: Good morning"
    assert _fill("You are a translator.", CONTEXT) == "You are a translator."
    assert _fill("{% if n %}x{% endif %}", CONTEXT) is None
