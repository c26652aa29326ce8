"""Which language a model output is in: script rules first, lingua for the rest.

How :func:`detect` decides, cheapest step first:

1. Count letters per script (:func:`~evalkit.langid._script.script_profile`),
   Han + kana grouped as ``"Japanese"``, dense scripts weighted up (a Han
   character counts 3, kana and Hangul 2) so that "Python是一种编程语言" is
   Chinese. The dominant script picks the candidates: the languages of
   evalkit's registry written in it. A second script with a quarter of the
   text makes it ``mixed``.
2. Latin text is checked for romanized Hindi / Japanese (lists of frequent
   romanized words). Transliterated text gets ``language=None``.
3. One candidate (Thai → th, Hangul → ko, Japanese → ja, Han → zh, Greek → el,
   Hebrew → he, Bengali → bn, ...): decided without calling lingua.
4. Several candidates (Latin, Cyrillic → ru/uk, Arabic → ar/fa/ur,
   Devanagari → hi/mr): lingua's confidence values restricted to the
   candidates, on chunks of about 125 letters (whole sentences; long texts
   are sampled). For Latin-script languages a small function-word list
   sharpens lingua on short, name-heavy text ("The capital of France is
   Paris." is English, not French). Chunk results are multiplied (about what
   one call on the whole text gives) and ``expected`` gets a weak 2x prior.
   Chunks that clearly reject the winning language, or (Latin) sentences full
   of another language's function words, make the text ``mixed``.
5. When a non-Latin language is expected and the Latin text is not clearly a
   Latin-script language (low confidence, or hardly any of its function
   words), it is called transliterated (romanized Russian, Arabic, ...).
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evalkit.languages import LANGUAGES, get_language, primary_subtag

from ._script import dominant_of, keep_script, script_profile, weighted_shares

if TYPE_CHECKING:  # pragma: no cover
    from lingua import Language as LinguaLanguage
    from lingua import LanguageDetector


@dataclass(frozen=True)
class Detection:
    """The language of one text.

    ``language`` is an ISO 639-1 code of evalkit's registry, ``None`` when
    undetermined (no letters, an unknown script, or transliterated text).
    ``confidence`` (0..1) is how sure the call is: the classifier's
    probability of ``language`` among the languages of the dominant script
    (1 when the script decides alone), times the share of the text in that
    script; for transliterated text it is how sure the transliteration call
    is. ``script`` is the dominant script, named as in the registry
    (``"Japanese"`` for Han + kana, ``"Han"`` for Han alone, ``"Other"`` for
    scripts evalkit does not know), judged with Han counting 3 and kana /
    Hangul 2 letters each. ``mixed`` means substantial text in two languages
    or scripts. ``transliterated`` means a non-Latin-script language written
    in Latin letters ("aap kaise hain").
    """

    language: str | None
    confidence: float
    script: str | None
    mixed: bool
    transliterated: bool


# ---------------------------------------------------------------- tunables

#: A second script with at least this share of the letters makes a text mixed.
MIXED_SHARE = 0.25
#: ... and at least this many letters.
MIXED_MIN_LETTERS = 15
#: Chunks are built from sentences until they hold this many letters.
CHUNK_SIZE = 125
#: A chunk must have this many letters to count as evidence of mixing.
MIN_FOREIGN_CHUNK_LETTERS = 40
#: Function words of another language that make a sentence foreign.
FOREIGN_WORDS = 3
#: A chunk "rejects" the overall language when it gives it less than this.
REJECT_PROB = 0.05
#: At most this many characters go to lingua (evenly spread chunks of long texts).
LINGUA_BUDGET = 1500
#: Word-list checks (romanization) look at most at this many characters.
WORDS_BUDGET = 3000
#: Prior weight of the expected language among the candidates.
EXPECTED_PRIOR = 2.0
#: Function-word evidence: factor e^(WORD_WEIGHT * hits) relative to the best
#: language, never below e^(-WORD_WEIGHT * WORD_CAP).
WORD_WEIGHT = 0.5
WORD_CAP = 6
_FLOOR = 1e-9

# ------------------------------------------------------------- the detector

_lock = threading.Lock()
_state: dict[str, object] = {}


def _lingua_codes() -> dict[str, LinguaLanguage]:
    """Registry codes lingua supports → lingua ``Language``."""
    _detector()
    codes = _state["codes"]
    assert isinstance(codes, dict)
    return codes


def _detector() -> LanguageDetector:
    """One lingua detector for every registry language lingua knows; built once per process.

    Thread-safe (double-checked lock); lingua's detector itself may be shared
    between threads. lingua loads its language models lazily, the first time
    a text in their script comes along: several seconds and about 0.5 GB for
    the Latin-script ones, once per process.
    """
    det = _state.get("detector")
    if det is None:
        with _lock:
            det = _state.get("detector")
            if det is None:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                codes: dict[str, LinguaLanguage] = {}
                for code in LANGUAGES:
                    try:
                        iso = IsoCode639_1.from_str(code)
                        codes[code] = Language.from_iso_code_639_1(iso)
                    except (ValueError, AttributeError):  # not a lingua language
                        continue
                det = LanguageDetectorBuilder.from_languages(*codes.values()).build()
                _state["codes"] = codes
                _state["by_lingua"] = {lang: code for code, lang in codes.items()}
                _state["detector"] = det
    return det  # type: ignore[return-value]


def _lingua_probs(text: str, candidates: Sequence[str]) -> dict[str, float]:
    """lingua's confidence for each candidate, renormalized over the candidates."""
    det = _detector()
    by_lingua = _state["by_lingua"]
    assert isinstance(by_lingua, dict)
    try:
        values = det.compute_language_confidence_values(text)
    except (UnicodeError, ValueError):  # lone surrogates and the like
        clean = text.encode("utf-8", "replace").decode("utf-8")
        values = det.compute_language_confidence_values(clean)
    wanted = set(candidates)
    probs = {c: 0.0 for c in candidates}
    for cv in values:
        code = by_lingua.get(cv.language)
        if code in wanted:
            probs[code] = cv.value
    total = sum(probs.values())
    if total <= 0:
        return {}
    return {c: p / total for c, p in probs.items()}


