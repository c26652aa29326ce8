"""``--repeat N`` with a fixed seed: every repeat sends its own seed (derived from the suite's seed and the repeat
index), records it on its line and keys the cache with it, so repeats really sample (issue #11, item 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import needs_model, run_cli, write_suite

from evalkit.cache import cache_key
from evalkit.items import Item, repeat_seed
from evalkit.results import iter_results, read_summary
from evalkit.runner._send import Requests
from evalkit.testing import FakeOpenAIServer

ONE_ITEM = ("--prompts", "plain", "--languages", "de", "--limit", "1", "--no-report")


def _seed_echo(request: dict[str, Any]) -> str:
    return f"seed {request.get('seed')}"


def _by_repeat(out: Path) -> dict[int, Any]:
    return {r.repeat: r for r in iter_results(out / "results.jsonl")}


def test_repeat_seeds_are_derived_stable_and_distinct() -> None:
    assert repeat_seed(None, 3) is None
    assert repeat_seed(7, 0) == 7  # a run without repeats sends the suite's seed unchanged
    seeds = [repeat_seed(7, r) for r in range(200)]
    assert len(set(seeds)) == 200
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds[1:])
    assert seeds == [repeat_seed(7, r) for r in range(200)]
    assert repeat_seed(8, 1) != repeat_seed(7, 1)
    # Pinned (first 31 bits of sha256("evalkit-repeat:{seed}:{r}"), computed outside evalkit): the seeds are part
    # of every repeat's cache key, so a change would silently turn cached re-runs into new requests.
    assert [repeat_seed(7, 1), repeat_seed(1, 1), repeat_seed(1, 2)] == [931173950, 279434233, 367587896]


def test_the_seed_sent_is_the_seed_in_the_cache_key() -> None:
    params = {"temperature": 0.7, "max_tokens": 8, "seed": 5}
    requests = Requests("http://127.0.0.1:9/v1", "m", params)
    messages = ({"role": "user", "content": "hi"},)
    for repeat in range(3):
        item = Item("id", "c1", "de", "plain", repeat, "de", messages, (), repeat_seed(5, repeat))
        sent = requests.params_for(item)
        assert sent == {**params, "seed": repeat_seed(5, repeat)}
        assert requests.key(item) == cache_key("http://127.0.0.1:9/v1", "m", sent, messages, repeat)
    # Repeat 0 sends the suite's parameters unchanged: its cache entries from before per-repeat seeds still answer.
    assert requests.params_for(Item("id", "c1", "de", "plain", 0, "de", messages, (), 5)) is params


def test_each_repeat_sends_and_records_its_own_seed(tmp_path: Path) -> None:
    with FakeOpenAIServer(_seed_echo) as srv:
        suite = write_suite(tmp_path, srv.base_url)  # params: {temperature: 0, max_tokens: 32, seed: 1}
        out = tmp_path / "run"
        assert run_cli("run", suite, "--out", out, "--repeat", "3", *ONE_ITEM) == 0
        sent = sorted(r.body["seed"] for r in srv.chat_requests)
        results = _by_repeat(out)
        # The cache key holds the seed: a second run is answered from the cache, repeat by repeat.
        srv.reset()
        again = tmp_path / "again"
        assert run_cli("run", suite, "--out", again, "--repeat", "3", *ONE_ITEM) == 0
        assert srv.count == 0
    expected = [repeat_seed(1, r) for r in range(3)]
    assert expected[0] == 1
    assert sent == sorted(expected)
    assert [results[r].seed for r in range(3)] == expected
    assert [results[r].output for r in range(3)] == [f"seed {s}" for s in expected]
    assert {r: x.output for r, x in _by_repeat(again).items()} == {r: x.output for r, x in results.items()}


def test_without_a_suite_seed_no_seed_is_sent(tmp_path: Path) -> None:
    with FakeOpenAIServer(_seed_echo) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        suite.write_text(suite.read_text(encoding="utf-8").replace(", seed: 1", ""), encoding="utf-8")
        out = tmp_path / "run"
        assert run_cli("run", suite, "--out", out, "--repeat", "2", *ONE_ITEM) == 0
        assert all("seed" not in r.body for r in srv.chat_requests)
    assert [r.seed for r in _by_repeat(out).values()] == [None, None]


LOCAL_SUITE = """\
name: local-repeats
model:
  name: local:smollm2
  params: {{temperature: 1.0, seed: 11, max_tokens: 16}}
languages: [de]
prompts:
  plain:
    user: "Write one short sentence about {{{{ source }}}}."
cases:
  - id: c1
    source: the sea
    reference: Das Meer.
scorers:
  - exact_match
"""


@pytest.mark.local_model
@needs_model
def test_repeats_differ_on_the_embedded_model_at_temperature(tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "unused", LOCAL_SUITE)
    out = tmp_path / "run"
    assert run_cli("run", suite, "--out", out, "--repeat", "4", "--no-cache", "--no-report") == 0
    results = _by_repeat(out)
    outputs = [results[r].output for r in range(4)]
    assert all(o for o in outputs)
    assert len(set(outputs)) > 1, outputs  # the same seed on every repeat gave 4 identical answers
    assert [results[r].seed for r in range(4)] == [repeat_seed(11, r) for r in range(4)]
    assert read_summary(out).repeats == 4
    # And still reproducible: the same seeds give the same answers.
    again = tmp_path / "again"
    assert run_cli("run", suite, "--out", again, "--repeat", "4", "--no-cache", "--no-report") == 0
    assert [_by_repeat(again)[r].output for r in range(4)] == outputs
