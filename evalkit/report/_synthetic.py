"""Run directories written directly with :mod:`evalkit.results` models, scored by the real scorers.

For report tests, screenshots and the 20,000-item benchmark: no server, no model, but the same
files (``manifest.json``, ``results.jsonl``, ``summary.json``) a real run writes, with real sacrebleu
statistics and signatures. The ``language`` check is recorded from the given ``detected`` code
instead of running the detector. The prompt templates the items were rendered from are recorded in the
manifest when given (``write_run(prompts=...)``), as a real run records its suite's; the demo does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit import __version__
from evalkit.items import item_id_for
from evalkit.results import (
    MANIFEST,
    RESULTS,
    SUMMARY,
    Counts,
    ErrorInfo,
    ItemResult,
    ModelRecord,
    PromptRecord,
    RunManifest,
    ScorerBook,
    ScorerRecord,
    SuiteRecord,
    sacrebleu_version,
    scorer_record,
    summarize_run,
    write_json_atomic,
)

DEFAULT_SCORERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("bleu", {}), ("chrf", {"plus": True}), ("ter", {}), ("exact_match", {}), ("language", {}),
)


@dataclass(frozen=True)
class SyntheticItem:
    """One item of a synthetic run. ``output=None`` records a failed request of kind ``error_kind``."""

    case_id: str
    language: str
    variant: str
    prompt: str
    reference: str
    output: str | None
    detected: str | None = None  # the detected language (default: the target language)
    error_kind: str = "server_error"
    repeat: int = 0
    system: str | None = "You are a translator."  # the rendered system message (None: no system message)


def item_id(item: SyntheticItem) -> str:
    """The runner's stable id, so synthetic runs align with each other as real runs do."""
    return item_id_for(item.case_id, item.language, item.variant, item.repeat)


def _result(item: SyntheticItem, records: list[ScorerRecord], book: ScorerBook) -> ItemResult:
    result = ItemResult(
        item_id=item_id(item), case_id=item.case_id, language=item.language, variant=item.variant,
        repeat=item.repeat, target_language=item.language,
        messages=[*([{"role": "system", "content": item.system}] if item.system is not None else []),
                  {"role": "user", "content": item.prompt}],
        references=[item.reference], latency_ms=120.0,
    )
    if item.output is None:
        result.error = ErrorInfo(kind=item.error_kind, message=f"HTTP 500 from the endpoint ({item.error_kind})",
                                 status=500, attempts=3)
        result.attempts = 3
        return result
    result.output = item.output
    result.finish_reason = "stop"
    for rec in records:
        if rec.name == "language":
            detected = item.detected or item.language
            result.scores[rec.label] = 1.0 if detected == item.language else 0.0
            result.details[rec.label] = {"expected": item.language, "detected": detected, "confidence": 0.99,
                                         "reason": "ok" if detected == item.language else "wrong language"}
            continue
        s = book.get(rec.label, item.language).score(item.output, [item.reference])
        result.scores[rec.label] = s.value
        if s.stats is not None:
            result.stats[rec.label] = s.stats
        if s.details:
            result.details[rec.label] = s.details
    return result