# -------------------------------------------------------- function words

# Very frequent function words of the Latin-script registry languages. A word
# that is common in several languages is listed under each of them, so it
# cancels out; only their differences move the result. Words of one letter are
# ignored.
_FUNCTION_WORDS_RAW: dict[str, str] = {
    "en": "the of and to is in it that for you with was are this be on as have not but by from they we "
    "can which there their will would an or what has been were its your more about these such than "
    "does how when where also should could if my do so just all some here there only other into",
    "de": "der die das und ist nicht ein eine einen einem einer zu den dem des mit sich auf für von im "
    "auch es an sind wird werden wie oder aber dass nach bei aus noch nur kann sie ich wir ihr hat "
    "haben sehr diese dieser dieses was wenn so als um über zum zur in also will vom gibt sein war "
    "durch mehr schon hier doch eines man",
    "fr": "le la les de des du un une et est en que qui dans pour pas ne sur au aux avec ce cette il "
    "elle ils nous vous sont par plus mais ou son sa ses être été très peut fait aussi comme leur "
    "tout je on se ces lui où y",
    "es": "el la los las de del en que es un una por con para no se lo al su sus como más pero está "
    "son muy también este esta esto ser hay sobre entre cuando porque donde puede tiene sin ya fue "
    "han le les me mi yo",
    "pt": "os as de do da dos das em no na nos nas um uma que para com por não se mais como mas ao "
    "aos seu sua são está também muito ser foi tem isso isto este esta pelo pela ou quando porque "
    "onde pode já há entre sobre você eu me",
    "it": "il lo la gli le di del della dei delle un una uno che in per con non si da al alla sono "
    "come più ma anche questo questa essere ha ho molto nel nella su se tra fra quando perché dove "
    "può già lei loro suo sua mi ci ti io",
    "nl": "de het een en van is dat op te in zijn voor met niet die aan er maar om ook als bij of door "
    "over naar wordt worden kan deze dit was heeft hebben je ik we wij hij zij ze nog wel geen meer "
    "al zo uit tot hier",
    "sv": "och att det som en är av för på med till den har de inte om ett var jag vi men kan så ska "
    "också eller från vara mycket när efter hur detta dessa denna sig där man",
    "da": "og at det som en er af for på med til den har de ikke om et var jeg vi men kan så skal "
    "også eller fra være meget når efter hvordan dette disse denne sig der hvor man",
    "pl": "na nie się to że do jest jak ale co od po za tak są dla przez jego jej ich może być który "
    "która które tylko już bardzo oraz czy też także tym ten ta jako mnie ja go bo gdy gdzie kiedy "
    "we my on",
    "cs": "se na je že to do jako ale pro by jsou není který která které také jsem jeho její jejich "
    "od po za tak nebo při už být byl byla velmi ten ta jen co když kde jak mi bude podle tento "
    "tato toto my on",
    "ro": "și în de la cu pe nu un este sunt care ce mai din pentru să se sau dar fi fost acest "
    "această foarte prin lui ei el între despre când unde poate am ai are au",
    "hu": "az és hogy nem is egy van meg de ez azt ki mint csak már még vagy el volt lesz kell nagyon "
    "ha pedig mert amely amit ami így úgy minden után között ezt sok sem",
    "fi": "ja on ei se että oli hän ovat tai kun mutta myös kuin niin voi jos ole olla sen tämä nämä "
    "joka jotka mitä mikä hyvin vain sitä siitä ne me te minä sinä jo nyt kanssa",
    "tr": "ve bir bu da de için ile çok daha olarak gibi ne var yok ama değil en şu mi mı ki olan "
    "kadar sonra göre her veya ya ben sen biz siz onlar nasıl neden",
    "id": "yang dan di ke dari ini itu untuk dengan adalah tidak akan pada juga dalam bisa karena ada "
    "saya kami kita mereka anda atau sudah telah oleh lebih tetapi tapi seperti hanya jika sangat "
    "banyak bahwa harus belum",
    "ms": "yang dan di ke dari ini itu untuk dengan adalah ialah tidak akan pada juga dalam boleh "
    "kerana ada saya kami kita mereka anda atau sudah telah oleh lebih tetapi seperti hanya jika "
    "sangat banyak bahawa perlu belum sahaja",
    "sw": "na ya wa za kwa ni katika la cha vya hii huo hiyo kuwa ili lakini pia kama sana au yake "
    "wake zake sisi wao mimi wewe yeye hapa tu bado kila hapana ndiyo baada kabla kutoka kuhusu "
    "hivyo",
    "vi": "của và là có không những được này cho với các một trong người đã sẽ rất tôi bạn để khi từ "
    "đến cũng như nhưng hoặc nếu về thì ra vào nhiều làm",
    "yo": "ni ti si àti ati fún fun àwọn awon wọ́n won mo jẹ́ je kan náà naa yìí yii ṣùgbọ́n sugbon "
    "pẹ̀lú pelu láti lati tí sí ní kò ko bí bi wa",
}


