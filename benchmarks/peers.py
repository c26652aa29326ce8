"""`make bench-peers`: evalkit vs promptfoo on the same workload, against the same test server process.

Workload (the one the rivals were measured on in issue 7): 1,000 chat requests through the project's
OpenAI-compatible test server on 127.0.0.1, 32 in flight at most, once with a server that answers after
200 ms (ideal wall time 1000 × 0.2 / 32 = 6.25 s) and once with a server that answers at once (harness
overhead). Both tools do comparable work per item: one request and one exact comparison of the answer with
the expected text (evalkit's exact_match scorer; promptfoo's ``equals`` assertion), and both write their
results to disk. Every timed run is checked: the server must have seen exactly N chat requests and every
item must have passed, otherwise the figure is refused.

promptfoo is installed into ``.peers/promptfoo`` (git-ignored) with npm when missing, pinned to
PROMPTFOO_VERSION, the newest release that still runs on Node 20. Its telemetry and update checks are off
and its config/database directory lives in a temporary folder.

Writes the table to reports/benchmarks/peers.md (and prints it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import ROOT, evalkit_cmd, server_process, timed_run

PROMPTFOO_VERSION = "0.121.20"
PEERS_DIR = ROOT / ".peers"
PROMPTFOO_DIR = PEERS_DIR / "promptfoo"
PROMPTFOO_BIN = PROMPTFOO_DIR / "node_modules" / ".bin" / "promptfoo"
LATENCIES = (0.2, 0.0)
WORDS = "the quick brown fox jumps over a lazy dog while seven tired cats watch".split()


class PeerUnavailable(RuntimeError):
    """The rival tool cannot be installed or run on this machine (the message says why)."""


@dataclass(frozen=True)
class Workload:
    """The files both tools read: an evalkit suite and a promptfoo config over the same N cases."""

    n: int
    concurrency: int
    suite: Path
    promptfoo_config: Path


@dataclass
class Measured:
    """The timed repetitions of one tool on one server."""

    tool: str
    latency: float
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)  # user + sys seconds of the tool's processes
    peaks: list[int] = field(default_factory=list)
    self_reported: list[float] = field(default_factory=list)  # the tool's own "evaluation took" figure

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


# -- the workload ------------------------------------------------------------------------------------------


def sentences(n: int) -> list[str]:
    """N short English sentences (the echo server answers each with itself, so every item can pass)."""
    return [" ".join(WORDS[(i + k) % len(WORDS)] for k in range(8 + i % 5)) for i in range(n)]


def write_workload(directory: Path, n: int, base_url: str, concurrency: int) -> Workload:
    """Write the evalkit suite (+ cases.jsonl) and the promptfoo config (+ tests.csv) for one server."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = sentences(n)
    with (directory / "cases.jsonl").open("w", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps({"id": f"c{i}", "source": text, "reference": text}) + "\n")
    suite = directory / "suite.yaml"
    suite.write_text(
        f"""name: bench-peers
model: {{name: bench-model, base_url: "{base_url}", params: {{temperature: 0, max_tokens: 32}},
        concurrency: {concurrency}, max_attempts: 2}}
languages: [en]
prompts:
  p: {{user: "{{{{ source }}}}"}}
cases: {{file: cases.jsonl}}
scorers: [exact_match]
""",
        encoding="utf-8",
    )
    with (directory / "tests.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source", "__expected"])
        writer.writerows([text, f"equals:{text}"] for text in texts)
    config = directory / "promptfooconfig.yaml"
    config.write_text(
        f"""description: bench-peers
prompts:
  - "{{{{source}}}}"
providers:
  - id: openai:chat:bench-model
    config: {{apiBaseUrl: "{base_url}", apiKey: dummy, temperature: 0, max_tokens: 32}}
tests: file://tests.csv
""",
        encoding="utf-8",
    )
    return Workload(n, concurrency, suite, config)


# -- the test server's counters ----------------------------------------------------------------------------


