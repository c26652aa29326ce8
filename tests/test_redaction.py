"""Secrets stay out of everything stored or printed (issue #12 item 3): an error body that echoes the
key is redacted *before* it is cut to length, and a URL's user name and password are never written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli, write_suite
from recording_http import RecordingServer, Seen, chat_reply

from evalkit.redact import Redactor, strip_credentials_in_args, strip_url_credentials
from evalkit.testing import FakeOpenAIServer

KEY = "sk-evalkit-REDACT-0123456789abcdefXYZ"
PASSWORD = "pw-Hunter2-SECRET-77"
QUICK = ("--no-cache", "--languages", "de", "--prompts", "plain", "--max-attempts", "1", "--max-error-rate", "1")


def _pieces(secret: str, size: int = 8) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def _leaks(text: str, secret: str) -> list[str]:
    return [p for p in _pieces(secret) if p in text]


def _everything(root: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


# --- the redactor ---------------------------------------------------------------------------------

def test_redactor_masks_the_key_and_any_long_piece_of_it() -> None:
    redact = Redactor([KEY])
    text = f"a {KEY} b {KEY[:12]} c {KEY[-9:]} d {KEY[5:20]} e {KEY[:7]}"
    out = redact(text)
    assert _leaks(out, KEY) == [] and out.count("***") == 4
    assert out.endswith(f"e {KEY[:7]}")  # fewer than 8 characters give nothing away


@pytest.mark.parametrize("cut", range(250, 300 + len(KEY), 7))
def test_clip_redacts_before_cutting(cut: int) -> None:
    text = "x" * (cut - 20) + KEY + " tail"
    clipped = Redactor([KEY]).clip(text, 300)
    assert len(clipped) <= 300 and _leaks(clipped, KEY) == []


def test_clip_without_secrets_only_cuts() -> None:
    assert Redactor([None, ""]).clip("abcdef", 3) == "abc"


def test_url_credentials_are_stripped() -> None:
    assert strip_url_credentials(f"http://user:{PASSWORD}@127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert strip_url_credentials("https://host/v1?x=1") == "https://host/v1?x=1"
    args = ["--base-url", f"http://u:{PASSWORD}@h/v1", f"--base-url=https://u:{PASSWORD}@h/v1", "--out", "r"]
    assert strip_credentials_in_args(args) == ["--base-url", "http://h/v1", "--base-url=https://h/v1", "--out", "r"]


# --- a server that echoes the key across the cut-off ----------------------------------------------

def _echoing(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    auth = seen.headers.get("authorization", "")
    text = seen.body["messages"][-1]["content"] if isinstance(seen.body, dict) else ""
    if "Good morning" in text:  # JSON error message: cut at 300 characters
        message = "m" * 280 + "received " + auth
        return 400, {}, json.dumps({"error": {"message": message}}).encode()
    if "Thank you" in text:  # a body that is not JSON: cut at 200 characters
        return 500, {"content-type": "text/plain"}, ("p" * 175 + "header was " + auth).encode()
    return 200, {}, chat_reply("Das Wetter ist heute schön")


def test_error_body_echoing_the_key_across_the_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    with RecordingServer(_echoing) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        code = run_cli("run", suite, "--out", tmp_path / "run", "--base-url", srv.base_url,
                       "--api-key-env", "MY_KEY", *QUICK)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert all(s.headers.get("authorization") == f"Bearer {KEY}" for s in srv.seen)  # the key was sent
    lines = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    errors = sorted(x["error"]["message"] for x in lines if x["error"])
    assert len(errors) == 2 and all("***" in e for e in errors), errors
    assert (tmp_path / "run" / "report.html").exists()
    assert _leaks(_everything(tmp_path / "run") + out.out + out.err, KEY) == []


# --- user:password@ in a URL ----------------------------------------------------------------------

def test_base_url_credentials_are_used_but_never_stored_or_printed(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer() as srv:
        url = srv.base_url.replace("http://", f"http://evaluser:{PASSWORD}@")
        suite = write_suite(tmp_path, srv.base_url)
        monkeypatch.setattr("sys.argv", ["evalkit", "run", str(suite), "--base-url", url])
        code = run_cli("run", suite, "--out", tmp_path / "run", "--base-url", url, *QUICK)
        out = capsys.readouterr()
        assert code == 0, out.err
        assert srv.chat_requests and all(r.auth_present for r in srv.chat_requests)  # sent as basic auth
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["model"]["base_url"] == srv.base_url
        assert srv.base_url in manifest["argv"]
    assert (tmp_path / "run" / "report.html").exists()
    assert PASSWORD not in _everything(tmp_path) + out.out + out.err


def test_unreachable_url_with_credentials_is_named_without_them(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1")
    url = f"http://evaluser:{PASSWORD}@127.0.0.1:9/v1"
    assert run_cli("run", suite, "--out", tmp_path / "run", "--base-url", url, *QUICK) == 0
    out = capsys.readouterr()
    results = (tmp_path / "run" / "results.jsonl").read_text(encoding="utf-8")
    assert "cannot connect to http://127.0.0.1:9/v1" in results
    assert PASSWORD not in _everything(tmp_path) + out.out + out.err


def test_suite_url_with_credentials_is_stored_without_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer() as srv:
        suite = write_suite(tmp_path, srv.base_url.replace("http://", f"http://evaluser:{PASSWORD}@"))
        assert run_cli("run", suite, "--out", tmp_path / "run", *QUICK) == 0
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["model"]["base_url"] == srv.base_url
    out = capsys.readouterr()
    assert PASSWORD not in _everything(tmp_path / "run") + out.out + out.err


def test_url_credentials_and_a_key_together_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    with FakeOpenAIServer() as srv:
        url = srv.base_url.replace("http://", f"http://evaluser:{PASSWORD}@")
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "run", "--base-url", url, "--api-key-env", "MY_KEY",
                       *QUICK) == 2
        assert srv.requests == []
    err = capsys.readouterr().err
    assert "use one of them" in err and PASSWORD not in err and KEY not in err


def test_bad_scheme_is_named_without_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, "http://127.0.0.1:9/v1")
    assert run_cli("run", suite, "--out", tmp_path / "run", "--base-url", f"ftp://u:{PASSWORD}@host/v1", *QUICK) == 2
    err = capsys.readouterr().err
    assert "--base-url: the base URL must start with http:// or https:// (got 'ftp://host/v1')" in err
    assert PASSWORD not in err and not (tmp_path / "run").exists()
