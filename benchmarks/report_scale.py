"""Report scale: a 20,000-item comparison rendered to one HTML file and opened in headless Chromium.

Usage::

    PYTHONPATH=. python benchmarks/report_scale.py [--items 20000] [--out DIR]

Writes two synthetic run directories (evalkit.results models, scored by the real sacrebleu scorers),
compares them, renders ``compare.html`` and reports render time and file size; then opens the page in
the system Chromium (``make browser``) and measures the time until the first item table is rendered,
and how long a text search over all items takes. Targets: render + load < 10 s, file < 20 MB.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from evalkit.compare import compare_runs
from evalkit.report import write_compare_report, write_run_report
from evalkit.report._synthetic import SyntheticItem, write_run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SCORERS = (("bleu", {}), ("chrf", {"plus": True}), ("exact_match", {}), ("language", {}))

# Small per-script vocabularies: enough to make outputs, references and diffs look like text.
VOCAB = {
    "de": "der die das Haus Zug Morgen Wetter schön heute Kaffee Tür Stadt Buch klein groß gehen".split(),
    "fr": "le la les maison train matin temps beau café porte ville livre petit grand aller".split(),
    "es": "el la los casa tren mañana tiempo bonito café puerta ciudad libro pequeño grande ir".split(),
    "ru": "дом поезд утро погода хорошая кофе дверь город книга маленький большой идти".split(),
    "hi": "घर रेल सुबह मौसम अच्छा कॉफ़ी दरवाज़ा शहर किताब छोटा बड़ा जाना".split(),
    "ar": "بيت قطار صباح طقس جميل قهوة باب مدينة كتاب صغير كبير ذهب".split(),
    "sw": "nyumba treni asubuhi hali nzuri kahawa mlango mji kitabu ndogo kubwa kwenda".split(),
    "th": list("บ้านรถไฟเช้าอากาศดีกาแฟประตูเมืองหนังสือเล็กใหญ่ไป"),
    "zh": list("房子火车早上天气很好咖啡门城市书小大去"),
    "ja": list("家電車朝天気良いコーヒー扉町本小さい大きい行く"),
}


def _sentence(rng: random.Random, lang: str) -> str:
    words = [rng.choice(VOCAB[lang]) for _ in range(rng.randint(6, 14))]
    return ("" if lang in ("th", "zh", "ja") else " ").join(words)


def _mutate(rng: random.Random, text: str, lang: str) -> str:
    tokens = list(text) if lang in ("th", "zh", "ja") else text.split()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(tokens))
        if rng.random() < 0.5:
            del tokens[i]
        else:
            tokens.insert(i, rng.choice(VOCAB[lang]))
        if not tokens:
            tokens = [rng.choice(VOCAB[lang])]
    return ("" if lang in ("th", "zh", "ja") else " ").join(tokens)


def build_items(n: int, seed: int) -> tuple[list[SyntheticItem], list[SyntheticItem]]:
    """``n`` aligned items in 10 languages × 2 prompt variants; the candidate is worse in Thai and Hindi."""
    rng = random.Random(seed)
    langs = list(VOCAB)
    per = n // (len(langs) * 2)
    base, cand = [], []
    for lang in langs:
        for c in range(per):
            ref = _sentence(rng, lang)
            for variant in ("plain", "polite"):
                prompt = f"Translate into {lang}: sentence {c}"
                b = ref if rng.random() < 0.6 else _mutate(rng, ref, lang)
                worse = 0.5 if lang in ("th", "hi") else 0.15
                o = b if rng.random() > worse else _mutate(rng, ref, lang)
                detected = "en" if lang == "hi" and rng.random() < 0.05 else None
                base.append(SyntheticItem(f"c{c:05d}", lang, variant, prompt, ref, b))
                cand.append(SyntheticItem(f"c{c:05d}", lang, variant, prompt, ref, o, detected))
    return base, cand


def open_in_chromium(path: Path, table: str) -> dict[str, float]:
    """Seconds until the first item table is rendered, and for a text search over every item."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(120_000)
        start = time.perf_counter()
        page.goto(path.as_uri(), wait_until="commit")
        page.wait_for_selector(f"#{table}[data-ready]")
        first_table = time.perf_counter() - start
        in_page = float(page.evaluate("performance.now()")) / 1000
        start = time.perf_counter()
        page.fill(f"#{table} input.search", "zzz-no-such-text")
        page.wait_for_selector(f"#{table}[data-matching='0']")
        search = time.perf_counter() - start
        browser.close()
    return {"first_table_s": first_table, "first_table_in_page_s": in_page, "search_s": search}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="Keep the runs and reports here (default: a temp dir).")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="evalkit-report-scale-"))
    t0 = time.perf_counter()
    base_items, cand_items = build_items(args.items, args.seed)
    base = write_run(root / "base", base_items, model="model-a", suite_name="scale", scorers=SCORERS)
    cand = write_run(root / "cand", cand_items, model="model-b", suite_name="scale", scorers=SCORERS)
    t_runs = time.perf_counter() - t0

    t0 = time.perf_counter()
    comparison = compare_runs(base, cand)
    t_compare = time.perf_counter() - t0
    t0 = time.perf_counter()
    page = write_compare_report([comparison], root / "compare.html")
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_page = write_run_report(cand, root / "run.html")
    t_run_render = time.perf_counter() - t0
    size_mb = page.stat().st_size / 1e6

    print(f"items per run:           {len(comparison.pairs):,} aligned ({len(comparison.metrics)} metric cells)")
    print(f"write + score two runs:  {t_runs:6.2f} s (setup, not part of the target)")
    print(f"compare_runs:            {t_compare:6.2f} s (statistics, 1000 bootstrap resamples)")
    print(f"render compare.html:     {t_render:6.2f} s, {size_mb:.2f} MB")
    print(f"render run.html:         {t_run_render:6.2f} s, {run_page.stat().st_size / 1e6:.2f} MB")
    try:
        timing = open_in_chromium(page, "cand1-items")
    except Exception as exc:  # a missing browser should not hide the render numbers
        print(f"chromium: skipped ({type(exc).__name__}: {exc}); run `make browser`", file=sys.stderr)
        return 1
    print(f"chromium first table:    {timing['first_table_s']:6.2f} s (wall, from navigation; "
          f"{timing['first_table_in_page_s']:.2f} s by performance.now())")
    print(f"chromium search 20k:     {timing['search_s']:6.2f} s (type, debounce 120 ms, filter, render)")
    total = t_render + timing["first_table_s"]
    ok = total < 10 and size_mb < 20
    print(f"render + load:           {total:6.2f} s  (target < 10 s)  size {size_mb:.2f} MB (target < 20 MB)  "
          f"{'OK' if ok else 'MISSED'}")
    print(f"files: {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
