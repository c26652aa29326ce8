"""`make bench`: each figure against its target, as a ratio (<= 1.00 meets the target).

Runs against the project's own OpenAI-compatible test server in a separate process on 127.0.0.1.
Writes the table to reports/benchmarks/latest.md. Median of several repetitions per figure.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import (
    ROOT,
    Figure,
    evalkit_cmd,
    machine_line,
    median_of,
    server_process,
    timed_run,
    write_suite,
)


def _server_times(url: str) -> dict[str, float]:
    import urllib.request

    root = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_evalkit/stats", timeout=10) as response:
        stats = json.loads(response.read())
    urllib.request.urlopen(urllib.request.Request(f"{root}/_evalkit/reset", method="POST"), timeout=10).close()
    return {"first": stats["first_arrival"], "last": stats["last_answer"]}


def bench_throughput(tmp: Path, repeats: int, n: int = 2000, latency: float = 0.2, conc: int = 64) -> Figure:
    """Whole-command wall time, split with the server's clock into start-up (to the first request),
    the request phase and the finish (after the last answer); the same for a bare aiohttp client."""
    ideal = n * latency / conc
    with server_process(latency) as url:
        suite = write_suite(tmp / "thr", n, url, concurrency=conc)
        _server_times(url)

        def timed(cmd: list[str]) -> tuple[float, float, float, float]:
            start = time.time()
            timed_run(cmd)
            end = time.time()
            t = _server_times(url)
            return end - start, t["first"] - start, t["last"] - t["first"], end - t["last"]

        def median_parts(cmd_for: Callable[[int], list[str]]) -> tuple[float, ...]:
            runs = [timed(cmd_for(i)) for i in range(repeats)]
            return tuple(statistics.median(r[k] for r in runs) for k in range(4))

        ev = median_parts(lambda i: evalkit_cmd("run", suite, "--out", tmp / f"thr-run{i}", "--no-cache",
                                                "--no-report"))
        bare = median_parts(lambda i: [sys.executable, "-m", "benchmarks.bare_client", url, str(n), str(conc)])
    return Figure("throughput: 2,000 items, 200 ms latency, 64 in flight (wall time)", ev[0], "s", ideal * 1.10,
                  False, f"ideal N×latency/C = {ideal:.2f} s; ratio to ideal {ev[0] / ideal:.2f} (start-up "
                  f"{ev[1]:.2f} s + requests {ev[2]:.2f} s + finish {ev[3]:.2f} s); a bare aiohttp client, same "
                  f"requests and nothing else: {bare[0]:.2f} s, ratio {bare[0] / ideal:.2f} ({bare[1]:.2f} + "
                  f"{bare[2]:.2f} + {bare[3]:.2f} s)")


def _server_stats(url: str) -> dict[str, Any]:
    import urllib.request

    root = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_evalkit/stats", timeout=10) as response:
        stats: dict[str, Any] = json.loads(response.read())
    urllib.request.urlopen(urllib.request.Request(f"{root}/_evalkit/reset", method="POST"), timeout=10).close()
    return stats


#: The rate-limit scenario: the server allows RATE requests/s (a token bucket holding one second's worth,
#: 429 + Retry-After: 1 beyond it), answers in LATENCY s, and fails the first attempt of 5% of the items
#: with a 500 and of 3% by dropping the connection.
RATE, LATENCY = 100.0, 0.2
RATE_FAULTS = [{"kind": "500", "match": r"^item\d{3}0[0-4] ", "attempts": [1]},
               {"kind": "drop", "match": r"^item\d{3}5[0-2] ", "attempts": [1]}]


def bench_ratelimit(tmp: Path, repeats: int, n: int = 2000, conc: int = 64) -> Figure:
    """Items per second while the server allows RATE requests per second, against the ideal N/RATE: the
    request phase by the server's clock (first request to last answer), 429s counted by the server."""
    ideal = n / RATE
    faults = tmp / "rate-faults.json"
    faults.write_text(json.dumps(RATE_FAULTS), encoding="utf-8")
    with server_process(LATENCY, ["--rate-limit", str(RATE), "--faults", str(faults)]) as url:
        suite = write_suite(tmp / "rate", n, url, concurrency=conc, max_attempts=6, numbered=True)
        _server_stats(url)

        def once(i: int) -> tuple[float, int, int]:
            timed_run(evalkit_cmd("run", suite, "--out", tmp / f"rate-run{i}", "--no-cache", "--no-report"))
            stats = _server_stats(url)
            return stats["last_answer"] - stats["first_arrival"], stats["count"], stats["rate_limited"]

        runs = sorted(once(i) for i in range(repeats))
        phase, sent, refused = runs[len(runs) // 2]
    rate = n / phase
    return Figure(f"rate-limited: 2,000 items, server allows {RATE:g} req/s, mixed 429/500/drop (request phase)",
                  phase, "s", ideal / 0.8, False,
                  f"ideal N/R = {ideal:.1f} s, ratio to ideal {phase / ideal:.2f}: {rate:.0f} items/s = "
                  f"{rate / RATE:.0%} of the allowed rate; {sent} requests, {refused} answered 429 "
                  f"({sent / max(refused, 1):.0f} requests per 429); {LATENCY * 1000:.0f} ms latency, "
                  f"--concurrency {conc}; 5% of items get a 500 and 3% a dropped connection first")


def bench_overhead(tmp: Path, repeats: int, n: int = 2000) -> list[Figure]:
    figures = []
    with server_process(0.0) as url:
        for label, scorers in (("BLEU + chrF++ + TER + exact match", "[bleu, {chrf: {plus: true}}, ter, exact_match]"),
                               ("exact match only", "[exact_match]")):
            suite = write_suite(tmp / f"ovh-{len(scorers)}", n, url, concurrency=64, scorers=scorers)

            def once(i: int, suite: Path = suite, tag: int = len(scorers)) -> float:
                return timed_run(evalkit_cmd("run", suite, "--out", tmp / f"ovh-run{tag}-{i}", "--no-cache",
                                             "--no-report"))

            wall = median_of(repeats, once)
            figures.append(Figure(f"overhead: 2,000 items, zero latency, {label}, writing (items/s)", n / wall,
                                  "items/s", 1000, True, f"{1000 * wall / n:.2f} ms per item, whole command"))
    return figures


def bench_cached(tmp: Path, repeats: int, n: int = 10000) -> Figure:
    cache = tmp / "cache.sqlite"
    with server_process(0.0) as url:
        suite = write_suite(tmp / "cached", n, url, concurrency=64)
        timed_run(evalkit_cmd("run", suite, "--out", tmp / "cached-warm", "--cache", cache, "--no-report"))

        def once(i: int) -> float:
            return timed_run(evalkit_cmd("run", suite, "--out", tmp / f"cached-run{i}", "--cache", cache,
                                         "--no-report"))

        wall = median_of(repeats, once)
    return Figure("fully cached re-run of 10,000 items (wall time)", wall, "s", 3.0, False)


def scoring_corpus(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """References and two systems' outputs: 5-30 words from a 5,000-word vocabulary (no two segments
    alike, so nothing is answered from a cache), outputs with substituted, dropped and moved words."""
    import random

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzäöüß"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 10))) for _ in range(5000)]
    refs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(5, 30))) + rng.choice([".", "?", "!"])
            for _ in range(n)]

    def system(p_sub: float) -> list[str]:
        out = []
        for ref in refs:
            words = [w if rng.random() > p_sub else rng.choice(vocab) for w in ref.split() if rng.random() > 0.05]
            if len(words) > 3 and rng.random() < 0.3:  # move a word
                words.insert(rng.randrange(len(words)), words.pop(rng.randrange(len(words))))
            out.append(" ".join(words))
        return out

    return refs, system(0.25), system(0.22)


