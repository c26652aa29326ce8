"""Pairwise judging of a baseline against a candidate: which answer to the same item is better?

Each aligned item (first repeat, both answered) is shown to the judge twice, base first (A/B) and candidate
first (B/A), to cancel position bias. The two verdicts agree → that verdict; they disagree (the judge
preferred a position, not an answer) → a tie, counted as order-inconsistent. A reply without exactly one
``VERDICT: A|B|TIE`` line makes the item unparsable (reported, not counted). Per language: wins, ties and
losses of the candidate, the candidate's share of the decisive items with a 95% Wilson interval, and an exact
two-sided sign test (wins vs losses), Holm-corrected over the languages. "Loses significantly" is more
losses than wins with a corrected p below alpha.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from evalkit.cache import ResponseCache, response_keys
from evalkit.compare._model import Comparison, ItemPair
from evalkit.config import user_endpoint
from evalkit.errors import ProviderError, RunAborted
from evalkit.providers import Provider, Request, RetryPolicy, complete_with_retries, make_provider
from evalkit.redact import strip_url_credentials
from evalkit.scoring._judge import VERDICT_MENTIONS, JudgeUnparsable, last_user_message
from evalkit.stats import holm, mcnemar_exact_p, wilson_interval
from evalkit.suite import DEFAULT_BASE_URL, ModelSpec
from evalkit.suite._schema import GenerationParams
from evalkit.templating import Message, language_context

if TYPE_CHECKING:
    from evalkit.gate._checks import Check

Preference = Literal["base", "cand", "tie"]

SYSTEM = (
    "You are a strict, impartial evaluator comparing two answers to the same request. The answers must be in "
    "{name} ({code}): judge correctness, helpfulness, instruction following and fluency in that language. Do not "
    "prefer an answer for its length or its position. Think briefly, then end your reply with exactly one line: "
    "VERDICT: A, VERDICT: B or VERDICT: TIE."
)
USER = "Request:\n{question}\n\n[Answer A]\n{a}\n[End of answer A]\n\n[Answer B]\n{b}\n[End of answer B]"
_LINE = re.compile(r"^[\s*#_>]*verdict[\s*_]*[:=][\s*_\[]*(a|b|tie)[\s*_\].]*$", re.IGNORECASE)


def parse_preference(text: str) -> Literal["A", "B", "TIE"]:
    """The one ``VERDICT: A|B|TIE`` line of a reply; anything else raises ``JudgeUnparsable``."""
    found = [m.group(1).upper() for line in text.splitlines() if (m := _LINE.match(line))]
    if len(found) != 1 or len(VERDICT_MENTIONS.findall(text)) != 1:
        raise JudgeUnparsable("no single 'VERDICT: A|B|TIE' line" if not found else f"{len(found)} verdicts")
    return "A" if found[0] == "A" else "B" if found[0] == "B" else "TIE"


def combine(ab: str, ba: str) -> tuple[Preference, bool]:
    """(the item's preference, whether the two orders agreed). ``ab``: base shown as A; ``ba``: cand as A."""
    first: Preference = "base" if ab == "A" else "cand" if ab == "B" else "tie"
    second: Preference = "cand" if ba == "A" else "base" if ba == "B" else "tie"
    return (first, True) if first == second else ("tie", False)


@dataclass(frozen=True)
class PairVerdict:
    key: str
    language: str
    case_id: str
    preference: Preference | None  # None: a reply could not be parsed
    consistent: bool
    replies: tuple[str, str]  # the judge's replies, A/B then B/A
    error: str | None = None


@dataclass(frozen=True)
class LanguagePairwise:
    language: str
    wins: int
    ties: int
    losses: int
    inconsistent: int
    unparsable: int
    p: float  # exact sign test, wins vs losses
    p_adjusted: float = 1.0
    ci: tuple[float, float] = (0.0, 1.0)  # the candidate's share of decisive items, Wilson 95%

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def win_share(self) -> float | None:
        decisive = self.wins + self.losses
        return self.wins / decisive if decisive else None

    @property
    def share_text(self) -> str:
        """The candidate's share with its interval, as every output shows it: ``62% [41%, 80%]``."""
        return f"{_pct(self.win_share)} [{_pct(self.ci[0])}, {_pct(self.ci[1])}]"

    def loses_significantly(self, alpha: float) -> bool:
        return self.losses > self.wins and self.p_adjusted < alpha


@dataclass
class Pairwise:
    judge: str
    alpha: float
    languages: list[LanguagePairwise]
    verdicts: list[PairVerdict] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # the judge's request parameters (its cache key has them)

    @property
    def judge_label(self) -> str:
        """The judge and its parameters: ``judge-model (max_tokens=512, temperature=0)``."""
        return f"{self.judge} ({params_text(self.params)})" if self.params else self.judge

    @property
    def consistency(self) -> float | None:
        judged = [v for v in self.verdicts if v.preference is not None]
        return sum(v.consistent for v in judged) / len(judged) if judged else None

    def lines(self) -> list[str]:
        out = [f"pairwise judge {self.judge_label}: order-consistent {_pct(self.consistency)} of items, "
               f"{sum(x.unparsable for x in self.languages)} unparsable"]
        for x in self.languages:
            flag = " LOSES significantly" if x.loses_significantly(self.alpha) else ""
            out.append(f"{x.language}: {x.wins} wins / {x.ties} ties ({x.inconsistent} order-inconsistent) / "
                       f"{x.losses} losses, candidate share {x.share_text}, "
                       f"sign test p={x.p_adjusted:.3g}{flag}")
        return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))


