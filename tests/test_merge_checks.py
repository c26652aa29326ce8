"""`evalkit merge` checks its inputs (issue 11.3): one suite, model, parameters and shard count; every shard
1..N exactly once (or an incomplete run that names the missing ones); no item id twice; right planned counts.
Real shard runs against the project's fake OpenAI server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.errors import IncompatibleRuns, UsageError
from evalkit.merge import merge_runs
from evalkit.results import read_manifest
from evalkit.testing import FakeOpenAIServer

ITEMS = 18  # 3 cases x 3 languages x 2 variants (tests/helpers.py SUITE)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("shards")
    out: dict[str, Path] = {}
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp, srv.base_url)
        other = write_suite(tmp, srv.base_url, name="other.yaml")
        other.write_text(other.read_text(encoding="utf-8").replace("max_tokens: 32", "max_tokens: 31"),
                         encoding="utf-8")
        for name, path, args in [
            ("s1", suite, ["--shard", "1/2"]), ("s2", suite, ["--shard", "2/2"]),
            ("t1", suite, ["--shard", "1/3"]), ("t2", suite, ["--shard", "2/3"]), ("t3", suite, ["--shard", "3/3"]),
            ("full", suite, []), ("model2", suite, ["--shard", "2/2", "--model", "other-model"]),
            ("params2", other, ["--shard", "2/2"]),
        ]:
            out[name] = tmp / name
            assert run_cli("run", path, "--out", out[name], "--no-report", "--no-cache", *args) == 0
    out["suite"] = suite
    return out


def _n(run: Path) -> int:
    return len((run / "results.jsonl").read_text(encoding="utf-8").splitlines())


def test_every_shard_once_merges_complete(shards: dict[str, Path], tmp_path: Path) -> None:
    assert run_cli("merge", shards["t3"], shards["t1"], shards["t2"], "--out", tmp_path / "m", "--no-report") == 0
    m = read_manifest(tmp_path / "m")
    assert (m.status, m.counts.planned, m.counts.done, m.shard) == ("complete", ITEMS, ITEMS, None)
    assert _n(tmp_path / "m") == ITEMS
    assert run_cli("gate", tmp_path / "m", "--gates", _gates(tmp_path)) == 0


def test_a_missing_shard_writes_an_incomplete_run_that_fails_the_gate(
        shards: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "half"
    assert run_cli("merge", shards["s1"], "--out", out, "--no-report") == 3
    captured = capsys.readouterr()
    assert "shard 2/2 is missing" in captured.err and len(captured.err.strip().splitlines()) == 1
    m = read_manifest(out)
    assert m.status == "incomplete" and m.counts.planned == ITEMS and m.counts.done == _n(shards["s1"]) < ITEMS
    assert m.abort_reason is not None and "shard 2/2 is missing" in m.abort_reason
    assert run_cli("gate", out, "--gates", _gates(tmp_path)) == 1
    gate_out = capsys.readouterr().out
    missing = ITEMS - m.counts.done
    assert (f"FAIL run half is incomplete: {m.counts.done} of {ITEMS} items done, {missing} missing (shard 2/2 is "
            f"missing; the merged results.jsonl holds {m.counts.done} of {ITEMS} planned items)") in gate_out
    assert m.counts.missing == missing
    # Two of three shards: the missing one is named.
    assert run_cli("merge", shards["t1"], shards["t3"], "--out", tmp_path / "two", "--no-report") == 3
    assert "shard 2/3 is missing" in capsys.readouterr().err


def test_the_same_shard_twice_is_refused(shards: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("merge", shards["s1"], shards["s1"], "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert err.startswith("evalkit: error: ") and "shard 1/2 is given twice" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m" / "manifest.json").exists()
    with pytest.raises(IncompatibleRuns, match="shard 1/2 is given twice"):
        merge_runs([shards["s1"], shards["s1"]], tmp_path / "m2")


def test_different_shard_counts_are_refused(shards: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("merge", shards["s1"], shards["t2"], "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert "is shard 2/3" in err and "shard 1/2" in err


def test_an_unsharded_run_cannot_be_merged_with_shards(shards: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(IncompatibleRuns, match="is not a shard"):
        merge_runs([shards["s1"], shards["full"]], tmp_path / "m")
    # An unsharded run alone is its own complete merge.
    assert merge_runs([shards["full"]], tmp_path / "alone").status == "complete"


@pytest.mark.parametrize(("other", "what"), [("model2", "model"), ("params2", "suite")])
def test_other_model_or_parameters_are_refused(shards: dict[str, Path], tmp_path: Path, other: str,
                                               what: str) -> None:
    with pytest.raises(IncompatibleRuns, match=what):
        merge_runs([shards["s1"], shards[other]], tmp_path / "m")


def test_overlapping_item_ids_are_refused(shards: dict[str, Path], tmp_path: Path) -> None:
    # Shard 2 with one of shard 1's lines appended (a hand-assembled run directory).
    fake = tmp_path / "s2plus"
    fake.mkdir()
    (fake / "manifest.json").write_bytes((shards["s2"] / "manifest.json").read_bytes())
    first = (shards["s1"] / "results.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (fake / "results.jsonl").write_text((shards["s2"] / "results.jsonl").read_text(encoding="utf-8") + first + "\n",
                                        encoding="utf-8")
    item_id = json.loads(first)["item_id"]
    with pytest.raises(IncompatibleRuns) as info:
        merge_runs([shards["s1"], fake], tmp_path / "m")
    assert item_id in info.value.message and "s2plus" in info.value.message
    assert run_cli("merge", shards["s1"], fake, "--out", tmp_path / "m2") == 2


def test_an_input_that_lost_lines_makes_the_merge_incomplete(shards: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "s2short"
    short.mkdir()
    (short / "manifest.json").write_bytes((shards["s2"] / "manifest.json").read_bytes())
    lines = (shards["s2"] / "results.jsonl").read_text(encoding="utf-8").splitlines()
    (short / "results.jsonl").write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    assert run_cli("merge", shards["s1"], short, "--out", tmp_path / "m", "--no-report") == 3
    assert f"s2short: results.jsonl holds {_n(shards['s2']) - 1} of {_n(shards['s2'])} planned items" in \
        capsys.readouterr().err
    m = read_manifest(tmp_path / "m")
    assert (m.status, m.counts.planned, m.counts.done) == ("incomplete", ITEMS, ITEMS - 1)


def test_planned_count_without_the_suite_says_so(shards: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    moved = tmp_path / "s1moved"
    moved.mkdir()
    manifest = json.loads((shards["s1"] / "manifest.json").read_text(encoding="utf-8"))
    manifest["suite"]["path"] = str(tmp_path / "gone.yaml")
    (moved / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (moved / "results.jsonl").write_bytes((shards["s1"] / "results.jsonl").read_bytes())
    assert run_cli("merge", moved, "--out", tmp_path / "m", "--no-report") == 3
    err = capsys.readouterr().err
    assert "shard 2/2 is missing" in err and "planned count covers only the shards given" in err
    m = read_manifest(tmp_path / "m")
    assert m.status == "incomplete" and m.counts.planned == m.counts.done == _n(shards["s1"])


def test_out_must_be_new(shards: dict[str, Path]) -> None:
    with pytest.raises(UsageError):
        merge_runs([shards["s1"], shards["s2"]], shards["s1"])


def _gates(tmp_path: Path) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text("gates:\n  min_items: 1\n  thresholds: {exact_match: {min: 50}}\n", encoding="utf-8")
    return path


def test_a_selection_the_manifest_does_not_record_is_not_guessed(tmp_path: Path, server: FakeOpenAIServer,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, server.base_url)
    out = tmp_path / "l1"
    assert run_cli("run", suite, "--out", out, "--no-report", "--no-cache", "--limit", "2", "--shard", "1/2") == 0
    capsys.readouterr()
    # --limit is recorded: the whole plan (2 cases x 3 languages x 2 variants) is re-made from the suite.
    assert run_cli("merge", out, "--out", tmp_path / "m", "--no-report") == 3
    assert "shard 2/2 is missing" in capsys.readouterr().err
    m = read_manifest(tmp_path / "m")
    assert (m.status, m.counts.planned, m.counts.done, m.counts.missing) == ("incomplete", 12, _n(out), 12 - _n(out))
    # A manifest written before --limit was recorded: the plan is not guessed from the suite.
    old = tmp_path / "old"
    old.mkdir()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["limit"] = None
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (old / "results.jsonl").write_bytes((out / "results.jsonl").read_bytes())
    assert run_cli("merge", old, "--out", tmp_path / "m_old", "--no-report") == 3
    err = capsys.readouterr().err
    assert "shard 2/2 is missing" in err and "planned count covers only the shards given" in err and "--limit" in err
    m = read_manifest(tmp_path / "m_old")
    assert m.status == "incomplete" and m.counts.planned == m.counts.done == _n(out)
    # With --languages (recorded in the manifest) the whole plan is re-counted.
    de = tmp_path / "de1"
    assert run_cli("run", suite, "--out", de, "--no-report", "--no-cache", "--languages", "de", "--shard", "1/2") == 0
    assert run_cli("merge", de, "--out", tmp_path / "mde", "--no-report") == 3
    assert read_manifest(tmp_path / "mde").counts.planned == 6  # 3 cases x de x 2 variants