def _nfc_words(words: str) -> frozenset[str]:
    return frozenset(unicodedata.normalize("NFC", w) for w in words.split())


def _invert(raw: dict[str, str]) -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for lang, words in raw.items():
        for w in _nfc_words(words):
            index.setdefault(w, []).append(lang)
    return {w: tuple(langs) for w, langs in index.items()}


#: function word → the languages it is frequent in
_FUNCTION_WORDS: dict[str, tuple[str, ...]] = _invert(_FUNCTION_WORDS_RAW)

# Romanized Hindi / Japanese. "Strong" words are rare in Latin-script languages;
# "weak" ones (particles, postpositions) also exist elsewhere and count half.
_TRANSLIT: dict[str, tuple[frozenset[str], frozenset[str], tuple[str, ...]]] = {
    "hi": (
        _nfc_words(
            "mujhe mujhko humko hume humein tumhe tumhein aapko aapka aapki aapke unka unki unke uska "
            "uski uske iska iski iske mera meri mere tera teri tere hamara hamari hamare tumhara "
            "tumhari nahin nahi nahin hain hoon hun kya kyun kyon kaise kaisa kaisi kahan kahaan kab "
            "kaun kitna kitne kitni aap tum hum yeh woh aur lekin magar kyunki kyonki isliye bhi sirf "
            "bahut bohot thoda thodi accha achha acha achchha theek thik chahiye chahte chahta "
            "chahti sakta sakti sakte karna karo karunga karungi karenge karta karti karte kiya kiye "
            "karke raha rahi rahe tha thi gaya gayi gaye hoga hogi honge jaana jaata jaate jaati "
            "dekho dekha dekhna samajh samjha samjhe abhi phir kuch kuchh koi sabhi zaroor zaroori "
            "zaruri shukriya dhanyavaad dhanyavad dhanyawad namaste namaskar haan matlab yaar baat "
            "liye koshish jaankari madad samay duniya logon jab agar warna saath pehle baad bilkul "
            "zyada jyada naya nayi purana galat pyaar pyar zindagi bhasha sawaal sawal jawab "
            "karein kijiye bataiye batao"
        ),
        _nfc_words("ke ki ka ko se hai mein main to ho ek din kam na ne par pe ye wo ji pata wali jana sab"),
        (),
    ),
    "ja": (
        _nfc_words(
            "watashi watakushi boku anata kanojo desu deshita deshou desho masu mashita masen mashou "
            "imasu arimasu arimasen gozaimasu arigatou arigato sumimasen onegaishimasu onegai kudasai "
            "konnichiwa konbanwa ohayou ohayo sayounara sayonara iie nihon nippon nihongo totemo sugoi "
            "kawaii daijoubu daijobu wakarimasen wakarimashita wakaru shimasu shite shita suru kore "
            "dore koko doko naze doushite itsu dake yori shikashi soshite sorekara tomodachi gakkou "
            "sensei gakusei nihonjin omoshiroi muzukashii kantan benkyou benkyo taberu tabemasu"
        ),
        _nfc_words("wa ga wo ni no de to ka mo ne yo hai ii kara made demo sore kare nani soko"),
        ("masu", "mashita", "masen", "mashou", "desu", "deshita"),
    ),
}
#: Weighted share of romanized words needed to call a text transliterated.
TRANSLIT_SHARE = 0.3
#: Share of function words below which Latin text counts as romanized when a
#: non-Latin language was expected.
EXPLAINED_SHARE = 0.1
_FUNCTION_LANGS = frozenset(_FUNCTION_WORDS_RAW)