def summarise(verdicts: Sequence[PairVerdict], judge: str, alpha: float, order: Sequence[str],
              params: dict[str, Any] | None = None) -> Pairwise:
    """Per-language win/tie/loss counts, intervals and Holm-corrected sign tests."""
    langs = sorted({v.language for v in verdicts}, key=lambda x: (order.index(x) if x in order else len(order), x))
    rows = []
    for lang in langs:
        mine = [v for v in verdicts if v.language == lang]
        wins = sum(v.preference == "cand" for v in mine)
        losses = sum(v.preference == "base" for v in mine)
        ci = wilson_interval(wins, wins + losses) if wins + losses else (0.0, 1.0)
        rows.append(LanguagePairwise(lang, wins, sum(v.preference == "tie" for v in mine), losses,
                                     sum(not v.consistent and v.preference is not None for v in mine),
                                     sum(v.preference is None for v in mine), mcnemar_exact_p(wins, losses), ci=ci))
    adjusted = holm([r.p for r in rows]) if rows else []
    rows = [replace(r, p_adjusted=p) for r, p in zip(rows, adjusted, strict=True)]
    return Pairwise(judge, alpha, rows, list(verdicts), dict(params or {}))


def user_judge_spec(name: str, base_url: str | None = None, api_key_env: str | None = None,
                    max_tokens: int = 512, params: GenerationParams | None = None) -> ModelSpec:
    """The judge the person running ``compare`` named, at the endpoint and key variable they chose
    (``--base-url``, ``$EVALKIT_BASE_URL``, the project config; the default endpoint needs its key), with
    ``params`` (default: greedy decoding, ``max_tokens``)."""
    if params is None:
        params = default_judge_params(max_tokens)
    if name.startswith("local:"):
        return ModelSpec(name=name, params=params)
    chosen = user_endpoint(base_url=base_url, api_key_env=api_key_env)
    url, key_env = chosen.base_url, chosen.api_key_env
    if url.rstrip("/") == DEFAULT_BASE_URL.rstrip("/") and not os.environ.get(key_env):
        raise RunAborted(f"no API key for the judge: the environment variable {key_env} is not set, and "
                         f"{DEFAULT_BASE_URL} needs one (set it, or pass --base-url for a keyless server)")
    return ModelSpec(name=name, base_url=url, api_key_env=key_env, params=params)