def bench_scoring(repeats: int, n: int = 10000) -> Figure:
    import numpy as np

    from evalkit.scoring._pool import ItemScorer
    from evalkit.stats import PairedInput, corpus_score_fn, paired_bootstraps

    refs, base, cand = scoring_corpus(n)
    defs = [("bleu", "bleu", {}), ("chrf++", "chrf", {"plus": True}), ("ter", "ter", {})]

    results: list[dict[str, list[Any]]] = []

    def once(_: int) -> float:
        # The path a run's scoring workers take: batches of segments, every scorer, per-item scores;
        # this process and one worker process per other core (their start-up is timed too).
        start = time.perf_counter()
        scorer = ItemScorer(defs, workers=max(1, (os.cpu_count() or 1) - 1))
        scored = {side: scorer.score_many([("en", h, (r,)) for h, r in zip(hyps, refs, strict=True)])
                  for side, hyps in (("base", base), ("cand", cand))}
        # As `evalkit compare` does: one call for every metric, sharing the resamples.
        paired_bootstraps([
            PairedInput(*(np.array([item.stats[label] for item in scored[side]]) for side in ("base", "cand")),
                        score_fn=corpus_score_fn(build_metric(name, options)), metric=label,
                        higher_is_better=name != "ter")
            for label, name, options in defs
        ], n_resamples=1000, seed=0)
        elapsed = time.perf_counter() - start
        scorer.close()
        results[:] = [scored]  # the latest repeat only, for the check below
        return elapsed

    wall = median_of(repeats, once)
    check_against_sacrebleu(results[-1]["base"], base, refs, defs)
    return Figure("scoring 10,000 segment pairs of two runs with BLEU, chrF++, TER + 1,000-resample paired "
                  "bootstrap of each", wall, "s", 5.0, False,
                  f"20,000 segments scored (5-30 words each) by {os.cpu_count()} processes")


