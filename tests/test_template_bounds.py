"""Templates arrive in pull requests: whatever a template does, rendering it takes bounded time and memory,
checked *while* it renders (not once the text is built), and the offending template is reported with
file:line (exit 2). Ordinary templates render exactly as in jinja2's own sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from helpers import SUITE, run_cli, write_suite
from jinja2.sandbox import ImmutableSandboxedEnvironment

from evalkit.templating import TemplateError, render_sandboxed

HOSTILE = {
    # the two from issue 12
    "replace": '{{ ("x"*99999)|replace("x", "y"*20000) }}',
    "range-in-a-variable": "{% set r = range(1000) %}{% for a in r %}{% for b in r %}{% for c in r %}"
                           "{% endfor %}{% endfor %}{% endfor %}",
    # string builders
    "replace-keywords": '{{ ("x"*99999)|replace(old="x", new="y"*20000) }}',
    "replace-method": '{{ ("x"*99999).replace("x", "y"*20000) }}',
    "join": '{{ range(100000)|join("y"*99999) }}',
    "join-method": '{{ ("y"*99999).join(range(100000)|map("string")) }}',
    "indent": '{{ ("\\n"*99999)|indent("x"*99999) }}',
    "wordwrap": '{{ ("a "*50000)|wordwrap(1, wrapstring="y"*99999) }}',
    "format-filter": '{{ ("%s"*99999)|format(*(["y"*99999]*99999)) }}',
    "percent-dict": '{{ ("%(a)s"*20000) % {"a": "y"*99999} }}',
    "percent-star": '{{ "%*d" % (99999, 1) }}',
    "str-format": '{{ ("{0}"*20000).format("y"*99999) }}',
    "format-nested-width": '{{ "{0:{1}}".format("a", 99999) ~ "{0:{1}}".format("a", 99999) }}',
    "expandtabs": '{{ ("\\t"*99999).expandtabs(99999) }}',
    "batch-fill": '{{ [1]|batch(99999, fill_with="y"*99999)|list|string }}',
    # concatenation and list building
    "concat-doubling": '{% set ns = namespace(s="x"*99999) %}{% for i in range(40) %}'
                       "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "concat-many": '{% set a = "y"*99999 %}{{ (' + " ~ ".join(["a"] * 22) + ")|length }}",
    "list-doubling": '{% set ns = namespace(l=["x"*99999]) %}{% for i in range(60) %}'
                     "{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
    "shared-nesting": '{% set a = ["x"*99999]*10 %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}'
                      "{% set c = [b,b,b,b,b,b,b,b,b,b] %}{{ c|string|length }}",
    "shared-repeat-string": '{% set a = ["x"*99999] * 99999 %}{{ a|string|length }}',
    # work without output
    "exponential-macro": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "recursive-loop": "{% set r = range(100)|list %}{% for x in r recursive %}{% if loop.depth < 6 %}"
                      "{{ loop(r) }}{% endif %}{% endfor %}",
    "block-set-in-loops": "{% set r = range(1000)|list %}{% set x %}{% for a in r %}{% for b in r %}"
                          + "x" * 200 +
                          "{% endfor %}{% endfor %}{% endset %}{{ x|length }}",
    "list-filter-in-loop": "{% set r = range(100000)|list %}{% for a in r %}{{ r|sort|first }}{% endfor %}",
    "list-filter-no-output": "{% set r = range(100000)|list %}{% for a in r %}{% if r|max %}{% endif %}{% endfor %}",
}

# Renders every hostile template in a fresh interpreter limited to 3 GB of address space (a runaway
# template dies there instead of taking the machine), and reports each outcome and the peak RSS.
_RENDER_ALL = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 ** 3, 3 * 1024 ** 3))
from evalkit.templating import TemplateError, render_sandboxed
out = {}
for name, source in json.loads(sys.stdin.read()).items():
    try:
        out[name] = "rendered " + render_sandboxed(source, "prompts.p.user", {})[:80]
    except TemplateError as exc:
        out[name] = exc.message
# VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's peak (pytest's, in a full run).
out["peak_mb"] = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:")) // 1024
print(json.dumps(out))
"""


