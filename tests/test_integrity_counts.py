"""One completeness rule everywhere (issue #11 follow-up): ``evalkit run`` (resuming), ``evalkit gate`` and
``evalkit merge`` count one hostile ``results.jsonl`` the same way and reach the same verdict; a merged run's
manifest carries a run's counts; shards whose prices differ are refused. Real runs against the fake server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import run_cli, translator, write_suite

from evalkit.compare import load_run
from evalkit.errors import IncompatibleRuns
from evalkit.merge import merge_runs
from evalkit.results import Counts, IdTally, read_manifest
from evalkit.runner._rundir import prepare_resume
from evalkit.testing import FakeOpenAIServer

PLANNED = 18  # helpers.SUITE: 3 cases x 3 languages x 2 variants
HOSTILE = "17 of 18 planned items, 1 duplicate line, 1 unplanned item id and 1 damaged line"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    out: dict[str, Path] = {}
    with FakeOpenAIServer(translator) as srv:
        out["suite"] = write_suite(tmp, srv.base_url)
        for name, args in [("full", []), ("s1", ["--shard", "1/2"]), ("s2", ["--shard", "2/2"])]:
            out[name] = tmp / name
            assert run_cli("run", out["suite"], "--out", out[name], "--no-report", "--no-cache", *args) == 0
    return out


def _hostile(full: Path, dst: Path) -> Path:
    """``full``'s run with one item lost, one line twice, one item that is not planned and one damaged line."""
    lines = (full / "results.jsonl").read_bytes().splitlines(keepends=True)
    unplanned = json.dumps({**json.loads(lines[2]), "item_id": "f" * 20}).encode() + b"\n"
    damaged = b'{"v": 1, "item_id": "0123", "case_id": \n'
    dst.mkdir()
    shutil.copy(full / "manifest.json", dst / "manifest.json")
    (dst / "results.jsonl").write_bytes(b"".join([lines[1], damaged, *lines[2:], lines[1], unplanned]))
    return dst


def _gates(tmp_path: Path) -> Path:
    path = tmp_path / "gates.yaml"
    path.write_text("gates:\n  min_items: 1\n", encoding="utf-8")
    return path


def test_one_hostile_file_one_verdict_from_resume_gate_and_merge(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(translator) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "full", "--no-report", "--no-cache") == 0
        hostile = _hostile(tmp_path / "full", tmp_path / "hostile")
        resumed = tmp_path / "resumed"
        shutil.copytree(hostile, resumed)
        capsys.readouterr()
        expected = Counts(planned=PLANNED, done=PLANNED + 1, missing=1, duplicates=1, unplanned=1, damaged=1)
        manifest = read_manifest(hostile)
        assert manifest.planned_ids is not None and len(manifest.planned_ids) == PLANNED

        # The gate: exit 1, the counts named on one line.
        run = load_run(hostile)
        assert run.tally is not None and run.tally.counts() == expected and not run.tally.complete
        assert run_cli("gate", hostile, "--gates", _gates(tmp_path)) == 1
        gate_out = capsys.readouterr().out
        assert f"FAIL run hostile is incomplete: results.jsonl holds {HOSTILE} (the manifest says complete)" \
            in gate_out

        # merge: the input named with the same counts, an incomplete run written, exit 3.
        assert run_cli("merge", hostile, "--out", tmp_path / "merged", "--no-report") == 3
        assert f"hostile: results.jsonl holds {HOSTILE}" in capsys.readouterr().err
        assert read_manifest(tmp_path / "merged").status == "incomplete"

        # A resume finds the same (before it quarantines and repairs), then finishes the run.
        copy = tmp_path / "copy"
        shutil.copytree(hostile, copy)
        assert prepare_resume(copy / "results.jsonl", set(manifest.planned_ids), str(manifest.run_key),
                              vouched=True).found.counts() == expected
        sent = srv.count
        assert run_cli("run", suite, "--out", resumed, "--no-report", "--no-cache") == 0
        assert srv.count == sent + 1  # only the missing item
    assert f"{resumed}: resuming, results.jsonl holds {HOSTILE}" in capsys.readouterr().err
    done = read_manifest(resumed)
    assert done.status == "complete" and done.counts.missing == done.counts.duplicates == 0
    assert done.counts.quarantined == 2  # the damaged and the unplanned line


def test_the_tally_wording_and_verdict() -> None:
    tally = IdTally({"a", "b"})
    assert tally.problem() == "results.jsonl holds 0 of 2 planned items"
    assert not tally.complete
    # Planned ids unknown (an old manifest): extra ids are unplanned all the same.
    legacy = IdTally(1)
    for raw in [b'{"item_id": "a"}', b"", b"not json"]:
        legacy.take(raw)
    assert legacy.damaged == 2 and legacy.done == 0  # a line without the required fields is damaged too