def check_against_sacrebleu(scored: list[Any], hyps: list[str], refs: list[str],
                            defs: list[tuple[str, str, dict[str, object]]]) -> None:
    """The fast path must give sacrebleu's own numbers: its corpus scores from the per-item statistics
    equal sacrebleu's corpus_score on the same text (untimed; the benchmark stops if they differ)."""
    import numpy as np

    for label, name, options in defs:
        metric = build_metric(name, options)
        ours = metric._compute_score_from_stats(  # type: ignore[attr-defined]
            np.sum([item.stats[label] for item in scored], axis=0).tolist()).score
        theirs = build_metric(name, options).corpus_score(hyps, [refs]).score  # type: ignore[attr-defined]
        if abs(ours - theirs) > 1e-9:
            raise RuntimeError(f"{label}: evalkit {ours!r} != sacrebleu {theirs!r}")


def build_metric(name: str, options: dict[str, object]) -> object:
    from evalkit.scoring import build_scorer

    return build_scorer(name, options, "en")._metric  # type: ignore[attr-defined]


def bench_startup(repeats: int) -> list[Figure]:
    help_s = median_of(repeats, lambda i: timed_run(evalkit_cmd("--help")))
    suite = ROOT / "suites" / "translation.yaml"
    figs = [Figure("start-up: evalkit --help", help_s, "s", 0.5, False)]
    if suite.exists():
        val = median_of(repeats, lambda i: timed_run(evalkit_cmd("validate", suite)))
        figs.append(Figure("start-up: evalkit validate suites/translation.yaml", val, "s", 1.0, False))
    return figs


def bench_memory(tmp: Path, n: int = 100_000) -> Figure:
    """Measured by ``benchmarks.memory`` in a fresh interpreter: a child's peak RSS as the kernel
    reports it counts what it inherited at fork, so the measuring process must itself be small
    (this one holds the scoring benchmark's results)."""
    out = tmp / "memory.json"
    # exits 1 when over the target: the figure is reported either way
    subprocess.run([sys.executable, "-m", "benchmarks.memory", "--sizes", str(n), "--json", str(out)],
                   cwd=ROOT, check=False, capture_output=True)
    if not out.exists():
        raise RuntimeError("benchmarks.memory wrote no measurement")
    peak = json.loads(out.read_text(encoding="utf-8"))[-1]["peak_rss_mb"]
    return Figure("peak memory of a 100,000-item run (RSS)", peak, "MB", 500, False)


def bench_local_model(repeats: int) -> Figure | None:
    try:
        from benchmarks.local_model import local_ratio
    except ImportError:
        return None
    result = local_ratio(repeats)
    if result is None:
        return None
    ratio, detail = result
    return Figure("embedded model: evalkit tokens/s ÷ direct llama-cpp-python tokens/s", ratio, "×", 0.9, True,
                  detail)


