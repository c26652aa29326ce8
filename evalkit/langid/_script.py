"""Which Unicode scripts a text is written in: pure Python, no dependencies.

Only letters count: characters of Unicode category ``L*``, plus the combining
marks (``M*``) of the scripts below, because Indic, Thai, Lao, Khmer and
Myanmar vowel signs are marks. Generic combining diacritics (U+0300..U+036F
and friends) belong to the letter before them and are not counted separately.
Digits, punctuation, symbols and emoji are not letters.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

#: Scripts that :func:`script_profile` tells apart; any other letter is ``"Other"``.
SCRIPTS: tuple[str, ...] = (
    "Latin",
    "Cyrillic",
    "Greek",
    "Arabic",
    "Hebrew",
    "Devanagari",
    "Bengali",
    "Tamil",
    "Telugu",
    "Thai",
    "Lao",
    "Khmer",
    "Myanmar",
    "Ethiopic",
    "Hangul",
    "Han",
    "Hiragana",
    "Katakana",
    "Other",
)

#: The name evalkit's language registry uses for the Japanese writing system
#: (Han + Hiragana + Katakana).
JAPANESE = "Japanese"
_KANA = frozenset({"Hiragana", "Katakana"})
_CJK = frozenset({"Han", "Hiragana", "Katakana"})

# (first, last, script), inclusive, sorted by first code point, not overlapping.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "Latin"),
    (0x0061, 0x007A, "Latin"),
    (0x00AA, 0x00AA, "Latin"),
    (0x00BA, 0x00BA, "Latin"),
    (0x00C0, 0x024F, "Latin"),  # Latin-1 letters, Extended-A/B (× and ÷ are not letters)
    (0x0250, 0x02AF, "Latin"),  # IPA extensions
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x0870, 0x08FF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"),
    (0x0B80, 0x0BFF, "Tamil"),
    (0x0C00, 0x0C7F, "Telugu"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x0E80, 0x0EFF, "Lao"),
    (0x1000, 0x109F, "Myanmar"),
    (0x1100, 0x11FF, "Hangul"),  # Jamo
    (0x1200, 0x139F, "Ethiopic"),
    (0x1780, 0x17FF, "Khmer"),
    (0x19E0, 0x19FF, "Khmer"),
    (0x1C80, 0x1C8F, "Cyrillic"),
    (0x1D00, 0x1D7F, "Latin"),  # phonetic extensions
    (0x1E00, 0x1EFF, "Latin"),  # Latin Extended Additional (Vietnamese)
    (0x1F00, 0x1FFF, "Greek"),
    (0x2C60, 0x2C7F, "Latin"),
    (0x2D80, 0x2DDF, "Ethiopic"),
    (0x2DE0, 0x2DFF, "Cyrillic"),
    (0x2E80, 0x2FDF, "Han"),  # radicals
    (0x3005, 0x3005, "Han"),  # 々
    (0x3007, 0x3007, "Han"),  # 〇
    (0x3021, 0x3029, "Han"),
    (0x3038, 0x303B, "Han"),
    (0x3041, 0x309F, "Hiragana"),
    (0x30A0, 0x30FF, "Katakana"),  # includes ー, the prolonged sound mark
    (0x3131, 0x318E, "Hangul"),  # compatibility Jamo
    (0x31F0, 0x31FF, "Katakana"),
    (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"),
    (0xA640, 0xA69F, "Cyrillic"),
    (0xA720, 0xA7FF, "Latin"),
    (0xA8E0, 0xA8FF, "Devanagari"),
    (0xA960, 0xA97F, "Hangul"),
    (0xA9E0, 0xA9FF, "Myanmar"),
    (0xAA60, 0xAA7F, "Myanmar"),
    (0xAB00, 0xAB2F, "Ethiopic"),
    (0xAB30, 0xAB6F, "Latin"),
    (0xAC00, 0xD7FF, "Hangul"),  # syllables and Jamo extended-B
    (0xF900, 0xFAFF, "Han"),
    (0xFB00, 0xFB06, "Latin"),  # ligatures ﬁ ﬂ
    (0xFB1D, 0xFB4F, "Hebrew"),
    (0xFB50, 0xFDFF, "Arabic"),
    (0xFE70, 0xFEFF, "Arabic"),
    (0xFF21, 0xFF3A, "Latin"),  # fullwidth
    (0xFF41, 0xFF5A, "Latin"),
    (0xFF66, 0xFF9F, "Katakana"),  # halfwidth
    (0xFFA0, 0xFFDC, "Hangul"),  # halfwidth
    (0x1B000, 0x1B0FF, "Hiragana"),  # kana supplement
    (0x1B100, 0x1B16F, "Katakana"),
    (0x20000, 0x323AF, "Han"),  # CJK extensions B..H
)
_STARTS = [r[0] for r in _RANGES]

_NOT_LETTER = 0
_UNKNOWN = 255
_INDEX = {name: i + 1 for i, name in enumerate(SCRIPTS)}  # 0 means "not a letter"
_OTHER = _INDEX["Other"]
# Per-code-point cache for the BMP, filled lazily: 255 = not looked up yet.
_BMP = bytearray([_UNKNOWN]) * 0x10000


def _classify(cp: int) -> int:
    """Script index of one code point, or 0 when it is not a letter."""
    cat = unicodedata.category(chr(cp))
    first = cat[0]
    if first != "L" and first != "M" and cp != 0x3007:
        return _NOT_LETTER
    i = bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _RANGES[i][1]:
        return _INDEX[_RANGES[i][2]]
    # A combining mark outside the script blocks (U+0300 diacritics, ...)
    # belongs to the preceding letter, whatever its script.
    return _NOT_LETTER if first == "M" else _OTHER


def char_script(ch: str) -> str | None:
    """The script of one character, or ``None`` when it is not a letter."""
    idx = _lookup(ord(ch))
    return SCRIPTS[idx - 1] if idx else None


def _lookup(cp: int) -> int:
    if cp < 0x10000:
        idx = _BMP[cp]
        if idx == _UNKNOWN:
            idx = _BMP[cp] = _classify(cp)
        return idx
    return _classify(cp)


def _counts(text: str) -> list[int]:
    """Letters per script index (index 0: characters that are not letters)."""
    counts = [0] * (len(SCRIPTS) + 1)
    bmp = _BMP
    # Counting distinct characters first (in C) leaves the Python loop with a
    # few dozen to a few hundred characters instead of the whole text.
    for ch, n in Counter(text).items():
        cp = ord(ch)
        if cp < 0x10000:
            idx = bmp[cp]
            if idx == _UNKNOWN:
                idx = bmp[cp] = _classify(cp)
        else:
            idx = _classify(cp)
        counts[idx] += n
    return counts


@dataclass(frozen=True)
class ScriptProfile:
    """The share of letters per Unicode script, e.g. ``{"Latin": 0.9, "Devanagari": 0.1}``.

    ``shares`` only holds scripts that occur; the values sum to 1 (or the dict
    is empty when the text has no letters). ``letters`` is the number of
    letter characters counted. Shares are plain letter counts; language
    detection additionally weights dense scripts (:func:`weighted_shares`).
    """

    shares: dict[str, float]
    letters: int

    def grouped(self) -> dict[str, float]:
        """Shares with Han + kana merged into ``"Japanese"`` when any kana occurs.

        This is how evalkit's registry names scripts: Japanese text is written
        with Han *and* kana (``Language.script == "Japanese"``), while Han
        without any kana is Chinese (``"Han"``).
        """
        shares = self.shares
        if not any(s in shares for s in _KANA):
            return dict(shares)
        grouped = {s: v for s, v in shares.items() if s not in _CJK}
        grouped[JAPANESE] = sum(v for s, v in shares.items() if s in _CJK)
        return grouped

    @property
    def dominant(self) -> str | None:
        """The script with the largest share (``None`` when there are no letters).

        Han + Hiragana + Katakana count together as ``"Japanese"`` when the text
        has any kana, so ``"漢字とかな"`` is ``"Japanese"`` and ``"汉字"`` is ``"Han"``.
        Ties go to the script listed first in :data:`SCRIPTS`.
        """
        return dominant_of(self.grouped())


#: Roughly how many alphabetic letters one character of these scripts is worth
#: (a Han character is about a word, a kana or Hangul block a syllable).
DENSITY: dict[str, float] = {"Han": 3.0, "Hiragana": 2.0, "Katakana": 2.0, "Hangul": 2.0}


def weighted_shares(profile: ScriptProfile) -> dict[str, float]:
    """Grouped shares (see :meth:`ScriptProfile.grouped`) with dense scripts weighted up.

    Letter counts are not comparable across scripts: "Python是一种编程语言" has
    6 Latin letters and 7 Han characters but is a Chinese sentence. Weighting
    Han by 3 and kana / Hangul by 2 makes shares closer to "how much of the
    text", which is what dominance and mixing are about.
    """
    if not profile.shares:
        return {}
    weighted = {s: v * DENSITY.get(s, 1.0) for s, v in profile.shares.items()}
    if any(s in weighted for s in _KANA):
        cjk = sum(v for s, v in weighted.items() if s in _CJK)
        weighted = {s: v for s, v in weighted.items() if s not in _CJK}
        weighted[JAPANESE] = cjk
    total = sum(weighted.values())
    return {s: v / total for s, v in weighted.items()}


def has_script(profile: ScriptProfile, script: str) -> bool:
    """Whether the text has at least one letter of ``script`` (a registry script name:
    ``"Japanese"`` means Han or kana; a script not in :data:`SCRIPTS` is ``"Other"``)."""
    if script == JAPANESE:
        return any(s in profile.shares for s in _CJK)
    return (script if script in _INDEX else "Other") in profile.shares


def effective_length(profile: ScriptProfile, expected_script: str | None = None) -> float:
    """The length of a text in Latin-letter equivalents: letters weighted by :data:`DENSITY`.

    A Han character is about a word (3), a kana or Hangul syllable two letters, any other
    letter one. When Japanese is expected and the text has no kana, Han counts one per
    character: kanji alone do not tell Japanese from Chinese, so the text must be as long
    as an alphabetic one to be judged.
    """
    han = DENSITY["Han"]
    if expected_script == JAPANESE and not any(s in profile.shares for s in _KANA):
        han = 1.0
    total = 0.0
    for script, share in profile.shares.items():
        weight = han if script == "Han" else DENSITY.get(script, 1.0)
        total += round(share * profile.letters) * weight
    return total


def dominant_of(shares: dict[str, float]) -> str | None:
    """The script with the largest share; ties go to the script listed first in :data:`SCRIPTS`."""
    if not shares:
        return None
    return max(shares.items(), key=lambda kv: (kv[1], -_order(kv[0])))[0]


def _order(script: str) -> int:
    return _INDEX.get(script, 0)


def script_profile(text: str) -> ScriptProfile:
    """Count the letters of ``text`` per script (see :data:`SCRIPTS`).

    Pure Python: distinct characters are counted first, then looked up in a
    lazily filled per-code-point table (15-30 µs of CPU for 200 characters).
    """
    counts = _counts(text)
    letters = sum(counts) - counts[_NOT_LETTER]
    if letters == 0:
        return ScriptProfile({}, 0)
    shares = {SCRIPTS[i - 1]: n / letters for i, n in enumerate(counts) if i and n}
    return ScriptProfile(shares, letters)


def keep_script(text: str, scripts: frozenset[str]) -> str:
    """``text`` with letters of any other script replaced by spaces.

    Used to hand a language classifier only the part of a text written in the
    script being classified (an English term inside a Hindi answer says nothing
    about Hindi vs Marathi).
    """
    keep = {_INDEX[s] for s in scripts if s in _INDEX}
    if JAPANESE in scripts:
        keep |= {_INDEX[s] for s in _CJK}
    out = []
    changed = False
    for ch in text:
        idx = _lookup(ord(ch))
        if idx and idx not in keep:
            out.append(" ")
            changed = True
        else:
            out.append(ch)
    return "".join(out) if changed else text