_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?;:。！？।॥؟۔])\s+|\n+")


def _words(text: str) -> list[str]:
    """Lower-cased words of two or more letters."""
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1]


def _word_hits(words: Iterable[str], candidates: Sequence[str]) -> dict[str, int]:
    hits = dict.fromkeys(candidates, 0)
    index = _FUNCTION_WORDS
    for w in words:
        langs = index.get(w)
        if langs:
            for c in langs:
                if c in hits:
                    hits[c] += 1
    return hits


def _translit_score(words: Sequence[str], lang: str) -> float:
    strong, weak, suffixes = _TRANSLIT[lang]
    if not words:
        return 0.0
    n_strong = 0
    score = 0.0
    for w in words:
        if w in strong or (suffixes and w.endswith(suffixes)):
            n_strong += 1
            score += 1.0
        elif w in weak:
            score += 0.5
    if n_strong < min(2, len(words)):
        return 0.0
    return score / len(words)


# ------------------------------------------------------------------ chunks


def _size(text: str) -> int:
    """Letters: lingua switches to its fast trigram-only scoring at about 120 of them."""
    return sum(map(str.isalpha, text))


def _chunks(text: str) -> list[tuple[str, int]]:
    """Sentences merged until each chunk has :data:`CHUNK_SIZE` letters.

    lingua scores a text of about 120+ letters with trigrams only (3-5x faster
    than the 1- to 5-grams it uses for shorter text), so chunks stay above
    that; long texts are sampled down to :data:`LINGUA_BUDGET` characters.
    """
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    size = 0
    for part in _SENTENCE.split(text):
        if not part or part.isspace():
            continue
        current.append(part)
        size += _size(part)
        if size >= CHUNK_SIZE:
            chunks.append((" ".join(current), size))
            current, size = [], 0
    if current:
        tail = " ".join(current)
        if chunks and size < CHUNK_SIZE // 2:
            last, n = chunks[-1]
            chunks[-1] = (last + " " + tail, n + size)
        else:
            chunks.append((tail, size))
    if sum(len(c) for c, _ in chunks) > LINGUA_BUDGET:
        chunks = _spread(chunks)
    return chunks