def write_run(run_dir: Path, items: Iterable[SyntheticItem], *, model: str = "model-a",
              suite_name: str = "synthetic", scorers: Sequence[tuple[str, dict[str, Any]]] = DEFAULT_SCORERS,
              started_at: str = "2026-01-15T09:30:00+00:00", base_url: str = "http://127.0.0.1:8000/v1",
              prompts: Mapping[str, PromptRecord] | None = None) -> Path:
    """Write a complete run directory for ``items`` (scored with the real scorers) and return it. ``prompts``: the
    templates of each variant, recorded in the manifest as a run records its suite's (None: not recorded, as in
    a run written before evalkit recorded them)."""
    items = list(items)
    run_dir.mkdir(parents=True, exist_ok=True)
    languages = list(dict.fromkeys(i.language for i in items))
    variants = list(dict.fromkeys(i.variant for i in items))
    records = [scorer_record(name, options, languages[0] if languages else "en") for name, options in scorers]
    book = ScorerBook(records)
    results = [_result(i, records, book) for i in items]
    with (run_dir / RESULTS).open("w", encoding="utf-8") as handle:
        handle.writelines(r.model_dump_json() + "\n" for r in results)
    suite_text = json.dumps([suite_name, languages, variants, [list(s) for s in scorers]], sort_keys=True, default=str)
    manifest = RunManifest(
        evalkit_version=__version__, sacrebleu_version=sacrebleu_version(), python_version="3.11",
        suite=SuiteRecord(path=f"suites/{suite_name}.yaml", name=suite_name,
                          sha256=hashlib.sha256(suite_text.encode()).hexdigest()),
        model=ModelRecord(provider="openai", name=model, base_url=base_url, params={"temperature": 0, "seed": 1}),
        languages=languages, variants=variants, repeats=1 + max((i.repeat for i in items), default=0),
        scorers=records, started_at=started_at, finished_at=started_at, status="complete",
        counts=Counts(planned=len(results)),
        prompts={v: prompts[v] for v in variants if v in prompts} if prompts is not None else None,
    )
    manifest, summary = summarize_run(manifest, results)
    write_json_atomic(run_dir / MANIFEST, manifest)
    write_json_atomic(run_dir / SUMMARY, summary)
    return run_dir



# --- a small multilingual demo (tests, screenshots, docs) ----------------------------------------

XSS_OUTPUT = '<script>window.__pwned = 1; alert(1)</script><img src=x onerror="window.__pwned = 2">'

_SOURCES = {
    "c01": "Good morning",
    "c02": "Thank you very much",
    "c03": "The weather is nice today",
    "c04": "Where is the train station?",
    "c05": "I would like a cup of coffee",
    "c06": "The meeting starts at nine",
    "c07": "Please close the door",
    "c08": "How much does this cost?",
}
_REFS = {
    "de": ["Guten Morgen", "Vielen Dank", "Das Wetter ist heute schön", "Wo ist der Bahnhof?",
           "Ich hätte gern eine Tasse Kaffee", "Die Besprechung beginnt um neun", "Bitte schließen Sie die Tür",
           "Wie viel kostet das?"],
    "hi": ["सुप्रभात", "बहुत धन्यवाद", "आज मौसम अच्छा है", "रेलवे स्टेशन कहाँ है?", "मुझे एक कप कॉफ़ी चाहिए",
           "बैठक नौ बजे शुरू होती है", "कृपया दरवाज़ा बंद करें", "इसकी कीमत कितनी है?"],
    "th": ["สวัสดีตอนเช้า", "ขอบคุณมาก", "วันนี้อากาศดี", "สถานีรถไฟอยู่ที่ไหน", "ฉันอยากได้กาแฟหนึ่งถ้วย",
           "การประชุมเริ่มเก้าโมง", "กรุณาปิดประตู", "อันนี้ราคาเท่าไหร่"],
    "zh": ["早上好", "非常感谢", "今天天气很好", "火车站在哪里？", "我想要一杯咖啡", "会议九点开始", "请关门",
           "这个多少钱？"],
    "ja": ["おはようございます", "どうもありがとうございます", "今日は天気がいいです", "駅はどこですか？",
           "コーヒーを一杯ください", "会議は九時に始まります", "ドアを閉めてください", "これはいくらですか？"],
    "ar": ["صباح الخير", "شكرا جزيلا", "الطقس جميل اليوم", "أين محطة القطار؟", "أريد فنجان قهوة",
           "يبدأ الاجتماع في التاسعة", "من فضلك أغلق الباب", "كم سعر هذا؟"],
}
_NAMES = {"de": "German", "hi": "Hindi", "th": "Thai", "zh": "Chinese", "ja": "Japanese", "ar": "Arabic"}


