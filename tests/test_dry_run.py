"""``evalkit run --dry-run``: items, requests not cached, estimated tokens and cost; nothing sent or written."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_cli, write_suite
from test_usage import USAGE_SUITE, responder

from evalkit.dryrun import estimate_prompt_tokens, estimate_tokens
from evalkit.items import Planner
from evalkit.suite import load_suite
from evalkit.testing import FakeOpenAIServer


@pytest.fixture
def srv() -> FakeOpenAIServer:
    with FakeOpenAIServer(responder) as s:
        yield s


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dry_run_sends_nothing_and_writes_nothing(tmp_path: Path, srv: FakeOpenAIServer,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, srv.base_url, USAGE_SUITE)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--dry-run") == 0
    assert srv.count == 0
    assert not out.exists()
    assert not (tmp_path / "cache").exists()  # the response cache is only read, and not created
    printed = capsys.readouterr().out
    expected = sum(estimate_prompt_tokens(item.messages) for item in Planner(load_suite(suite)).iter_items())
    assert "total: 12 items, 0 already in --out, 0 in the response cache" in printed
    assert "12 requests to send" in printed
    assert f"estimated prompt tokens: ~{expected} " in printed
    assert "estimated cost: unknown" in printed
    th = next(line for line in printed.splitlines() if line.split()[:2] == ["plain", "th"])
    assert th.split()[2:4] == ["4", "items"]


def test_dry_run_counts_cached_requests_and_done_items(tmp_path: Path, srv: FakeOpenAIServer,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, srv.base_url, USAGE_SUITE)
    done = tmp_path / "done"
    assert run_cli("run", suite, "--out", done, "--languages", "en,de", "--no-report") == 0
    sent = srv.count
    assert sent == 8
    before = _files(tmp_path)
    capsys.readouterr()
    assert run_cli("run", suite, "--out", tmp_path / "new", "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "total: 12 items, 0 already in --out, 8 in the response cache, 4 requests to send" in printed
    assert run_cli("run", suite, "--out", done, "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "total: 12 items, 8 already in --out, 0 in the response cache, 4 requests to send" in printed
    assert srv.count == sent
    assert _files(tmp_path) == before  # neither --out nor the cache changed
    assert not (tmp_path / "new").exists()


def test_dry_run_estimates_cost_with_prices(tmp_path: Path, srv: FakeOpenAIServer,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, srv.base_url, USAGE_SUITE)
    assert run_cli("run", suite, "--out", tmp_path / "run", "--dry-run", "--price-in", "1000000",
                   "--price-out", "2000000") == 0
    printed = capsys.readouterr().out
    tokens = sum(estimate_prompt_tokens(item.messages) for item in Planner(load_suite(suite)).iter_items())
    # one unit per prompt token; answers at most 12 requests x 64 max_tokens x 2 units
    assert f"estimated cost: ~${tokens}.00 for the prompts, at most ${12 * 64 * 2}.00 for the answers" in printed
    assert srv.count == 0


def test_token_estimate_is_per_script() -> None:
    assert estimate_tokens("Good morning") == 3  # 12 Latin characters / 4
    assert estimate_tokens("早上好") == 3  # one per Han character
    assert estimate_tokens("สวัสดีตอนเช้า") == 7  # 13 Thai characters / 2, rounded up
    assert estimate_tokens("") == 0
    assert estimate_prompt_tokens([{"role": "user", "content": "Good morning"}]) == 4 + 3


def test_dry_run_keys_repeats_by_their_own_seeds(tmp_path: Path, srv: FakeOpenAIServer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Repeats send their own seeds (and are cached under them): the dry run looks them up the same way."""
    seeded = USAGE_SUITE.replace("max_tokens: 64}}", "max_tokens: 64, seed: 7}}")
    assert seeded != USAGE_SUITE
    suite = write_suite(tmp_path, srv.base_url, seeded)
    assert run_cli("run", suite, "--out", tmp_path / "done", "--repeat", "2", "--no-report") == 0
    sent = srv.count
    assert sent == 24
    capsys.readouterr()
    assert run_cli("run", suite, "--out", tmp_path / "new", "--repeat", "2", "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "total: 24 items, 0 already in --out, 24 in the response cache, 0 requests to send" in printed
    assert srv.count == sent