def _spread(chunks: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Evenly spaced chunks whose total length fits :data:`LINGUA_BUDGET`."""
    avg = sum(len(c) for c, _ in chunks) / len(chunks)
    n = max(1, int(LINGUA_BUDGET // max(avg, 1.0)))
    if n >= len(chunks):
        return chunks
    step = len(chunks) / n
    return [chunks[int(i * step)] for i in range(n)]


def _chunk_probs(chunk: str, candidates: Sequence[str], latin: bool) -> dict[str, float]:
    probs = _lingua_probs(chunk, candidates)
    if not probs or not latin:
        return probs
    hits = _word_hits(_words(chunk), candidates)
    best = max(hits.values())
    if best == 0:
        return probs
    scored = {c: p * math.exp(WORD_WEIGHT * max(hits[c] - best, -WORD_CAP)) for c, p in probs.items()}
    total = sum(scored.values())
    return {c: p / total for c, p in scored.items()}


@dataclass(frozen=True)
class _Classified:
    language: str | None
    probs: dict[str, float]
    mixed: bool


def _classify(text: str, candidates: Sequence[str], latin: bool, expected: str | None) -> _Classified:
    """Product of per-chunk probabilities, the expected prior, and chunk-level mixing."""
    results: list[tuple[int, dict[str, float]]] = []
    chunks = _chunks(text)
    for chunk, letters in chunks:
        probs = _chunk_probs(chunk, candidates, latin)
        if probs:
            results.append((letters, probs))
    if not results:
        return _Classified(None, {}, False)
    logs = dict.fromkeys(candidates, 0.0)
    for _, probs in results:
        for c in candidates:
            logs[c] += math.log(max(probs.get(c, 0.0), _FLOOR))
    if expected in logs:
        logs[expected] += math.log(EXPECTED_PRIOR)
    top_log = max(logs.values())
    weights = {c: math.exp(v - top_log) for c, v in logs.items()}
    total = sum(weights.values())
    overall = {c: w / total for c, w in weights.items()}
    best = max(overall, key=lambda c: overall[c])

    mixed = False
    if len(results) > 1:
        all_letters = sum(n for n, _ in results)
        foreign = 0
        for n, probs in results:
            top = max(probs, key=lambda c: probs[c])
            if (
                n >= MIN_FOREIGN_CHUNK_LETTERS
                and top != best
                and probs[top] >= 0.5
                and probs.get(best, 0.0) < REJECT_PROB
            ):
                foreign += n
        mixed = foreign >= MIXED_MIN_LETTERS and foreign / all_letters >= MIXED_SHARE
    if latin and not mixed:
        mixed = _sentences_mixed([c for c, _ in chunks], candidates, best)
    return _Classified(best, overall, mixed)


def _sentences_mixed(chunks: Sequence[str], candidates: Sequence[str], best: str) -> bool:
    """Function-word check for mixing below chunk size (Latin script only, no lingua).

    A sentence is foreign when it has at least :data:`FOREIGN_WORDS` function
    words of another language and at most a third as many of ``best``.
    """
    total = 0
    foreign = 0
    for sentence in (s for chunk in chunks for s in _SENTENCE.split(chunk)):
        if not sentence:
            continue
        words = _words(sentence)
        letters = sum(map(len, words))
        total += letters
        hits = _word_hits(words, candidates)
        top = max(hits, key=lambda c: hits[c])
        if top != best and hits[top] >= FOREIGN_WORDS and hits[best] * 3 <= hits[top]:
            foreign += letters
    return total > 0 and foreign >= MIXED_MIN_LETTERS and foreign / total >= MIXED_SHARE


# ------------------------------------------------------------------ detect


def _candidates(script: str) -> list[str]:
    return [code for code, lang in LANGUAGES.items() if lang.script == script]


def _script_mixed(shares: dict[str, float], letters: int) -> bool:
    ordered = sorted(shares.values(), reverse=True)
    if len(ordered) < 2:
        return False
    second = ordered[1]
    return second >= MIXED_SHARE and second * letters >= MIXED_MIN_LETTERS


def _romanized(words: Sequence[str]) -> float:
    """How much Latin-script ``words`` look like romanized Hindi or Japanese (0 when not).

    A text whose share of function words of some Latin-script language is
    higher ("In Hindi, 'aap kaise hain' means 'how are you'.") is that
    language talking about romanized words, not a romanized text.
    """
    score = max(_translit_score(words, lang) for lang in _TRANSLIT)
    if score < TRANSLIT_SHARE:
        return 0.0
    hits = _word_hits(words, list(_FUNCTION_LANGS))
    if max(hits.values()) >= score * len(words):
        return 0.0
    return score


def _clamp(x: float) -> float:
    if x != x:  # NaN
        return 0.0
    return min(1.0, max(0.0, x))


def _expected_code(expected: str | None) -> str | None:
    if not expected:
        return None
    code = primary_subtag(expected)
    return code if code in LANGUAGES else None


def _explained(text: str, language: str, prob: float) -> bool:
    """Is Latin ``text`` really in ``language``, not some romanized language lingua mistook for it?

    lingua has no model for romanized text and tends to call it Swahili,
    Yoruba or Indonesian. Real text in a Latin-script language is confidently
    classified *and* uses that language's function words.
    """
    if prob < 0.5:
        return False
    words = _words(text[:WORDS_BUDGET])
    if len(words) < 4 or language not in _FUNCTION_LANGS:
        return True
    return _word_hits(words, [language])[language] >= EXPLAINED_SHARE * len(words)


def detect(text: str, expected: str | None = None) -> Detection:
    """Detect the language of one model output.

    ``expected`` (the language the text should be in, any BCP-47 tag) is a
    weak prior between languages of the same script and turns on the
    transliteration check for non-Latin languages; it never changes which
    script the text is in. Never raises on any ``str``.
    """
    exp = _expected_code(expected)
    text = unicodedata.normalize("NFC", _URL.sub(" ", text))
    profile = script_profile(text)
    shares = weighted_shares(profile)
    script = dominant_of(shares)
    if script is None:
        return Detection(None, 0.0, None, False, False)
    share = shares[script]
    mixed = _script_mixed(shares, profile.letters)
    candidates = _candidates(script)
    if not candidates:
        return Detection(None, 0.0, script, mixed, False)
    if script == "Latin":
        score = _romanized(_words(text[:WORDS_BUDGET]))
        if score >= TRANSLIT_SHARE:
            return Detection(None, _clamp(min(1.0, score + 0.3) * share), script, mixed, True)

    if len(candidates) == 1:  # unambiguous script: no classifier needed
        return Detection(candidates[0], _clamp(share), script, mixed, False)
    lingua_codes = _lingua_codes()
    supported = [c for c in candidates if c in lingua_codes]
    if not supported:  # several languages, none of which lingua knows
        return Detection(None, 0.0, script, mixed, False)
    if len(supported) == 1:
        return Detection(supported[0], _clamp(share), script, mixed, False)

    only = text if len(profile.shares) == 1 else keep_script(text, frozenset({script}))
    result = _classify(only, supported, script == "Latin", exp)
    if result.language is None:
        return Detection(None, 0.0, script, mixed, False)
    prob = result.probs[result.language]
    if (
        script == "Latin"
        and exp is not None
        and get_language(exp).script != "Latin"
        and not _explained(text, result.language, prob)
    ):
        # Expected e.g. Russian or Arabic, got Latin letters that no Latin-script
        # language explains well: most likely romanized.
        return Detection(None, _clamp(max(0.5, 1.0 - prob) * share), script, mixed, True)
    return Detection(result.language, _clamp(prob * share), script, mixed or result.mixed, False)


_WARM_UP_TEXTS = (
    "The weather is lovely today and we are going for a walk.",
    "Сегодня хорошая погода, и мы идём гулять.",
    "الطقس جميل اليوم ونحن ذاهبون في نزهة.",
    "आज मौसम बहुत अच्छा है और हम टहलने जा रहे हैं।",
)


def warm_up() -> None:
    """Build the detector and load lingua's models for the scripts it decides among (Latin,
    Cyrillic, Arabic, Devanagari), so the first real answer is not slowed by the load."""
    for text in _WARM_UP_TEXTS:
        detect(text)