def test_hostile_templates_are_refused_while_rendering_with_bounded_memory() -> None:
    proc = subprocess.run([sys.executable, "-c", _RENDER_ALL], input=json.dumps(HOSTILE), capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout)
    peak_mb = outcome.pop("peak_mb")
    wrong = {name: text for name, text in outcome.items() if not text.startswith("blocked by the template sandbox")}
    assert not wrong  # each one stopped by a check, none by MemoryError or by rendering in full
    assert peak_mb < 400, f"peak RSS {peak_mb} MB"


def test_budget_messages_say_what_was_exceeded() -> None:
    def refused(source: str) -> str:
        with pytest.raises(TemplateError) as exc:
            render_sandboxed(source, "prompts.p.user", {})
        return exc.value.message

    assert "more than 200,000 steps" in refused(HOSTILE["range-in-a-variable"])
    assert "replace would build more than 2,000,000 characters" in refused(HOSTILE["replace"])
    assert "join would build more than" in refused(HOSTILE["join"])
    assert "builds more than 20,000,000 characters in all" in refused(HOSTILE["block-set-in-loops"])
    assert "more than 1,000,000 list or mapping items" in refused(HOSTILE["list-filter-in-loop"])
    assert "unsafe" in refused(HOSTILE["expandtabs"])


ORDINARY = [
    "Translate into {{ language.name }}: {{ source }}",
    "{% for ex in examples %}{{ loop.index }}. {{ ex.q }} -> {{ ex.a }}\n{% endfor %}Q: {{ source }}",
    "{{ source|upper|replace('A', 'a') }} {{ examples|map(attribute='q')|join(', ') }} {{ '%s/%d' % (source, 3) }}",
    "{{ '{0} and {1:>5}'.format(source, 7) }}|{{ source|indent(2, true) }}|{{ source|center(30) }}",
    "{% macro item(x) %}<{{ x }}>{% endmacro %}{% for ex in examples|reverse %}{{ item(ex.q) }}{% endfor %}",
    "{% set ns = namespace(n=0) %}{% for i in range(10) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
    "{{ [source, 'b', 'c']|join('-') ~ '!' }} {{ {'k': source}|dictsort }} {{ (1, 2) + (3,) }} {{ source * 3 }}",
    "{% for row in examples|batch(2, fill_with={'q': '-', 'a': '-'}) %}{{ row|map(attribute='a')|join }}"
    "{% else %}none{% endfor %}{{ source|wordwrap(5) }}",
    "{% for k in {'a': 1, 'b': 2} recursive %}{{ k }}{% endfor %} {{ source.split(' ')|length }} "
    "{{ 'x' ~ 1 ~ none }} {{ [1, 2, 3]|sum }} {{ '%(a)s' % {'a': source} }}",
]
CONTEXT = {"source": "Good morning all", "language": {"name": "German"},
           "examples": [{"q": "one", "a": "eins"}, {"q": "two", "a": "zwei"}, {"q": "three", "a": "drei"}]}


@pytest.mark.parametrize("source", ORDINARY)
def test_ordinary_templates_render_as_in_jinja2s_sandbox(source: str) -> None:
    plain = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    assert render_sandboxed(source, "prompts.p.user", CONTEXT) == plain.from_string(source).render(CONTEXT).strip()


def test_validate_names_the_template_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = SUITE.replace('user: "Please translate into {{{{ language.name }}}}: {{{{ source }}}}"',
                            "user: '{{{{ (\"x\"*99999)|replace(\"x\", \"y\"*20000) }}}}'")
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1", hostile)
    assert run_cli("validate", suite) == 2  # the same problem in every case: one line naming the cases
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1 and ("suite.yaml:13:5: prompts.polite.user: blocked by the template sandbox: "
                                "replace would build" in lines[0]) and "(in 3 cases: c1, c2, c3)" in lines[0], lines
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache") == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1 and "suite.yaml:13:5: prompts.polite.user: blocked" in lines[0], lines