def _degrade(text: str, language: str, k: int) -> str:
    """A plausible worse translation: drop or add a word (a character for scripts without spaces)."""
    if language in ("zh", "ja", "th"):
        cut = len(text) // 2
        return text[: cut - 1] + text[cut + 1:] if len(text) > 4 else text + "了"
    words = text.split()
    if len(words) > 2:
        return " ".join([*words[:-2], words[-1]]) if k % 2 else " ".join([*words[:2], words[1], *words[2:]])
    return f"{text} {text}"


def _cases(lang: str) -> list[tuple[str, str, str]]:
    """24 cases per language: two of the sentences above joined (ids, English source, reference)."""
    sources, refs = list(_SOURCES.values()), _REFS[lang]
    stop = {"zh": "。", "ja": "。", "hi": "। ", "th": " "}.get(lang, ". ")
    out: list[tuple[str, str, str]] = []
    for shift in (1, 3, 5):
        for i in range(len(sources)):
            j = (i + shift) % len(sources)
            source = sources[i] + ("" if sources[i].endswith("?") else ".") + " " + sources[j]
            ref = refs[i] + ("" if refs[i][-1] in "?？؟" else stop.rstrip()) + (" " if stop.endswith(" ") else "")
            out.append((f"c{len(out) + 1:02d}", source, ref + refs[j]))
    return out


_USER = {"plain": "Translate into {{ language.name }}: {{ source }}",
         "polite": "Please translate the following text into {{ language.name }}: {{ source }}"}
_SYSTEM = "You are a translator."
_CAND_POLITE_SYSTEM = "You are a careful translator.\nAnswer with the translation only."


def demo_prompts(candidate: bool) -> dict[str, PromptRecord]:
    """The demo's templates: the candidate changed the 'polite' variant's system prompt."""
    return {"plain": PromptRecord(user=_USER["plain"], system=_SYSTEM),
            "polite": PromptRecord(user=_USER["polite"], system=_CAND_POLITE_SYSTEM if candidate else _SYSTEM)}


def demo_items(candidate: bool) -> list[SyntheticItem]:
    """288 items (24 cases × 6 languages × 2 prompt variants), rendered from :func:`demo_prompts`. The candidate
    is worse in Thai, answers some Hindi prompts in English, better in German, fails one request, and returns an
    XSS payload for one item."""
    prompts = demo_prompts(candidate)
    items = []
    for li, lang in enumerate(_REFS):
        for ci, (case, source, ref) in enumerate(_cases(lang)):
            for variant in ("plain", "polite"):
                prompt = prompts[variant].user.replace("{{ language.name }}", _NAMES[lang]).replace("{{ source }}",
                                                                                                      source)
                out: str | None = ref
                detected = None
                k = li * 31 + ci * 7 + (variant == "polite")
                if candidate:
                    if k % 6 == 1 or lang == "th":
                        out = _degrade(ref, lang, k)
                    if lang == "hi" and ci % 3 == 0:
                        out, detected = f"{source}.", "en"
                    if lang == "de" and case == "c07" and variant == "plain":
                        out = XSS_OUTPUT
                    if lang == "ja" and case == "c08" and variant == "polite":
                        out = None
                elif k % 5 == 3 or lang == "de":
                    out = _degrade(ref, lang, k)
                items.append(SyntheticItem(case, lang, variant, prompt, ref, out, detected,
                                           system=prompts[variant].system))
    return items


def demo_runs(root: Path) -> tuple[Path, Path]:
    """Write ``root/base`` and ``root/cand`` (the demo above) and return both directories."""
    base = write_run(root / "base", demo_items(False), model="llama-3.2-3b-instruct", suite_name="demo-translate",
                     started_at="2026-01-15T09:30:00+00:00", prompts=demo_prompts(False))
    cand = write_run(root / "cand", demo_items(True), model="llama-3.2-3b-instruct-q4",
                     suite_name="demo-translate", started_at="2026-01-16T14:05:00+00:00", prompts=demo_prompts(True))
    return base, cand