def _server_call(base_url: str, path: str, method: str) -> dict[str, int]:
    root = base_url.removesuffix("/v1")
    req = urllib.request.Request(root + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as resp:  # 127.0.0.1 only
        data: dict[str, int] = json.loads(resp.read())
    return data


def reset_server(base_url: str) -> None:
    _server_call(base_url, "/_evalkit/reset", "POST")


def server_stats(base_url: str) -> dict[str, int]:
    """``count`` (requests since the last reset) and ``peak_concurrency``."""
    return _server_call(base_url, "/_evalkit/stats", "GET")


# -- promptfoo ---------------------------------------------------------------------------------------------


def _version_of(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""


def installed_promptfoo_version() -> str:
    """The version under .peers/promptfoo, or "" when it is not installed."""
    package = PROMPTFOO_DIR / "node_modules" / "promptfoo" / "package.json"
    if not (package.is_file() and PROMPTFOO_BIN.exists()):
        return ""
    version: str = json.loads(package.read_text(encoding="utf-8")).get("version", "")
    return version


def ensure_promptfoo() -> Path:
    """Install the pinned promptfoo into .peers/promptfoo unless it is already there; return its binary."""
    if installed_promptfoo_version() == PROMPTFOO_VERSION:
        return PROMPTFOO_BIN
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailable("promptfoo needs Node.js and npm, and this machine has neither on PATH")
    major = _version_of([node, "--version"]).lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 20:
        raise PeerUnavailable(f"promptfoo {PROMPTFOO_VERSION} needs Node.js >= 20.20, found {major or 'none'}")
    print(f"installing promptfoo {PROMPTFOO_VERSION} into {PROMPTFOO_DIR.relative_to(ROOT)} (npm)...",
          file=sys.stderr, flush=True)
    PROMPTFOO_DIR.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [npm, "install", "--prefix", str(PROMPTFOO_DIR), f"promptfoo@{PROMPTFOO_VERSION}", "--no-audit", "--no-fund"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0 or installed_promptfoo_version() != PROMPTFOO_VERSION:
        raise PeerUnavailable(f"npm install promptfoo@{PROMPTFOO_VERSION} failed: {proc.stderr.strip()[-600:]}")
    return PROMPTFOO_BIN


def promptfoo_env(config_dir: Path) -> dict[str, str]:
    """No telemetry, no update check, and a private config/database directory."""
    return {
        "PROMPTFOO_CONFIG_DIR": str(config_dir),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "NO_COLOR": "1",
    }


def promptfoo_cmd(binary: Path, workload: Workload, out: Path, *extra: str) -> list[str]:
    return [str(binary), "eval", "-c", str(workload.promptfoo_config), "--no-cache", "-j", str(workload.concurrency),
            "--no-progress-bar", "--no-table", "-o", str(out), *extra]


def check_promptfoo_output(out: Path, n: int) -> float:
    """Every test passed; returns promptfoo's own evaluation duration in seconds."""
    stats = json.loads(out.read_text(encoding="utf-8"))["results"]["stats"]
    if stats["successes"] != n or stats["errors"] or stats["failures"]:
        raise RuntimeError(f"promptfoo: {stats['successes']} passed, {stats['failures']} failed, "
                           f"{stats['errors']} errors (expected {n} passed) in {out}")
    return float(stats["durationMs"]) / 1000


# -- evalkit -----------------------------------------------------------------------------------------------


def evalkit_run_cmd(workload: Workload, out: Path, *extra: str) -> list[str]:
    return evalkit_cmd("run", workload.suite, "--out", out, "--no-cache", "--no-report",
                       "--concurrency", str(workload.concurrency), *extra)


def check_evalkit_output(out: Path, n: int) -> None:
    """Every item was done and passed exact_match."""
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    cells = json.loads((out / "summary.json").read_text(encoding="utf-8"))["cells"]
    if counts["done"] != n or counts["failed"] or any(c["value"] != 100.0 for c in cells):
        raise RuntimeError(f"evalkit: counts {counts}, exact_match {[c['value'] for c in cells]} in {out}")


# -- one timed repetition ----------------------------------------------------------------------------------


def children_cpu() -> float:
    """User + system CPU seconds of all waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_checked(cmd: list[str], env: dict[str, str], check: Callable[[], float | None], base_url: str, n: int,
                  into: Measured) -> None:
    """Reset the server's counters, time one run, check requests seen and results; record the figures.

    The test server is a child too, but it is only waited for when it stops, so its CPU time never
    lands in these deltas.
    """
    reset_server(base_url)
    cpu_before = children_cpu()
    wall = timed_run(cmd, env)
    cpu = children_cpu() - cpu_before
    stats = server_stats(base_url)
    if stats["count"] != n:
        raise RuntimeError(f"{into.tool}: the server saw {stats['count']} requests, expected {n}")
    reported = check()
    into.walls.append(wall)
    into.cpus.append(cpu)
    into.peaks.append(stats["peak_concurrency"])
    if reported is not None:
        into.self_reported.append(reported)
    print(f"  {into.tool} @ {into.latency * 1000:.0f} ms: {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"(peak {stats['peak_concurrency']} in flight)", file=sys.stderr, flush=True)


def bench_latency(tmp: Path, latency: float, n: int, concurrency: int, repeats: int,
                  promptfoo: Path | None) -> list[Measured]:
    """Both tools, interleaved, on ONE server process answering after ``latency`` seconds."""
    tag = f"{int(latency * 1000)}ms"
    evalkit = Measured("evalkit", latency)
    rival = Measured("promptfoo", latency)
    pf_env = promptfoo_env(tmp / "promptfoo-home")
    ek_env = {"EVALKIT_CACHE_DIR": str(tmp / "evalkit-cache")}
    with server_process(latency) as url:
        workload = write_workload(tmp / tag, n, url, concurrency)
        # One small untimed run of each first: page cache, promptfoo's database migration.
        timed_run(evalkit_run_cmd(workload, tmp / tag / "ek-warm", "--limit", "10"), ek_env)
        if promptfoo is not None:
            timed_run(promptfoo_cmd(promptfoo, workload, tmp / tag / "pf-warm.json", "-n", "10"), pf_env)

        def run_evalkit(rep: int) -> None:
            out = tmp / tag / f"ek-{rep}"
            timed_checked(evalkit_run_cmd(workload, out), ek_env, lambda: check_evalkit_output(out, n), url, n,
                          evalkit)

        def run_promptfoo(rep: int) -> None:
            assert promptfoo is not None
            out = tmp / tag / f"pf-{rep}.json"
            timed_checked(promptfoo_cmd(promptfoo, workload, out), pf_env, lambda: check_promptfoo_output(out, n),
                          url, n, rival)

        steps = [run_evalkit, run_promptfoo] if promptfoo is not None else [run_evalkit]
        for rep in range(repeats):
            # Alternate who goes first so neither tool always runs on a warmer (or busier) machine.
            for step in steps if rep % 2 == 0 else steps[::-1]:
                step(rep)
    return [evalkit, rival] if promptfoo is not None else [evalkit]


def startup_seconds(cmd: list[str], env: dict[str, str], repeats: int) -> float:
    """Median wall time of a command that does no evaluation (interpreter + imports)."""
    return statistics.median(timed_run(cmd, env) for _ in range(repeats))


# -- report ------------------------------------------------------------------------------------------------


def machine_facts(promptfoo: Path | None) -> list[str]:
    """Cores, CPU, OS, Python/Node versions, tool versions."""
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                    if ln.startswith("model name")), "")
    from evalkit import __version__ as evalkit_version

    node = shutil.which("node")
    return [
        f"- Machine: {os.cpu_count()} cores{f' ({cpu})' if cpu else ''}, {platform.system()} {platform.release()} "
        f"{platform.machine()}; the test server, the tool and this script share these cores.",
        f"- Python {platform.python_version()} (evalkit {evalkit_version} at {evalkit_revision()}, test server on "
        "aiohttp).",
        f"- Node {(_version_of([node, '--version']) if node else '') or 'not found'}, "
        f"npm {_version_of([shutil.which('npm') or 'npm', '--version']) or 'not found'}; "
        f"promptfoo {installed_promptfoo_version() if promptfoo else 'not available'}.",
    ]


def evalkit_revision() -> str:
    """The checked-out commit, and whether evalkit/ has uncommitted changes (they are what ran)."""
    head = _version_of(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "unknown commit"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "evalkit"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"{head}{' + uncommitted changes in evalkit/' if dirty else ''}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def render(results: list[Measured], n: int, concurrency: int, startups: dict[str, float], facts: list[str],
           notes: list[str]) -> str:
    by_latency: dict[float, dict[str, Measured]] = {}
    for m in results:
        by_latency.setdefault(m.latency, {})[m.tool] = m
    lines = [
        "# evalkit vs promptfoo (`make bench-peers`)",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `make bench-peers`.",
        "",
        f"Workload: {n:,} chat requests to the project's OpenAI-compatible test server on 127.0.0.1 (one server "
        f"process per latency, shared by both tools), {concurrency} in flight at most; one exact-match check per "
        "item (evalkit `exact_match`, promptfoo `equals`); no cache; results written to disk. Wall time of the "
        f"whole command, median of {len(results[0].walls)} interleaved repetitions; CPU time = user + system "
        "seconds of the tool's own processes (the server's excluded); every run checked "
        f"(server saw exactly {n:,} requests, all items passed). evalkit ÷ rival < 1 means evalkit is faster.",
        "",
        "| tool | server latency | wall time (median) | runs | ratio to ideal | evalkit ÷ rival | items/s "
        "| CPU time (median) | evalkit ÷ rival CPU | peak in flight | tool's own eval time |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for latency, tools in by_latency.items():
        ideal = n * latency / concurrency
        evalkit = tools["evalkit"]
        rival = tools.get("promptfoo")
        for m in tools.values():
            mine = rival is not None and m.tool == "evalkit"
            vs = _ratio(evalkit.wall, rival.wall) if mine and rival else ""
            vs_cpu = _ratio(evalkit.cpu, rival.cpu) if mine and rival else ""
            own = f"{statistics.median(m.self_reported):.2f} s" if m.self_reported else "—"
            lines.append(
                f"| {m.tool} | {latency * 1000:.0f} ms | {m.wall:.2f} s | {', '.join(f'{w:.2f}' for w in m.walls)} "
                f"| {_ratio(m.wall, ideal) if ideal else 'n/a (ideal 0)'} | {vs} | {n / m.wall:,.0f} "
                f"| {m.cpu:.2f} s | {vs_cpu} | {max(m.peaks)} | {own} |"
            )
        if ideal:
            lines.append(f"| *ideal* | {latency * 1000:.0f} ms | {ideal:.2f} s | | 1.00 | | {n / ideal:,.0f} "
                         f"| | | {concurrency} | |")
    lines += ["", "Start-up alone (no evaluation), median of 3:", ""]
    lines += [f"- {cmd}: {secs:.2f} s" for cmd, secs in startups.items()]
    lines += ["", "Machine and versions:", "", *facts]
    if notes:
        lines += ["", "Notes:", "", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-n", "--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmarks" / "peers.md")
    args = parser.parse_args(argv)
    notes: list[str] = []
    load_before = os.getloadavg()[0]
    try:
        promptfoo: Path | None = ensure_promptfoo()
    except PeerUnavailable as exc:
        print(f"bench-peers: {exc}; measuring evalkit alone", file=sys.stderr)
        notes.append(f"promptfoo was not measured: {exc}.")
        promptfoo = None
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="evalkit-peers-") as tmpdir:
        tmp = Path(tmpdir)
        startups = {"`python -m evalkit --help`": startup_seconds(evalkit_cmd("--help"), {}, 3)}
        if promptfoo is not None:
            startups["`promptfoo --version`"] = startup_seconds(
                [str(promptfoo), "--version"], promptfoo_env(tmp / "promptfoo-home"), 3)
        for latency in LATENCIES:
            print(f"latency {latency * 1000:.0f} ms...", file=sys.stderr, flush=True)
            results += bench_latency(tmp, latency, args.items, args.concurrency, args.repeats, promptfoo)
    load_after = os.getloadavg()[0]
    busy = max(load_before, load_after) > (os.cpu_count() or 1) * 0.75
    notes.append(f"1-minute load average {load_before:.1f} before and {load_after:.1f} after the benchmark on "
                 f"{os.cpu_count()} cores" + (
                     ": other processes were competing for the CPU, so the absolute wall times are inflated; the "
                     "interleaved ratios and the CPU times are the steadier figures." if busy else "."))
    table = render(results, args.items, args.concurrency, startups, machine_facts(promptfoo), notes)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