def test_a_merge_with_a_partial_shard_records_a_runs_counts(runs: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Shard 2 stopped early: two of its items never written.
    partial = tmp_path / "s2partial"
    partial.mkdir()
    manifest = json.loads((runs["s2"] / "manifest.json").read_text(encoding="utf-8"))
    manifest["status"] = "interrupted"
    (partial / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    lines = (runs["s2"] / "results.jsonl").read_bytes().splitlines(keepends=True)
    (partial / "results.jsonl").write_bytes(b"".join(lines[2:]))
    merged = merge_runs([runs["s1"], partial], tmp_path / "m")
    done = PLANNED - 2
    # What a run that wrote these lines records (evalkit/runner/_write.py: the same summarize_file and IdTally).
    assert merged.counts == Counts(planned=PLANNED, done=done, missing=2)
    assert merged.planned_ids == read_manifest(runs["full"]).planned_ids
    assert read_manifest(tmp_path / "m").counts == merged.counts
    assert run_cli("gate", tmp_path / "m", "--gates", _gates(tmp_path)) == 1
    out = capsys.readouterr().out
    assert f"FAIL run m is incomplete: {done} of {PLANNED} items done, 2 missing" in out


def _with_prices(src: Path, dst: Path, prices: dict[str, object] | None) -> Path:
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text(encoding="utf-8"))
    manifest["prices"] = prices
    (dst / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return dst


def test_shards_with_different_prices_are_refused(runs: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cheap = {"model": "test-model", "input_per_mtok": 0.15, "output_per_mtok": 0.6, "source": "--price-in"}
    dear = {**cheap, "output_per_mtok": 1.2}
    a = _with_prices(runs["s1"], tmp_path / "a", cheap)
    b = _with_prices(runs["s2"], tmp_path / "b", dear)
    assert run_cli("merge", a, b, "--out", tmp_path / "m", "--no-report") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the prices differ" in err and str(a) in err and str(b) in err
    assert "0.6" in err and "1.2" in err
    assert not (tmp_path / "m" / "manifest.json").exists()
    # Prices on one shard only: refused too (the cost of the other half is unknown).
    with pytest.raises(IncompatibleRuns, match="the prices differ"):
        merge_runs([a, runs["s2"]], tmp_path / "m2")
    # Equal prices (from another source) merge, and the merged run keeps them.
    same = _with_prices(runs["s2"], tmp_path / "same", {**cheap, "source": "prices.yaml"})
    merged = merge_runs([a, same], tmp_path / "m3")
    assert merged.status == "complete" and merged.prices is not None and merged.prices.output_per_mtok == 0.6


@pytest.mark.parametrize(("field", "value", "what"), [
    ("model.base_url", "http://127.0.0.1:1/v1", "the model endpoint differs"),
    ("model.provider", "local", "the model provider differs"),
    ("limit", 1, "the --limit values differ"),
    ("sacrebleu_version", "1.5.0", "the sacrebleu version differs"),
])
def test_shards_of_another_identity_are_refused(runs: dict[str, Path], tmp_path: Path, field: str, value: object,
                                                what: str) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs["s2"], other)
    manifest = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
    *parents, name = field.split(".")
    target = manifest
    for part in parents:
        target = target[part]
    target[name] = value
    (other / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IncompatibleRuns, match=what) as info:
        merge_runs([runs["s1"], other], tmp_path / "m")
    assert str(other) in info.value.message and str(runs["s1"]) in info.value.message
    assert not (tmp_path / "m").exists()


def test_a_line_damaged_during_a_run_is_counted_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    calls = iter(range(1000))

    def vandal(request: dict[str, object]) -> str:
        if next(calls) == 5:
            with (out / "results.jsonl").open("ab") as handle:
                handle.write(b"garbage\n")
        return translator(request)  # type: ignore[arg-type]

    with FakeOpenAIServer(vandal) as srv:
        suite = write_suite(tmp_path, srv.base_url)
        code = run_cli("run", suite, "--out", out, "--no-report", "--no-cache", "--concurrency", "1",
                       "--price-in", "1", "--price-out", "2")
    err = capsys.readouterr().err
    assert code == 3, err  # could not complete: not "bad input"
    m = read_manifest(out)
    assert m.status == "incomplete" and m.counts.damaged == 1 and m.counts.missing == 0
    assert m.abort_reason == "results.jsonl holds all 18 planned items and 1 damaged line"
    assert m.prices is not None  # recorded although the run is incomplete
    assert "results.jsonl holds all 18 planned items and 1 damaged line" in err
