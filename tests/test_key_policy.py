"""Only the person running evalkit chooses where the API key goes (issue #12 item 1, #13 item 5).

A suite from a pull request may name a model and suggest a keyless endpoint; it may not name the
variable the key is read from, nor send a key to its own endpoint. Every test below uses real servers
on 127.0.0.1 and asserts what headers they actually received.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from helpers import SUITE, run_cli, write_suite
from recording_http import RecordingServer, Seen, chat_reply

import evalkit
from evalkit.config import load_project_config, resolve_endpoint
from evalkit.errors import RunAborted, SuiteError
from evalkit.runner import RunOptions
from evalkit.testing import FakeOpenAIServer

SECRET = "sk-deploy-token-0123456789abcdef"
KEY = "sk-evalkit-user-key-42424242"
QUICK = ("--no-cache", "--no-report", "--languages", "de", "--prompts", "plain")


def _hostile(tmp_path: Path, base_url: str, key_env: str | None) -> Path:
    body = SUITE.replace("  base_url: {base_url}\n", "  base_url: {base_url}\n" + (
        f"  api_key_env: {key_env}\n" if key_env else ""))
    return write_suite(tmp_path, base_url, body)


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def attacker() -> FakeOpenAIServer:
    with FakeOpenAIServer() as srv:
        yield srv


# --- a suite cannot choose the key variable or send a key to its endpoint -------------------------

@pytest.mark.parametrize("case", ["other_variable", "default_key"])
def test_suite_cannot_send_a_key_to_its_endpoint(case: str, tmp_path: Path, attacker: FakeOpenAIServer,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    if case == "other_variable":  # api_key_env: OTHER_SECRET + base_url: attacker
        monkeypatch.setenv("OTHER_SECRET", SECRET)
        suite = _hostile(tmp_path, attacker.base_url, "OTHER_SECRET")
        field, line_no, remedy = "model.api_key_env", 5, "pass --api-key-env OTHER_SECRET"
    else:  # only base_url: attacker, with the default key set
        monkeypatch.setenv("AIMLAPI_API_KEY", SECRET)
        suite = _hostile(tmp_path, attacker.base_url, None)
        field, line_no, remedy = "model.base_url", 4, f"pass --base-url {attacker.base_url}"
    assert run_cli("validate", suite) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"suite.yaml:{line_no}:"), line
    assert field in line and remedy in line and SECRET not in line
    assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK) == 2
    line = _one_line(capsys.readouterr().err)
    assert field in line and remedy in line
    assert not (tmp_path / "run").exists()
    # The library API refuses the same way.
    with pytest.raises(SuiteError, match=re.escape(field)):
        evalkit.run(evalkit.load_suite(suite), RunOptions(out_dir=tmp_path / "lib", use_cache=False))
    assert attacker.requests == []  # nothing was sent at all


def test_a_key_variable_chosen_by_the_user_does_not_open_the_suites_endpoint(
        tmp_path: Path, attacker: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # The CI job passes --api-key-env; the suite in the pull request points at another server.
    monkeypatch.setenv("OTHER_SECRET", SECRET)
    suite = _hostile(tmp_path, attacker.base_url, "OTHER_SECRET")
    assert run_cli("validate", suite, "--api-key-env", "OTHER_SECRET") == 2
    assert "model.base_url" in _one_line(capsys.readouterr().err)
    assert run_cli("run", suite, "--out", tmp_path / "run", "--api-key-env", "OTHER_SECRET", *QUICK) == 2
    assert "model.base_url" in _one_line(capsys.readouterr().err)
    with pytest.raises(SuiteError, match=r"model\.base_url"):
        evalkit.run(evalkit.load_suite(suite), RunOptions(out_dir=tmp_path / "lib", api_key_env="OTHER_SECRET"))
    assert attacker.requests == []


def test_keyless_suite_endpoint_gets_no_authorization_header(tmp_path: Path, server: FakeOpenAIServer,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)  # the suites of the other tests: unchanged
    assert run_cli("validate", suite) == 0
    assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK) == 0
    assert server.chat_requests and not any(r.auth_present for r in server.chat_requests)


@pytest.mark.parametrize("sent", [False, True])
def test_auth_refused_says_whether_a_key_was_sent(sent: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MY_KEY", "sk-wrong-key-00000000")
    with FakeOpenAIServer(api_key=KEY) as srv:
        url = srv.base_url
        suite = write_suite(tmp_path, url)
        chosen = ["--base-url", url, "--api-key-env", "MY_KEY"] if sent else []
        assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK, *chosen) == 3
        assert srv.chat_requests and all(r.auth_present == sent for r in srv.chat_requests)
    err = capsys.readouterr().err
    if sent:
        assert "check the API key in the environment variable MY_KEY" in err and "sk-wrong" not in err
    else:
        assert f"no key was sent: set the API key in the environment variable AIMLAPI_API_KEY and choose this " \
               f"endpoint with --base-url {url}" in err


# --- the person running evalkit chooses ------------------------------------------------------------

@pytest.mark.parametrize("source", ["flags", "environment", "evalkit.toml", "pyproject.toml", "library"])
def test_the_user_chooses_endpoint_and_key(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MY_KEY", KEY)
    with FakeOpenAIServer(api_key=KEY) as srv, FakeOpenAIServer() as other:
        # The suite suggests another endpoint and names the same variable: the user's choice wins.
        (tmp_path / "pr").mkdir()
        suite = _hostile(tmp_path / "pr", other.base_url, "MY_KEY")
        args: list[str] = []
        if source == "flags":
            args = ["--base-url", srv.base_url, "--api-key-env", "MY_KEY"]
        elif source == "environment":
            monkeypatch.setenv("EVALKIT_BASE_URL", srv.base_url)
            monkeypatch.setenv("EVALKIT_API_KEY_ENV", "MY_KEY")
        elif source == "evalkit.toml":
            (tmp_path / "evalkit.toml").write_text(f'base_url = "{srv.base_url}"\napi_key_env = "MY_KEY"\n')
        elif source == "pyproject.toml":
            (tmp_path / "pyproject.toml").write_text(
                f'[project]\nname = "x"\n\n[tool.evalkit]\nbase_url = "{srv.base_url}"\napi_key_env = "MY_KEY"\n')
        if source == "library":
            outcome = evalkit.run(evalkit.load_suite(suite), RunOptions(
                out_dir=tmp_path / "run", base_url=srv.base_url, api_key_env="MY_KEY", use_cache=False,
                write_report=False))
            assert outcome.manifest.status == "complete"
        else:
            assert run_cli("validate", suite, *args) == 0
            assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK, *args) == 0
        assert srv.chat_requests and all(r.auth_valid for r in srv.chat_requests)
        assert other.requests == []
        manifest = evalkit.read_manifest(tmp_path / "run")
        assert (manifest.model.base_url, manifest.model.api_key_env) == (srv.base_url, "MY_KEY")


def test_flags_beat_environment_beat_project_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    suite = evalkit.load_suite(write_suite(tmp_path, "http://127.0.0.1:9/v1"))
    (tmp_path / "evalkit.toml").write_text('base_url = "http://toml/v1"\napi_key_env = "TOML_KEY"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.evalkit]\nbase_url = "http://pyproject/v1"\n')
    got = resolve_endpoint(suite, environ={})
    assert (got.base_url, got.base_url_from, got.api_key_env) == ("http://toml/v1", "evalkit.toml", "TOML_KEY")
    env = {"EVALKIT_BASE_URL": "http://env/v1", "EVALKIT_API_KEY_ENV": "ENV_KEY"}
    got = resolve_endpoint(suite, environ=env)
    assert (got.base_url, got.api_key_env) == ("http://env/v1", "ENV_KEY")
    got = resolve_endpoint(suite, base_url="http://flag/v1", api_key_env="FLAG_KEY", environ=env)
    assert (got.base_url, got.base_url_from, got.api_key_env) == ("http://flag/v1", "--base-url", "FLAG_KEY")
    (tmp_path / "evalkit.toml").unlink()
    assert load_project_config().base_url == "http://pyproject/v1"


@pytest.mark.parametrize(("text", "says"), [
    ('base_url = "http://x/v1"\ntoken = "abc"\n', "evalkit.toml: unknown key 'token'"),
    ("base_url = [1]\n", "evalkit.toml: base_url must be a non-empty string"),
    ("base_url = \n", "evalkit.toml: not valid TOML"),
])
def test_bad_project_config_is_one_line_exit_2(text: str, says: str, tmp_path: Path, server: FakeOpenAIServer,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evalkit.toml").write_text(text)
    suite = write_suite(tmp_path, server.base_url)
    for args in (("validate", suite), ("run", suite, "--out", tmp_path / "run", *QUICK)):
        assert run_cli(*args) == 2
        assert says in _one_line(capsys.readouterr().err)
    assert server.requests == []


# --- no key for an endpoint that needs one: exit 3 at once ----------------------------------------

NO_ENDPOINT = textwrap.dedent("""\
    name: default-endpoint
    model: {name: m, max_attempts: 1}
    languages: [de]
    prompts: {p: {user: "Translate: {{ source }}"}}
    cases: [{id: c1, source: Good morning, reference: Guten Morgen}]
    scorers: [chrf]
