"""Is a model output in the language it was asked to answer in?"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalkit.languages import LANGUAGES, get_language, primary_subtag

from ._detect import detect
from ._script import ScriptProfile, effective_length, has_script, script_profile


@dataclass(frozen=True)
class FidelityVerdict:
    """The outcome of :func:`check_language` for one output.

    ``applicable`` is False when the check does not apply (too short, numbers
    only, only code, undecidable); ``ok`` is then ``None``. ``expected`` is the
    primary language subtag that was asked for, ``detected`` what
    :func:`~evalkit.langid.detect` found (``None`` when undetermined or not
    applicable). ``reason`` is a short human text: ``"ok"``, ``"wrong language:
    en"``, ``"wrong script: Latin"``, ``"wrong script: Latin (transliterated)"``,
    ``"mixed"``, ``"too short"``, ``"numbers only"``, ``"code"``, ``"no letters"``,
    ``"empty"``, ``"number with unit"`` or ``"uncertain (best guess: es)"``.
    """

    applicable: bool
    ok: bool | None
    expected: str
    detected: str | None
    confidence: float
    reason: str


_FENCED = re.compile(r"(```|~~~).*?(?:\1|\Z)", re.DOTALL)
_HTML_CODE = re.compile(r"<(pre|code)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.DOTALL | re.IGNORECASE)
_INLINE = re.compile(r"`[^`\n]+`")


def strip_code(text: str) -> str:
    """``text`` without fenced code blocks (also unclosed ones), ``<pre>``/``<code>`` and inline code."""
    if "`" not in text and "~~~" not in text and "<" not in text:
        return text
    text = _FENCED.sub("\n", text)
    text = _HTML_CODE.sub(" ", text)
    return _INLINE.sub(" ", text)


def script_decides(profile: ScriptProfile, expected: str) -> bool:
    """Whether the text is written entirely in a script that, among evalkit's languages, only
    ``expected`` uses (Thai, Hangul, Greek...; Han alone is Chinese, Han with kana Japanese)."""
    grouped = profile.grouped()
    if len(grouped) != 1:
        return False
    script = next(iter(grouped))
    return [code for code, lang in LANGUAGES.items() if lang.script == script] == [expected]


#: Letters a numeric answer may carry as its unit symbol ("km/h") without being judged.
MAX_UNIT_LETTERS = 4


def check_language(
    text: str,
    expected: str,
    *,
    min_chars: int = 8,
    skip_code: bool = True,
    skip_numeric: bool = True,
    min_confidence: float = 0.5,
) -> FidelityVerdict:
    """Judge whether ``text`` is written in ``expected`` (a registry code or BCP-47 tag).

    In order:

    * With ``skip_code`` fenced code blocks and inline code are removed first;
      an answer that is (almost) only code — what is left is shorter than
      ``min_chars`` — is not applicable (``"code"``).
    * No letters at all: not applicable (``"numbers only"``, ``"no letters"``,
      ``"empty"``); with ``skip_numeric=False`` a numbers-only answer is
      judged instead, and fails (``"numbers only"``).
    * A number with a short unit in another script ("42 km" for zh, at most
      ``MAX_UNIT_LETTERS`` letters) is not applicable (``"number with unit"``).
    * **The script check comes first**: without a single letter of the script
      of ``expected`` (Han for zh, Han or kana for ja, Devanagari for hi...)
      the answer fails whatever its length (``"wrong script: Latin"``; when it
      is long enough to identify, the reason names the language,
      ``"wrong language: en"``, or the transliteration).
    * An answer entirely in a script that only ``expected`` uses among
      evalkit's languages (Thai, Hangul, Han for zh, kana for ja, Greek...)
      is judged whatever its length: "谢谢" is Chinese.
    * Otherwise the text must be at least ``min_chars`` long, counted per
      script in Latin-letter equivalents (:func:`effective_length`: a Han
      character counts 3, a kana or Hangul syllable 2, other letters 1), or
      it is not applicable (``"too short"``): "Paris" could be many languages.
    * Romanized text (Hindi in Latin letters, ...) fails
      (``"wrong script: Latin (transliterated)"``); so do answers that mix two
      languages or scripts substantially (``"mixed"``).
    * ``ok`` when the detected language is ``expected``. A different language
      fails (``"wrong language: en"``, related languages such as es/pt
      included) when detected with at least ``min_confidence``; a less certain
      call still fails when the text is in the wrong script for ``expected``
      (``"wrong script: Cyrillic"``) and is otherwise not applicable
      (``"uncertain (best guess: ...)"``).

    Raises ``KeyError`` for a language code evalkit does not know; never
    raises because of ``text``.
    """
    lang = get_language(expected)
    exp = primary_subtag(expected)

    def na(reason: str) -> FidelityVerdict:
        return FidelityVerdict(False, None, exp, None, 0.0, reason)

    def fail(reason: str, detected: str | None = None, confidence: float = 1.0) -> FidelityVerdict:
        return FidelityVerdict(True, False, exp, detected, confidence, reason)

    body = strip_code(text) if skip_code else text
    had_code = body != text
    profile = script_profile(body)
    if profile.letters == 0:
        if had_code and script_profile(text).letters > 0:
            return na("code")
        if any(ch.isdigit() for ch in body):
            return na("numbers only") if skip_numeric else fail("numbers only")
        return na("no letters" if body.strip() else "empty")
    length = effective_length(profile, lang.script)
    if had_code and length < min_chars:
        return na("code")

    if not has_script(profile, lang.script):
        if skip_numeric and profile.letters <= MAX_UNIT_LETTERS and any(ch.isdigit() for ch in body):
            # "42 km", "3.5 kg": unit symbols are written in Latin letters in every language.
            return na("number with unit")
        return _wrong_script(body, exp, profile, length >= min_chars, min_confidence)
    if length < min_chars and not script_decides(profile, exp):
        return na("too short")

    det = detect(body, exp)
    if det.transliterated:
        if det.script != lang.script:
            return fail(f"wrong script: {det.script} (transliterated)", None, det.confidence)
        return fail("wrong language (transliterated)", None, det.confidence)
    if det.mixed:
        return fail("mixed", det.language, det.confidence)
    if det.language == exp:
        return FidelityVerdict(True, True, exp, det.language, det.confidence, "ok")
    if det.language is not None and det.confidence >= min_confidence:
        return fail(f"wrong language: {det.language}", det.language, det.confidence)
    if det.script != lang.script:
        return fail(f"wrong script: {det.script}", det.language, det.confidence)
    guess = f" (best guess: {det.language})" if det.language else ""
    return FidelityVerdict(False, None, exp, det.language, det.confidence, f"uncertain{guess}")


def _wrong_script(body: str, exp: str, profile: ScriptProfile, identifiable: bool,
                  min_confidence: float) -> FidelityVerdict:
    """The failing verdict for a text without a letter of the expected script.

    Long enough to identify (``identifiable``), the reason says what it is instead: the
    transliteration, the mix, or the language detected with ``min_confidence``.
    """
    script = profile.dominant or "Other"
    if identifiable:
        det = detect(body, exp)
        if det.transliterated:
            reason = f"wrong script: {det.script} (transliterated)"
            return FidelityVerdict(True, False, exp, None, det.confidence, reason)
        if det.mixed:
            return FidelityVerdict(True, False, exp, det.language, det.confidence, "mixed")
        if det.language is not None and det.confidence >= min_confidence:
            return FidelityVerdict(True, False, exp, det.language, det.confidence, f"wrong language: {det.language}")
        return FidelityVerdict(True, False, exp, det.language, 1.0, f"wrong script: {det.script or script}")
    return FidelityVerdict(True, False, exp, None, 1.0, f"wrong script: {script}")