def render(figures: list[Figure]) -> str:
    lines = [
        "# evalkit benchmarks",
        "",
        f"Machine: {machine_line()}. Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench`.",
        "Ratio = value/target (lower is better) or target/value (higher is better): **≤ 1.00 meets the target**.",
        "",
        "| figure | value | target | ratio | met | notes |",
        "|---|---:|---:|---:|:-:|---|",
    ]
    for f in figures:
        op = "≥" if f.higher_is_better else "≤"
        lines.append(f"| {f.name} | {f.value:.3g} {f.unit} | {op} {f.target:g} {f.unit} | {f.ratio:.2f} | "
                     f"{'yes' if f.met else '**no**'} | {f.detail} |")
    return "\n".join(lines) + "\n"


def update_table(path: Path, figures: list[Figure]) -> None:
    """Replace the rows of ``figures`` in an existing table (matched by figure name), or add them; the
    JSON next to it likewise. The other rows are kept as they were measured."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = render(figures).splitlines()[7:]
    for fig, row in zip(figures, rows, strict=True):
        at = [i for i, line in enumerate(lines) if line.startswith(f"| {fig.name} |")]
        if at:
            lines[at[0]] = row
        else:
            last = max(i for i, line in enumerate(lines) if line.startswith("| "))
            lines.insert(last + 1, row)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data_path = path.with_suffix(".json")
    if data_path.exists():
        data = [d for d in json.loads(data_path.read_text(encoding="utf-8"))
                if d["name"] not in {f.name for f in figures}]
        data += [f.__dict__ | {"ratio": f.ratio, "met": f.met} for f in figures]
        data_path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="subset: throughput,overhead,cached,scoring,startup,memory,local,ratelimit")
    parser.add_argument("--update", action="store_true",
                        help="with --only: replace (or add) these figures' rows in --out, keep the others")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "latest.md")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    os.environ.setdefault("EVALKIT_CACHE_DIR", tempfile.mkdtemp(prefix="evalkit-bench-cache-"))
    # The benchmark suites suggest the local test server as their endpoint: with a key in the environment
    # evalkit would (rightly) refuse to send it there. No key and no endpoint choice of the caller leaks in.
    for name in ("AIMLAPI_API_KEY", "EVALKIT_BASE_URL", "EVALKIT_API_KEY_ENV"):
        os.environ.pop(name, None)
    # Byte-compile evalkit as installing a wheel does: with an editable install and
    # PYTHONDONTWRITEBYTECODE set (as on this project's machines) every command would otherwise
    # compile evalkit's modules from source first (~0.1 s) - a cost no installed copy pays.
    compileall.compile_dir(ROOT / "evalkit", quiet=1)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmpdir:
        tmp = Path(tmpdir)
        steps = {
            "throughput": lambda: [bench_throughput(tmp, args.repeats)],
            "overhead": lambda: bench_overhead(tmp, args.repeats),
            "cached": lambda: [bench_cached(tmp, args.repeats)],
            "scoring": lambda: [bench_scoring(args.repeats)],
            "startup": lambda: bench_startup(max(args.repeats, 5)),
            "memory": lambda: [bench_memory(tmp)],
            "local": lambda: [bench_local_model(args.repeats)],
            "ratelimit": lambda: [bench_ratelimit(tmp, args.repeats)],
        }
        for name, step in steps.items():
            if only and name not in only:
                continue
            print(f"running {name}...", file=sys.stderr, flush=True)
            for fig in step():
                if fig is not None:
                    figures.append(fig)
                    print(f"  {fig.name}: {fig.value:.3g} {fig.unit} (ratio {fig.ratio:.2f})", file=sys.stderr)
    table = render(figures)
    print(table)
    if only and args.update and args.out.exists():
        update_table(args.out, figures)
    if not only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        (args.out.with_suffix(".json")).write_text(
            json.dumps([f.__dict__ | {"ratio": f.ratio, "met": f.met} for f in figures], indent=2), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
