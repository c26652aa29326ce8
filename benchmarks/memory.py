"""Peak memory of ``evalkit run`` as the suite grows: cases are streamed from JSONL and results are
streamed to disk, so the peak resident set size must stay flat (target: < 500 MB at 100,000 items).

    python -m benchmarks.memory                      # 10,000 and 100,000 items
    python -m benchmarks.memory --sizes 1000 20000   # other sizes

Each size runs ``python -m evalkit run`` in its own process against the fake server (a separate
process, zero latency, no cache, no report) and reads that process's peak RSS from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import ROOT, server_process, write_suite

TARGET_MB = 500.0


def measure(n_items: int, base_url: str, workdir: Path, *, concurrency: int = 32) -> dict[str, float]:
    """Run a suite of ``n_items`` items; return its peak RSS (MB), wall time and item count."""
    suite = write_suite(workdir / f"suite-{n_items}", n_items, base_url, concurrency=concurrency,
                        scorers="[chrf, exact_match]")
    out = workdir / f"run-{n_items}"
    env = {**os.environ, "EVALKIT_CACHE_DIR": str(workdir / "cache")}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit", "run", str(suite), "--out", str(out), "--no-cache", "--no-report"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"evalkit run failed ({proc.returncode}): {stderr[-2000:]}")
    with (out / "results.jsonl").open("rb") as fh:
        lines = sum(1 for _ in fh)
    if lines != n_items:
        raise RuntimeError(f"expected {n_items} results, found {lines}")
    return {"items": n_items, "peak_rss_mb": usage.ru_maxrss / 1024, "seconds": seconds,
            "items_per_s": n_items / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, server_process(latency=0.0, extra=["--max-records", "0"]) as url:
        for n in args.sizes:
            row = measure(n, url, Path(tmp))
            rows.append(row)
            print(f"{row['items']:>8,} items  peak RSS {row['peak_rss_mb']:7.1f} MB  "
                  f"{row['seconds']:7.1f} s  {row['items_per_s']:6.0f} items/s", flush=True)
    largest = max(rows, key=lambda r: r["items"])
    verdict = "ok" if largest["peak_rss_mb"] < TARGET_MB else "OVER TARGET"
    print(f"target < {TARGET_MB:.0f} MB at {largest['items']:,} items: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())