""")


def test_default_endpoint_without_key_exits_3_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(NO_ENDPOINT, encoding="utf-8")
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--no-cache") == 3
    line = _one_line(capsys.readouterr().err)
    assert "AIMLAPI_API_KEY" in line and "not set" in line
    assert not out.exists()  # nothing written (and nothing sent: the check comes before any request)
    with pytest.raises(RunAborted, match="AIMLAPI_API_KEY"):
        evalkit.run(evalkit.load_suite(suite), RunOptions(out_dir=out))
    assert not out.exists()


def test_named_key_variable_that_is_empty_exits_3(tmp_path: Path, server: FakeOpenAIServer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    code = run_cli("run", suite, "--out", tmp_path / "run", "--base-url", server.base_url,
                   "--api-key-env", "EVALKIT_TEST_UNSET_KEY", *QUICK)
    assert code == 3
    assert "EVALKIT_TEST_UNSET_KEY" in _one_line(capsys.readouterr().err)
    assert server.requests == [] and not (tmp_path / "run").exists()


# --- redirects drop the key -----------------------------------------------------------------------

def test_redirect_to_another_origin_drops_the_key(tmp_path: Path, server: FakeOpenAIServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    target = server.base_url + "/chat/completions"

    def redirect(seen: Seen) -> tuple[int, dict[str, str], bytes]:
        return 307, {"location": target}, b"{}"

    with RecordingServer(redirect) as gateway:
        suite = write_suite(tmp_path, gateway.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--base-url", gateway.base_url,
                       "--api-key-env", "MY_KEY", *QUICK) == 0
    assert gateway.seen and all(s.headers.get("authorization") == f"Bearer {KEY}" for s in gateway.seen)
    assert server.chat_requests and not any(r.auth_present for r in server.chat_requests)


def test_same_server_answers_with_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The recording server itself (no redirect): proves it sees the header when one is sent.
    monkeypatch.setenv("MY_KEY", KEY)
    with RecordingServer(lambda seen: (200, {}, chat_reply("Guten Morgen"))) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--base-url", srv.base_url,
                       "--api-key-env", "MY_KEY", *QUICK) == 0
    assert srv.seen and all(s.headers.get("authorization") == f"Bearer {KEY}" for s in srv.seen)