def default_judge_params(max_tokens: int = 512) -> GenerationParams:
    return GenerationParams(temperature=0, max_tokens=max_tokens)


def _question(pair: ItemPair) -> str:
    return last_user_message(pair.base.messages)


def judge_messages(pair: ItemPair, first: str, second: str) -> tuple[Message, ...]:
    target = language_context(pair.base.target_language or pair.language)
    return ({"role": "system", "content": SYSTEM.format(name=target["name"], code=target["code"])},
            {"role": "user", "content": USER.format(question=_question(pair), a=first, b=second)})


class PairwiseJudge:
    """Asks one judge model about aligned pairs, both orders, through the response cache."""

    def __init__(self, spec: ModelSpec, cache: ResponseCache | None, policy: RetryPolicy | None = None) -> None:
        self.spec = spec
        self.cache = cache
        self.policy = policy or RetryPolicy(max_attempts=spec.max_attempts)
        self.endpoint = strip_url_credentials(spec.base_url) if spec.resolved_provider == "openai" else "local"
        self.params = spec.params.as_body()
        self._key = response_keys(self.endpoint, spec.name, self.params)
        self._provider: Provider | None = None
        self._slots: asyncio.Semaphore | None = None

    async def _ask(self, messages: tuple[Message, ...]) -> str:
        key = self._key(messages, 0)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit.text
        if self._provider is None:
            self._provider = make_provider(self.spec)
            cap = self._provider.max_concurrency or self.spec.concurrency
            self._slots = asyncio.Semaphore(max(1, min(cap, self.spec.concurrency)))
        assert self._slots is not None
        completion, error = await complete_with_retries(self._provider, Request(messages, self.params), self.policy,
                                                        self._slots)
        if completion is None:
            assert error is not None
            raise error
        if self.cache is not None:
            self.cache.put(key, completion)
        return completion.text

    async def verdict(self, pair: ItemPair) -> PairVerdict:
        base, cand = pair.base.output or "", pair.cand.output or ""
        try:
            replies = await asyncio.gather(self._ask(judge_messages(pair, base, cand)),
                                           self._ask(judge_messages(pair, cand, base)))
        except ProviderError as exc:
            return PairVerdict(pair.key, pair.language, pair.case_id, None, False, ("", ""),
                               f"{exc.kind}: {exc.message}")
        try:
            preference, consistent = combine(parse_preference(replies[0]), parse_preference(replies[1]))
        except JudgeUnparsable as exc:
            return PairVerdict(pair.key, pair.language, pair.case_id, None, False, (replies[0], replies[1]), str(exc))
        return PairVerdict(pair.key, pair.language, pair.case_id, preference, consistent, (replies[0], replies[1]))

    async def judge(self, comparison: Comparison) -> Pairwise:
        pairs = [p for p in comparison.pairs if p.repeat == 0 and p.base.error is None and p.cand.error is None
                 and p.base.output is not None and p.cand.output is not None]
        try:
            verdicts = await asyncio.gather(*(self.verdict(p) for p in pairs))
        finally:
            if self._provider is not None:
                await self._provider.aclose()
                self._provider = None
        return summarise(verdicts, self.spec.name, comparison.alpha, comparison.base.manifest.languages, self.params)


def judge_comparison(comparison: Comparison, spec: ModelSpec, cache: ResponseCache | None) -> Pairwise:
    return asyncio.run(PairwiseJudge(spec, cache).judge(comparison))


def markdown(result: Pairwise) -> str:
    rows = ["## Pairwise judge", "", f"Judge `{result.judge_label}`, both orders per item; order-consistent "
            f"{_pct(result.consistency)}.", "",
            "| language | wins | ties (inconsistent) | losses | unparsable | candidate share [95% CI] | sign test p |",
            "|---|---|---|---|---|---|---|"]
    for x in result.languages:
        flag = " **loses**" if x.loses_significantly(result.alpha) else ""
        rows.append(f"| {x.language} | {x.wins} | {x.ties} ({x.inconsistent}) | {x.losses} | {x.unparsable} | "
                    f"{x.share_text} | {x.p_adjusted:.3g}{flag} |")
    return "\n".join(rows) + "\n"


