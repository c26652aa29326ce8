"""The languages evalkit knows: names, script, and how to tokenize them for BLEU/TER.

A language code is a BCP-47 tag (``de``, ``pt-BR``, ``zh-Hant``) or a FLORES-200 / Belebele code (an ISO
639-3 code and an ISO 15924 script: ``deu_Latn``, ``zho_Hans``, ``arb_Arab``). evalkit keys everything on
the language's ISO 639-1 code (``pt-BR`` → ``pt``, ``deu_Latn`` → ``de``) and keeps the code as written for
display. A script subtag must be the script evalkit checks for that language: ``hin_Latn`` (romanized
Hindi) is not Hindi in Devanagari, and is refused rather than scored against the wrong script.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # English name
    native: str  # name in the language itself
    script: str  # ISO 15924 name of the main script
    spaced: bool = True  # words separated by spaces
    rtl: bool = False
    llama32_supported: bool = False  # one of the 8 languages Llama 3.2 officially supports

    @property
    def bleu_tokenizer(self) -> str:
        """The sacrebleu tokenizer that gives meaningful BLEU/TER for this language."""
        return _TOKENIZERS.get(self.code, "13a" if self.spaced else "char")


# zh/ja/ko have dedicated sacrebleu tokenizers; scripts written without spaces
# fall back to characters (flores200 needs a SentencePiece model download).
_TOKENIZERS = {"zh": "zh", "ja": "ja-mecab", "ko": "ko-mecab"}

_L = Language
LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        _L("en", "English", "English", "Latin", llama32_supported=True),
        _L("de", "German", "Deutsch", "Latin", llama32_supported=True),
        _L("fr", "French", "Français", "Latin", llama32_supported=True),
        _L("it", "Italian", "Italiano", "Latin", llama32_supported=True),
        _L("pt", "Portuguese", "Português", "Latin", llama32_supported=True),
        _L("hi", "Hindi", "हिन्दी", "Devanagari", llama32_supported=True),
        _L("es", "Spanish", "Español", "Latin", llama32_supported=True),
        _L("th", "Thai", "ไทย", "Thai", spaced=False, llama32_supported=True),
        _L("zh", "Chinese", "中文", "Han", spaced=False),
        _L("ja", "Japanese", "日本語", "Japanese", spaced=False),
        _L("ko", "Korean", "한국어", "Hangul"),
        _L("ar", "Arabic", "العربية", "Arabic", rtl=True),
        _L("ru", "Russian", "Русский", "Cyrillic"),
        _L("sw", "Swahili", "Kiswahili", "Latin"),
        _L("tr", "Turkish", "Türkçe", "Latin"),
        _L("vi", "Vietnamese", "Tiếng Việt", "Latin"),
        _L("id", "Indonesian", "Bahasa Indonesia", "Latin"),
        _L("bn", "Bengali", "বাংলা", "Bengali"),
        _L("nl", "Dutch", "Nederlands", "Latin"),
        _L("pl", "Polish", "Polski", "Latin"),
        _L("sv", "Swedish", "Svenska", "Latin"),
        _L("uk", "Ukrainian", "Українська", "Cyrillic"),
        _L("cs", "Czech", "Čeština", "Latin"),
        _L("el", "Greek", "Ελληνικά", "Greek"),
        _L("he", "Hebrew", "עברית", "Hebrew", rtl=True),
        _L("fa", "Persian", "فارسی", "Arabic", rtl=True),
        _L("ur", "Urdu", "اردو", "Arabic", rtl=True),
        _L("ta", "Tamil", "தமிழ்", "Tamil"),
        _L("te", "Telugu", "తెలుగు", "Telugu"),
        _L("mr", "Marathi", "मराठी", "Devanagari"),
        _L("ms", "Malay", "Bahasa Melayu", "Latin"),
        _L("ro", "Romanian", "Română", "Latin"),
        _L("hu", "Hungarian", "Magyar", "Latin"),
        _L("fi", "Finnish", "Suomi", "Latin"),
        _L("da", "Danish", "Dansk", "Latin"),
        _L("yo", "Yoruba", "Yorùbá", "Latin"),
        _L("am", "Amharic", "አማርኛ", "Ethiopic"),
        _L("my", "Burmese", "မြန်မာ", "Myanmar", spaced=False),
        _L("km", "Khmer", "ខ្មែរ", "Khmer", spaced=False),
        _L("lo", "Lao", "ລາວ", "Lao", spaced=False),
    ]
}


# ISO 639-3 codes of the languages above (the ISO 639-2/T code where there is one, as FLORES-200 and
# Belebele write them; tests/test_first_hour_edges.py checks them against lingua's ISO 639-1/639-3 pairs),
# and the individual languages that FLORES-200 uses for a macrolanguage: Standard Arabic, Mandarin, Western
# Persian, Standard Malay and Swahili (individual language).
ISO639_3: dict[str, str] = {
    "eng": "en", "deu": "de", "fra": "fr", "ita": "it", "por": "pt", "hin": "hi", "spa": "es", "tha": "th",
    "zho": "zh", "jpn": "ja", "kor": "ko", "ara": "ar", "rus": "ru", "swa": "sw", "tur": "tr", "vie": "vi",
    "ind": "id", "ben": "bn", "nld": "nl", "pol": "pl", "swe": "sv", "ukr": "uk", "ces": "cs", "ell": "el",
    "heb": "he", "fas": "fa", "urd": "ur", "tam": "ta", "tel": "te", "mar": "mr", "msa": "ms", "ron": "ro",
    "hun": "hu", "fin": "fi", "dan": "da", "yor": "yo", "amh": "am", "mya": "my", "khm": "km", "lao": "lo",
    # individual languages of macrolanguages
    "arb": "ar", "cmn": "zh", "pes": "fa", "zsm": "ms", "swh": "sw",
}

# ISO 15924 script subtags → the script names above. Han covers simplified and traditional Chinese;
# Japanese text mixes Han and kana (Jpan); Korean is Hangul, possibly with Han (Kore).
SCRIPTS: dict[str, str] = {
    "latn": "Latin", "deva": "Devanagari", "thai": "Thai", "hans": "Han", "hant": "Han", "hani": "Han",
    "jpan": "Japanese", "hira": "Japanese", "kana": "Japanese", "hrkt": "Japanese", "hang": "Hangul",
    "kore": "Hangul", "arab": "Arabic", "cyrl": "Cyrillic", "beng": "Bengali", "grek": "Greek",
    "hebr": "Hebrew", "taml": "Tamil", "telu": "Telugu", "ethi": "Ethiopic", "mymr": "Myanmar",
    "khmr": "Khmer", "laoo": "Lao",
}
_SCRIPT_CODES = {name: code.title() for code, name in reversed(SCRIPTS.items())}  # the first code per script


def primary_subtag(code: str) -> str:
    """The key evalkit files a code under: its primary subtag, lower case, as ISO 639-1 when it is an ISO
    639-3 code of a known language (``pt-BR`` → ``pt``, ``deu_Latn`` → ``de``)."""
    primary = code.replace("_", "-").split("-")[0].lower()
    return ISO639_3.get(primary, primary)


def _script_subtag(code: str) -> str | None:
    """The 4-letter script subtag of a code (``zh-Hant-TW`` → ``hant``), lower case; None when there is none."""
    parts = code.replace("_", "-").split("-")[1:]
    return next((p.lower() for p in parts if len(p) == 4 and p.isalpha()), None)


def _wrong_script(code: str, lang: Language) -> str | None:
    """The script a code names when it is not the one evalkit checks for its language, else None."""
    script = _script_subtag(code)
    if script is None or SCRIPTS.get(script) == lang.script:
        return None
    return script.title()


def get_language(code: str) -> Language:
    """Look a code up; raises ``KeyError`` with the known codes when it is unknown."""
    lang = LANGUAGES.get(primary_subtag(code))
    if lang is None or _wrong_script(code, lang):
        raise KeyError(f"unknown language code {code!r}{unknown_hint(code)}; known: {', '.join(sorted(LANGUAGES))}")
    return lang


def is_known(code: str) -> bool:
    lang = LANGUAGES.get(primary_subtag(code))
    return lang is not None and _wrong_script(code, lang) is None


def flores_code(lang: Language, three: str | None = None) -> str:
    """The FLORES-200 spelling of a language (``de`` → ``deu_Latn``, ``ar`` → ``arb_Arab``, ``zh`` →
    ``zho_Hans``), or of ``three``, one of its ISO 639-3 codes."""
    if three is None:  # the individual language FLORES-200 uses for a macrolanguage (not Mandarin: zho_Hans)
        three = "zho" if lang.code == "zh" else next(k for k, v in reversed(ISO639_3.items()) if v == lang.code)
    script = "Hans" if lang.code == "zh" else _SCRIPT_CODES.get(lang.script, "Zyyy")
    return f"{three}_{script}"


def unknown_hint(code: str) -> str:
    """Why ``code`` is not a language evalkit knows, when that is more than "unknown": a script evalkit does
    not check the language in (``hin_Latn``: ``; the Latn script is not one evalkit checks Hindi in (it checks
    Devanagari: hi or hin_Deva)``), no script at all (``zho_Hnas``), or the nearest known code (``dei_Latn``:
    ``; did you mean 'deu_Latn'?``). "" when nothing is close (``xx``)."""
    lang = LANGUAGES.get(primary_subtag(code))
    if lang is not None:
        script = _wrong_script(code, lang)
        if script is not None and script.lower() not in SCRIPTS:
            return f"; {script} is not a script code; did you mean {lang.code!r} or {flores_code(lang)!r}?"
        if script is not None:
            return (f"; the {script} script is not one evalkit checks {lang.name} in "
                    f"(it checks {lang.script}: {lang.code} or {flores_code(lang)})")
        return ""
    from evalkit._hints import did_you_mean

    flores = "_" in code or len(code.replace("-", "_").split("_")[0]) == 3
    choices = [flores_code(LANGUAGES[two], three) for three, two in ISO639_3.items()] if flores else list(LANGUAGES)
    return did_you_mean(code, choices) if flores else did_you_mean(code.lower(), choices)


def canonical_code(code: str) -> str:
    """One spelling per language for comparing codes: ``de``, ``DE``, ``deu_Latn`` and ``de-Latn`` are ``de``;
    ``de_AT`` is ``de-at``; ``zh-Hant``/``zho_Hant`` are ``zh-hant``. A script subtag is dropped when it is
    the script evalkit checks the language in, except Hans/Hant (Simplified and Traditional Chinese are
    written differently). An unknown code is only lower-cased, with ``-`` for ``_``."""
    parts = code.replace("_", "-").casefold().split("-")
    lang = LANGUAGES.get(primary_subtag(code))
    if lang is None or _wrong_script(code, lang):
        return "-".join(parts)
    return "-".join([lang.code, *(p for p in parts[1:] if p in _DISTINCT_SCRIPTS or SCRIPTS.get(p) != lang.script)])


_DISTINCT_SCRIPTS = {"hans", "hant"}


def broader_codes(code: str) -> list[str]:
    """``canonical_code(code)``, then without its region and variants, then the language alone: the
    spellings a suite's language may have for a case in ``code`` (``zh-Hant-TW``: ``zh-hant-tw``,
    ``zh-hant``, ``zh``)."""
    key = canonical_code(code)
    parts = key.split("-")
    script = [p for p in parts[1:2] if len(p) == 4 and p.isalpha()]
    return list(dict.fromkeys([key, "-".join(parts[:1] + script), primary_subtag(code)]))


def same_language(a: str, b: str) -> bool:
    """Could two codes name the same language as written: one spelling (``canonical_code``), or one language
    where neither names a script or region the other contradicts (``zh`` and ``zho_Hans``, ``ja-JP`` and
    ``jpn_Jpan``; not ``zho_Hans`` and ``zh-Hant``, nor ``pt-BR`` and ``pt-PT``)."""
    ka, kb = canonical_code(a), canonical_code(b)
    if ka == kb:
        return True
    if not (is_known(a) and is_known(b)) or primary_subtag(a) != primary_subtag(b):
        return False
    pa, pb = _subtags(ka), _subtags(kb)
    return all(x is None or y is None or x == y for x, y in zip(pa, pb, strict=True))


def _subtags(key: str) -> tuple[str | None, str | None]:
    """The script and the region of a canonical code (None when it has none)."""
    rest = key.split("-")[1:]
    script = next((p for p in rest if len(p) == 4 and p.isalpha()), None)
    region = next((p for p in rest if len(p) == 2 or (len(p) == 3 and p.isdigit())), None)
    return script, region

