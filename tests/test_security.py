"""Security: suites arrive in pull requests and model outputs are untrusted.

Templates cannot escape jinja2's sandbox or exhaust the machine, YAML cannot construct objects, the
API key is never written or printed, data paths stay inside the suite's folder, and data printed to
a terminal or CI log cannot carry control sequences.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli, run_subprocess, write_suite

from evalkit.cli._common import safe_text
from evalkit.testing import FakeOpenAIServer, Fault

# --- templates -----------------------------------------------------------------------------------

CANARY = "evalkit-canary"
ESCAPES = {
    "class": "{{ ''.__class__ }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler_popen": "{{ cycler.__init__.__globals__.os.popen('touch " + CANARY + "').read() }}",
    "joiner_globals": "{{ joiner.__init__.__globals__.os.system('touch " + CANARY + "') }}",
    "namespace_globals": "{{ namespace.__init__.__globals__ }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].system('touch " + CANARY + "') }}",
    "self_init": "{{ self.__init__.__globals__.__builtins__ }}",
    "self_context": "{{ self._TemplateReference__context }}",
    "builtins_via_dict": "{{ dict.__base__.__subclasses__() }}",
    "attr_filter": "{{ source|attr('__class__')|attr('__mro__') }}",
    "attr_filter_escaped": "{{ source|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "format_string": "{{ '{0.__class__.__init__.__globals__}'.format(source) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': source}) }}",
    "percent_format": "{{ '%s'|format(source.__class__) }}",
    "getitem_dunder": "{{ source['__class__'] }}",
    "set_then_use": "{% set c = source.__class__ %}{{ c.__base__ }}",
    "include_file": "{% include '/etc/passwd' %}",
    "import_module": "{% import 'os' as os %}{{ os.system('touch " + CANARY + "') }}",
    "extends_file": "{% extends '/etc/passwd' %}",
    "config_global": "{{ config.items() }}",
    "mutate_input": "{{ case.update({'x': 1}) }}",
    "range_dos": "{{ range(10**9)|list|length }}",
    "nested_loops_dos": "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}",
    "repeat_dos": "{{ ('x' * 10**9)|length }}",
    "list_repeat_dos": "{{ ([0] * 10**9)|length }}",
    "power_dos": "{{ 10 ** (10 ** 6) }}",
    "ljust_dos": "{{ source.ljust(10**9)|length }}",
    "center_filter_dos": "{{ source|center(10**9)|length }}",
    "format_width_dos": "{{ '{:>999999999}'.format(1)|length }}",
    "percent_width_dos": "{{ ('%999999999d' % 1)|length }}",
    "lipsum_dos": "{{ lipsum(10**6)|length }}",
    "output_size_dos": "{% for i in range(100000) %}{{ 'x' * 90000 }}{% endfor %}",
}


def _suite(tmp_path: Path, base_url: str, user: str) -> Path:
    data: dict[str, Any] = {
        "name": "escape",
        "model": {"name": "m", "base_url": base_url, "max_attempts": 1},
        "languages": ["de"],
        "prompts": {"plain": {"user": user}},
        "cases": [{"id": "c1", "source": "Good morning", "reference": {"de": "Guten Morgen"}}],
        "scorers": ["chrf"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_template_escape_is_refused(name: str, tmp_path: Path, server: FakeOpenAIServer,
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    suite = _suite(tmp_path, server.base_url, ESCAPES[name])
    for args in (("validate", suite), ("run", suite, "--out", tmp_path / "run", "--no-cache")):
        assert run_cli(*args) == 2
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert re.search(r"suite\.yaml:\d+:\d+: prompts\.plain\.user: ", lines[0]), lines[0]
    assert not (tmp_path / CANARY).exists()  # nothing was executed
    assert server.chat_requests == []  # nothing was sent


def test_ordinary_templates_still_work(tmp_path: Path, server: FakeOpenAIServer) -> None:
    user = ("{% for i in range(3) %}{{ i }}{% endfor %} {{ source|upper|center(30) }} {{ '%05d' % 42 }} "
            "{{ '{:>6}'.format('x') }} {{ 'ab' * 3 }} {{ 2 ** 10 }} {{ language.name }}")
    suite = _suite(tmp_path, server.base_url, user)
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache", "--no-report") == 0
    sent = server.chat_requests[0].body["messages"][-1]["content"]
    assert sent.startswith("012 ") and "GOOD MORNING" in sent and "00042" in sent and "ababab 1024 German" in sent


def test_yaml_object_tags_construct_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system"):
        Path("suite.yaml").write_text(f"name: {tag} ['touch {CANARY}']\n", encoding="utf-8")
        assert run_cli("validate", "suite.yaml") == 2
        assert "tags that construct objects are not allowed" in capsys.readouterr().err
    assert not (tmp_path / CANARY).exists()


# --- the API key ---------------------------------------------------------------------------------

SECRET = "sk-evalkit-LEAKCHECK-7f3a9c2e"


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "EVALKIT_DEBUG"])
def test_api_key_never_written_or_printed(debug: bool, tmp_path: Path) -> None:
    env = {"LEAK_TEST_KEY": SECRET, "EVALKIT_CACHE_DIR": str(tmp_path / "cache")}
    if debug:
        env["EVALKIT_DEBUG"] = "1"
    printed = ""
    faults = [Fault("500", match="Good morning", attempts={1}), Fault("drop", match="Thank you", attempts={1}),
              Fault("400", match="weather"), Fault("429", attempts={2}, retry_after=0)]
    with FakeOpenAIServer(api_key=SECRET, faults=faults) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        # The endpoint and the key variable are chosen by the person running evalkit (not by the suite).
        chosen = ("--api-key-env", "LEAK_TEST_KEY", "--base-url", srv.base_url)
        # A full run with retries, client errors and a report.
        proc = run_subprocess("run", suite, "--out", tmp_path / "ok", *chosen,
                              "--max-error-rate", "0.9", env=env)
        assert proc.returncode == 0, proc.stderr
        printed += proc.stdout + proc.stderr
        assert (tmp_path / "ok" / "report.html").exists()
        assert all(SECRET not in json.dumps(r.body) for r in srv.chat_requests)  # only ever a header
        assert all(r.auth_valid for r in srv.chat_requests)
        # Authentication refused: the server wants another key.
        srv.api_key = "sk-some-other-key"
        proc = run_subprocess("run", suite, "--out", tmp_path / "auth", *chosen,
                              "--no-cache", env=env)
        assert proc.returncode == 3 and "LEAK_TEST_KEY" in proc.stderr
        printed += proc.stdout + proc.stderr
    # Nothing listens any more: transport errors.
    proc = run_subprocess("run", suite, "--out", tmp_path / "refused", *chosen,
                          "--no-cache", "--max-attempts", "1", env=env)
    assert proc.returncode == 3
    printed += proc.stdout + proc.stderr
    # Reports and comparisons render from disk.
    for args in (("report", tmp_path / "ok"), ("validate", suite)):
        proc = run_subprocess(*args, env=env)
        printed += proc.stdout + proc.stderr
    assert SECRET not in printed
    assert "Traceback" not in printed
    assert _files_containing(tmp_path, SECRET.encode()) == []
    assert (tmp_path / "cache" / "responses.sqlite").exists()


# --- data paths ----------------------------------------------------------------------------------

SUITE_WITH_FILE = """\
name: paths
model: {{name: m, base_url: "{base_url}"}}
languages: [de]
prompts: {{p: {{user: "Translate: {{{{ source }}}}"}}}}
cases: {{file: "{file}"}}
scorers: [chrf]
"""
ROW = '{"id": "a", "source": "Good morning", "reference": "Guten Morgen"}\n'


def _path_suite(folder: Path, file: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(SUITE_WITH_FILE.format(base_url="http://127.0.0.1:9/v1", file=file), encoding="utf-8")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "secret.jsonl"
    path.write_text(ROW, encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink_file", "symlink_dir"])
def test_data_paths_cannot_leave_the_suite_folder(how: str, tmp_path: Path, outside: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "pr" / "suites"
    folder.mkdir(parents=True)
    if how == "absolute":
        file = str(outside)
    elif how == "dotdot":
        file = "../../secret.jsonl"
    elif how == "symlink_file":
        (folder / "data.jsonl").symlink_to(outside)
        file = "data.jsonl"
    else:
        (folder / "data").symlink_to(tmp_path)
        file = "data/secret.jsonl"
    suite = _path_suite(folder, file)
    assert run_cli("validate", suite) == 2
    err = capsys.readouterr().err
    assert "leaves the suite's folder; pass --allow-outside-paths" in err and "cases.file" in err
    assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache") == 2
    capsys.readouterr()
    # The user can allow it explicitly.
    assert run_cli("validate", suite, "--allow-outside-paths") == 0
    assert "ok (1 case, 1 item)" in capsys.readouterr().out


def test_symlink_inside_the_folder_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "suites"
    (folder / "real").mkdir(parents=True)
    (folder / "real" / "cases.jsonl").write_text(ROW, encoding="utf-8")
    (folder / "link.jsonl").symlink_to(folder / "real" / "cases.jsonl")
    assert run_cli("validate", _path_suite(folder, "link.jsonl")) == 0


# --- terminal output -----------------------------------------------------------------------------

HOSTILE = "\x1b[2J\x1b]0;pwn\x07"


def test_safe_text_escapes_control_sequences() -> None:
    shown = safe_text("ok " + HOSTILE + " \x9b1m \u202eevil\n::add-mask::x")
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "\\x1b[2J\\x1b]0;pwn\\x07" in shown
    assert "\n::" not in shown  # cannot start a GitHub Actions workflow command
    assert safe_text("Grüße, 你好\n\tnext") == "Grüße, 你好\n\tnext"


def _no_raw_controls(text: str) -> None:
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), ascii(text)


def test_hostile_output_and_names_are_printed_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # The model answers with escape sequences; the suite's variant name carries one too (YAML "\e").
    with FakeOpenAIServer(lambda request: "Guten Morgen " + HOSTILE) as srv:
        suite = tmp_path / "suite.yaml"
        suite.write_text(
            "name: hostile\n"
            f"model: {{name: m, base_url: '{srv.base_url}'}}\n"
            "languages: [de]\n"
            'prompts: {"p\\e[2J\\e]0;pwn\\a": {user: "Translate: {{ source }}"}}\n'
            "cases: [{id: c1, source: Good morning, reference: Guten Morgen}]\n"
            "scorers: [chrf, exact_match]\n",
            encoding="utf-8",
        )
        # A control character in a variant name is refused (it could forge item ids), the name shown escaped.
        assert run_cli("run", suite, "--out", "run", "--no-cache") == 2
        out = capsys.readouterr()
        _no_raw_controls(out.out + out.err)
        assert "\\x1b[2J" in out.err
        suite.write_text(suite.read_text(encoding="utf-8").replace('"p\\e[2J\\e]0;pwn\\a"', "p"), encoding="utf-8")
        assert run_cli("run", suite, "--out", "run", "--no-cache") == 0
        out = capsys.readouterr()
        _no_raw_controls(out.out + out.err)
        assert run_cli("report", "run", "--format", "md") == 0
        out = capsys.readouterr()
        _no_raw_controls(out.out + out.err)
        assert run_cli("compare", "run", "run", "--format", "md") == 0
        out = capsys.readouterr()
        _no_raw_controls(out.out + out.err)
    # Error messages quote data too: a case id with an escape sequence, duplicated.
    suite.write_text(suite.read_text(encoding="utf-8").replace(
        "cases: [{id: c1,", 'cases: [{id: "x\\e]0;pwn\\a", source: a, reference: b}, {id: "x\\e]0;pwn\\a",'),
        encoding="utf-8")
    for command in ("validate", "run"):
        args = [command, "suite.yaml"] + (["--out", "run2"] if command == "run" else [])
        assert run_cli(*args) == 2
        err = capsys.readouterr().err
        assert "contains a control character" in err and "\\x1b]0;pwn\\x07" in err
        _no_raw_controls(err)