def html_section(result: Pairwise, comparison: Comparison) -> str:
    """The pairwise block of the HTML comparison page: the table, then each item's verdict next to its answers."""
    esc = html.escape
    answers = {p.key: p for p in comparison.pairs}
    rows = "".join(
        f"<tr><td>{esc(x.language)}</td><td>{x.wins}</td><td>{x.ties} ({x.inconsistent})</td><td>{x.losses}</td>"
        f"<td>{x.unparsable}</td><td>{x.share_text}</td>"
        f"<td>{x.p_adjusted:.3g}{' loses' if x.loses_significantly(result.alpha) else ''}</td></tr>"
        for x in result.languages)
    items = "".join(
        f"<tr><td>{esc(v.case_id)}</td><td>{esc(v.language)}</td>"
        f"<td>{esc(answers[v.key].base.output or '')}</td><td>{esc(answers[v.key].cand.output or '')}</td>"
        f"<td>{esc(v.preference or 'unparsable')}{'' if v.consistent or v.preference is None else ' (inconsistent)'}"
        f"</td></tr>" for v in result.verdicts)
    return (f'<section id="pairwise"><h2>Pairwise judge</h2><p>Judge <code>{esc(result.judge_label)}</code>, '
            f"both orders per item; order-consistent {_pct(result.consistency)}.</p><table><thead><tr><th>language</th>"
            "<th>wins</th><th>ties (inconsistent)</th><th>losses</th><th>unparsable</th>"
            "<th>candidate share [95% CI]</th><th>sign test p</th></tr></thead><tbody>" + rows + "</tbody></table>"
            "<table><thead><tr><th>case</th><th>language</th><th>baseline</th><th>candidate</th><th>verdict</th>"
            "</tr></thead><tbody>" + items + "</tbody></table></section>")


def add_to_page(page: str, section: str) -> str:
    """``page`` with ``section`` before its end (an HTML page's ``</body>``, or appended to Markdown)."""
    marker = page.rfind("</body>")
    return page[:marker] + section + page[marker:] if marker >= 0 else page.rstrip("\n") + "\n\n" + section


def pairwise_checks(result: Pairwise) -> list[Check]:
    """The gate's pairwise checks: one per language, failing when the candidate loses significantly there."""
    from evalkit.gate._checks import Check

    checks = []
    for x in result.languages:
        loses = x.loses_significantly(result.alpha)
        checks.append(Check(
            kind="pairwise", language=x.language, metric="pairwise", status="fail" if loses else "pass",
            passed=not loses, name=f"pairwise judge {result.judge} vs baseline", value=x.win_share, n=x.n,
            ci_low=x.ci[0], ci_high=x.ci[1], p=x.p_adjusted,
            message=f"{x.language} pairwise ({result.judge}): candidate {'loses significantly' if loses else 'ok'}: "
                    f"{x.wins} wins / {x.ties} ties / {x.losses} losses, sign test p={x.p_adjusted:.3g}"))
    return checks


def judge_comparisons(comparisons: list[Comparison], spec: ModelSpec) -> list[Pairwise]:
    """Each comparison judged pairwise by ``spec``, through the default response cache."""
    from evalkit.cache import default_cache_path

    cache = ResponseCache(default_cache_path())
    try:
        return [judge_comparison(c, spec, cache) for c in comparisons]
    finally:
        cache.close()


def gate_checks(comparison: Comparison, judge: str, max_tokens: int = 512) -> list[Check]:
    """The gate's ``pairwise:`` rule: the suite's judge asked about the comparison, through the cache."""
    (judged,) = judge_comparisons([comparison], user_judge_spec(judge, max_tokens=max_tokens))
    return pairwise_checks(judged)
