"""The languages evalkit knows: names, script, and how to tokenize them for BLEU/TER.

A language code is a BCP-47 tag; evalkit keys everything on its primary subtag
(``pt-BR`` → ``pt``) and keeps the full tag for display.
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


def primary_subtag(code: str) -> str:
    return code.replace("_", "-").split("-")[0].lower()


def get_language(code: str) -> Language:
    """Look a code up; raises ``KeyError`` with the known codes when it is unknown."""
    key = primary_subtag(code)
    try:
        return LANGUAGES[key]
    except KeyError:
        raise KeyError(f"unknown language code {code!r}; known: {', '.join(sorted(LANGUAGES))}") from None


def is_known(code: str) -> bool:
    return primary_subtag(code) in LANGUAGES
