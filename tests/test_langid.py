"""evalkit.langid: script profiles, language detection, language-fidelity verdicts."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.langid import (
    Detection,
    FidelityVerdict,
    ScriptProfile,
    check_language,
    detect,
    script_profile,
)
from evalkit.languages import LANGUAGES

# Model-style answers: (language, dominant script, text).
ANSWERS: list[tuple[str, str, str]] = [
    (
        "en",
        "Latin",
        "Sure! The capital of France is Paris. It is known for the Eiffel Tower, world-class museums "
        "such as the Louvre, and its café culture.",
    ),
    (
        "de",
        "Latin",
        "Gern! Die Hauptstadt von Frankreich ist Paris. Die Stadt ist bekannt für den Eiffelturm, "
        "den Louvre und ihre vielen Cafés.",
    ),
    (
        "fr",
        "Latin",
        "Bien sûr ! La capitale de la France est Paris. Elle est célèbre pour la tour Eiffel, "
        "le musée du Louvre et ses nombreux cafés.",
    ),
    (
        "it",
        "Latin",
        "Certo! La capitale della Francia è Parigi. È famosa per la Torre Eiffel, il museo del "
        "Louvre e i suoi caffè storici.",
    ),
    (
        "pt",
        "Latin",
        "Claro! A capital da França é Paris. A cidade é famosa pela Torre Eiffel, pelo Museu do "
        "Louvre e pelos seus cafés.",
    ),
    (
        "es",
        "Latin",
        "¡Claro! La capital de Francia es París. Es famosa por la Torre Eiffel, el Museo del Louvre "
        "y sus numerosos cafés.",
    ),
    (
        "sw",
        "Latin",
        "Bila shaka! Mji mkuu wa Ufaransa ni Paris. Mji huu unajulikana sana kwa Mnara wa Eiffel "
        "na makumbusho yake mengi.",
    ),
    (
        "nl",
        "Latin",
        "Natuurlijk! De hoofdstad van Frankrijk is Parijs. De stad staat bekend om de Eiffeltoren, "
        "het Louvre en de vele cafés.",
    ),
    (
        "tr",
        "Latin",
        "Elbette! Fransa'nın başkenti Paris'tir. Şehir, Eyfel Kulesi, Louvre Müzesi ve kafeleriyle ünlüdür.",
    ),
    (
        "vi",
        "Latin",
        "Tất nhiên! Thủ đô của Pháp là Paris. Thành phố nổi tiếng với tháp Eiffel, bảo tàng Louvre "
        "và nhiều quán cà phê.",
    ),
    (
        "pl",
        "Latin",
        "Oczywiście! Stolicą Francji jest Paryż. Miasto słynie z wieży Eiffla, Luwru i wielu kawiarni.",
    ),
    (
        "hi",
        "Devanagari",
        "ज़रूर! फ़्रांस की राजधानी पेरिस है। यह शहर एफ़िल टॉवर, लूव्र संग्रहालय और अपने कैफ़े के लिए प्रसिद्ध है।",
    ),
    (
        "mr",
        "Devanagari",
        "नक्कीच! फ्रान्सची राजधानी पॅरिस आहे. हे शहर आयफेल टॉवर आणि लूव्र संग्रहालयासाठी प्रसिद्ध आहे.",
    ),
    (
        "th",
        "Thai",
        "แน่นอนครับ! เมืองหลวงของประเทศฝรั่งเศสคือกรุงปารีส ซึ่งมีชื่อเสียงด้านหอไอเฟลและพิพิธภัณฑ์ลูฟร์",
    ),
    ("zh", "Han", "当然！法国的首都是巴黎。巴黎以埃菲尔铁塔、卢浮宫博物馆和众多咖啡馆而闻名。"),
    (
        "ja",
        "Japanese",
        "もちろんです！フランスの首都はパリです。パリはエッフェル塔やルーブル美術館、たくさんのカフェで有名です。",
    ),
    (
        "ko",
        "Hangul",
        "물론입니다! 프랑스의 수도는 파리입니다. 파리는 에펠탑과 루브르 박물관, 그리고 수많은 카페로 유명합니다.",
    ),
    ("ar", "Arabic", "بالتأكيد! عاصمة فرنسا هي باريس. تشتهر المدينة ببرج إيفل ومتحف اللوفر والعديد من المقاهي."),
    ("fa", "Arabic", "البته! پایتخت فرانسه پاریس است. این شهر به خاطر برج ایفل و موزه لوور مشهور است."),
    ("ur", "Arabic", "جی ہاں! فرانس کا دارالحکومت پیرس ہے۔ یہ شہر ایفل ٹاور اور لوور میوزیم کے لیے مشہور ہے۔"),
    (
        "ru",
        "Cyrillic",
        "Конечно! Столица Франции — Париж. Город известен Эйфелевой башней, Лувром и множеством уютных кафе.",
    ),
    (
        "uk",
        "Cyrillic",
        "Звісно! Столиця Франції — Париж. Місто відоме Ейфелевою вежею, Лувром і безліччю затишних кав'ярень.",
    ),
    (
        "el",
        "Greek",
        "Φυσικά! Η πρωτεύουσα της Γαλλίας είναι το Παρίσι. Η πόλη είναι διάσημη για τον Πύργο του Άιφελ και το Λούβρο.",
    ),
    ("he", "Hebrew", "בוודאי! בירת צרפת היא פריז. העיר מפורסמת בזכות מגדל אייפל, מוזיאון הלובר ובתי הקפה הרבים שלה."),
    ("bn", "Bengali", "অবশ্যই! ফ্রান্সের রাজধানী প্যারিস। শহরটি আইফেল টাওয়ার এবং লুভর জাদুঘরের জন্য বিখ্যাত।"),
    ("ta", "Tamil", "நிச்சயமாக! பிரான்சின் தலைநகரம் பாரிஸ். இந்த நகரம் ஈபிள் கோபுரத்திற்கு பிரபலமானது."),
]

# Longer, markdown-formatted answers of the kind chat models produce.
LONG_EN = """Great question! Photosynthesis is the process by which green plants, algae and some bacteria \
turn light energy into chemical energy.

1. **Light-dependent reactions**: in the thylakoid membranes, chlorophyll absorbs sunlight and splits \
water molecules, releasing oxygen.
2. **Calvin cycle**: in the stroma, the plant uses ATP and NADPH to fix carbon dioxide into glucose.

In short: 6CO2 + 6H2O → C6H12O6 + 6O2. Let me know if you'd like more detail!"""

LONG_ES = """¡Buena pregunta! La fotosíntesis es el proceso mediante el cual las plantas verdes, las algas y \
algunas bacterias transforman la energía de la luz en energía química.

1. **Fase luminosa**: en las membranas de los tilacoides, la clorofila absorbe la luz solar y divide \
las moléculas de agua, liberando oxígeno.
2. **Ciclo de Calvin**: en el estroma, la planta utiliza ATP y NADPH para fijar el dióxido de carbono \
en forma de glucosa.

En resumen, las plantas producen su propio alimento y liberan el oxígeno que respiramos."""

LONG_PT = """Ótima pergunta! A fotossíntese é o processo pelo qual as plantas verdes, as algas e algumas \
bactérias transformam a energia da luz em energia química.

1. **Fase clara**: nas membranas dos tilacoides, a clorofila absorve a luz do sol e quebra as \
moléculas de água, liberando oxigênio.
2. **Ciclo de Calvin**: no estroma, a planta usa ATP e NADPH para fixar o dióxido de carbono na \
forma de glicose.

Em resumo, as plantas produzem o próprio alimento e liberam o oxigênio que respiramos."""

LONG_HI = """अच्छा सवाल है! प्रकाश संश्लेषण वह प्रक्रिया है जिसके द्वारा हरे पौधे, शैवाल और कुछ बैक्टीरिया \
प्रकाश ऊर्जा को रासायनिक ऊर्जा में बदलते हैं।

1. **प्रकाश अभिक्रिया**: थायलाकॉइड झिल्लियों में क्लोरोफिल सूर्य के प्रकाश को अवशोषित करता है और पानी के \
अणुओं को तोड़ता है, जिससे ऑक्सीजन निकलती है।
2. **केल्विन चक्र**: स्ट्रोमा में पौधा ATP और NADPH का उपयोग करके कार्बन डाइऑक्साइड को ग्लूकोज़ में बदलता है।"""

MIXED_EN_DE_SHORT = (
    "The capital of France is Paris. It is known for the Eiffel Tower and the Louvre. "
    "Die Stadt hat viele Museen und ist besonders im Frühling sehr schön."
)

MIXED_EN_DE_LONG = """Photosynthesis is the process by which green plants turn light energy into chemical \
energy. In the thylakoid membranes, chlorophyll absorbs sunlight and splits water, which releases the \
oxygen that we breathe.

Im Stroma nutzt die Pflanze dann die gewonnene Energie, um Kohlendioxid in Zucker umzuwandeln. Dieser \
Vorgang heißt Calvin-Zyklus und findet auch im Dunkeln statt, solange genug Energie vorhanden ist."""

TRANSLIT_HI = "Mujhe nahin pata, lekin main koshish karunga."
TRANSLIT_HI_2 = "Aap kaise hain? Main theek hoon, aapka din kaisa raha?"
ROMAJI = "Watashi wa nihongo o benkyou shite imasu. Totemo omoshiroi desu."


# ------------------------------------------------------------ script_profile


def test_script_profile_pure_latin() -> None:
    p = script_profile("Hello, world! 123")
    assert p == ScriptProfile({"Latin": 1.0}, 10)
    assert p.dominant == "Latin"


def test_script_profile_shares() -> None:
    p = script_profile("abcd мир")  # 4 Latin + 3 Cyrillic letters
    assert p.letters == 7
    assert p.shares == pytest.approx({"Latin": 4 / 7, "Cyrillic": 3 / 7})
    assert p.dominant == "Latin"
    assert sum(p.shares.values()) == pytest.approx(1.0)


def test_script_profile_no_letters() -> None:
    for text in ["", "   ", "42", "3.14 ± 0.01", "!!! ???", "🙂👍", "= + - * /"]:
        p = script_profile(text)
        assert p.letters == 0, text
        assert p.shares == {}
        assert p.dominant is None


@pytest.mark.parametrize(
    ("text", "script", "letters"),
    [
        ("Ελληνικά", "Greek", 8),
        ("Русский", "Cyrillic", 7),
        ("עברית", "Hebrew", 5),
        ("العربية", "Arabic", 7),
        ("नमस्ते", "Devanagari", 6),  # vowel signs and virama are marks, counted
        ("বাংলা", "Bengali", 5),
        ("தமிழ்", "Tamil", 5),
        ("తెలుగు", "Telugu", 6),
        ("ภาษาไทย", "Thai", 7),
        ("ລາວ", "Lao", 3),
        ("ខ្មែរ", "Khmer", 5),
        ("မြန်မာ", "Myanmar", 6),
        ("አማርኛ", "Ethiopic", 4),
        ("한국어", "Hangul", 3),
        ("汉字", "Han", 2),
        ("ひらがな", "Japanese", 4),
        ("カタカナ", "Japanese", 4),
        ("ქართული", "Other", 7),  # Georgian is not one of the named scripts
        ("ＡＢＣ", "Latin", 3),  # fullwidth
        ("cafe\u0301", "Latin", 4),  # decomposed é: the combining accent is not a letter of its own
        ("Tiếng Việt", "Latin", 9),
    ],
)
def test_script_profile_scripts(text: str, script: str, letters: int) -> None:
    p = script_profile(text)
    assert p.dominant == script
    assert p.letters == letters


def test_script_profile_japanese_grouping() -> None:
    p = script_profile("日本語の文章です")  # 5 Han + 3 Hiragana
    assert p.shares == pytest.approx({"Han": 5 / 8, "Hiragana": 3 / 8})
    assert p.dominant == "Japanese"  # any kana: Han + kana is Japanese
    assert script_profile("中文文本").dominant == "Han"  # no kana: Chinese
    assert script_profile("漢字漢字漢字漢字漢字ア").dominant == "Japanese"
    assert script_profile("Hello 世界").dominant == "Latin"


def test_script_profile_registry_scripts_are_known() -> None:
    # Every script named in evalkit's registry can be produced by script_profile.
    from evalkit.langid._script import JAPANESE, SCRIPTS

    for lang in LANGUAGES.values():
        assert lang.script in SCRIPTS or lang.script == JAPANESE, lang


# -------------------------------------------------------------------- detect


@pytest.mark.parametrize(("lang", "script", "text"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_detect_answers(lang: str, script: str, text: str) -> None:
    d = detect(text)
    assert d.language == lang
    assert d.script == script
    assert not d.mixed
    assert not d.transliterated
    assert d.confidence >= 0.5
    assert detect(text, expected=lang).language == lang
    verdict = check_language(text, lang)
    assert verdict.applicable and verdict.ok, verdict
    assert verdict.reason == "ok"


def test_answers_cover_languages_and_scripts() -> None:
    langs = {a[0] for a in ANSWERS}
    scripts = {a[1] for a in ANSWERS}
    assert {"en", "de", "fr", "it", "pt", "es", "sw", "hi", "th", "zh", "ja", "ko", "ar", "ru"} <= langs
    assert {"el", "he"} <= langs
    assert len(scripts) >= 7


@pytest.mark.parametrize(("lang", "text"), [("en", LONG_EN), ("es", LONG_ES), ("pt", LONG_PT), ("hi", LONG_HI)])
def test_detect_long_markdown_answers(lang: str, text: str) -> None:
    d = detect(text)
    assert d.language == lang
    assert not d.mixed  # ATP, NADPH, formulas and markdown do not make a text mixed
    assert d.confidence > 0.9
    assert check_language(text, lang).ok


def test_detect_english_with_proper_nouns() -> None:
    # lingua alone is unsure about short, name-heavy English; function words settle it.
    text = "It is known for the Eiffel Tower, art museums such as the Louvre, and its cafés."
    assert detect(text).language == "en"
    assert detect(text, expected="de").language == "en"
    assert check_language(text, "en").ok
    v = check_language(text, "de")
    assert (v.ok, v.reason) == (False, "wrong language: en")


def test_detect_no_letters() -> None:
    assert detect("") == Detection(None, 0.0, None, False, False)
    assert detect("12 + 30 = 42").language is None


def test_detect_unknown_script() -> None:
    d = detect("საქართველოს დედაქალაქი თბილისია.")  # Georgian: not in the registry
    assert d.language is None
    assert d.script == "Other"


def test_detect_ignores_urls() -> None:
    text = "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย ดูเพิ่มเติมได้ที่ https://en.wikipedia.org/wiki/Bangkok_Metropolis"
    d = detect(text)
    assert d.language == "th"
    assert not d.mixed


def test_detect_dataclass_is_frozen() -> None:
    d = detect("Bonjour tout le monde, comment allez-vous aujourd'hui ?")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.language = "en"  # type: ignore[misc]


# ---------------------------------------------------------- transliteration


@pytest.mark.parametrize("text", [TRANSLIT_HI, TRANSLIT_HI_2])
def test_romanized_hindi_is_flagged(text: str) -> None:
    for expected in ("hi", None):
        d = detect(text, expected=expected)
        assert d.transliterated
        assert d.script == "Latin"
        assert d.language != "hi"
    v = check_language(text, "hi")
    assert v.applicable and v.ok is False
    assert v.detected != "hi"
    assert v.reason == "wrong script: Latin (transliterated)"


def test_romanized_japanese_is_flagged() -> None:
    d = detect(ROMAJI, expected="ja")
    assert d.transliterated and d.language != "ja"
    assert detect(ROMAJI).transliterated
    v = check_language(ROMAJI, "ja")
    assert v.ok is False
    assert v.reason == "wrong script: Latin (transliterated)"


def test_romanized_russian_for_russian_prompt() -> None:
    text = "Privet! Stolitsa Frantsii - Parizh. Eto ochen krasivyy gorod."
    d = detect(text, expected="ru")
    assert d.transliterated and d.language is None
    assert check_language(text, "ru").ok is False


def test_latin_languages_are_not_transliterations() -> None:
    for text in [
        "Habari yako? Ninafurahi kukuona leo. Tunaenda sokoni kununua matunda.",
        "Main point: the main reason is that we need more data to train the model.",
        "Saya tidak tahu, tetapi saya akan mencoba membantu Anda.",
    ]:
        assert not detect(text).transliterated, text


# --------------------------------------------------------------------- mixed


@pytest.mark.parametrize("text", [MIXED_EN_DE_SHORT, MIXED_EN_DE_LONG])
def test_mixed_english_german(text: str) -> None:
    d = detect(text)
    assert d.mixed
    assert d.language in {"en", "de"}
    for expected in ("en", "de"):
        v = check_language(text, expected)
        assert v.applicable and v.ok is False
        assert v.reason == "mixed"


def test_mixed_scripts() -> None:
    text = (
        "คำตอบคือกรุงปารีสซึ่งเป็นเมืองหลวงของประเทศฝรั่งเศส "
        "The city is famous for the Eiffel Tower and for its many museums and cafes."
    )
    d = detect(text)
    assert d.mixed
    assert check_language(text, "th").reason == "mixed"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Python是一种编程语言，广泛用于Web开发、数据分析和人工智能。", "zh"),
        ("PythonはWebアプリケーションやデータ分析で広く使われているプログラミング言語です。", "ja"),
        ("Python은 웹 개발과 데이터 분석에 널리 사용되는 프로그래밍 언어입니다.", "ko"),
    ],
)
def test_cjk_with_english_terms_is_not_mixed(text: str, lang: str) -> None:
    # A Han character carries about a word: 6 Latin letters do not outweigh 20 of them.
    d = detect(text)
    assert (d.language, d.mixed) == (lang, False)
    assert check_language(text, lang).ok


def test_english_about_hindi_phrases_is_english() -> None:
    d = detect("In Hindi, 'aap kaise hain' means 'how are you'.")
    assert (d.language, d.transliterated) == ("en", False)


def test_english_quote_in_german_answer_is_not_mixed() -> None:
    text = (
        "Auf Englisch sagt man dazu „It's raining cats and dogs“. Gemeint ist, dass es sehr stark "
        "regnet. Die Redewendung ist alt und ihre Herkunft ist bis heute nicht ganz geklärt, aber "
        "sie wird im Alltag häufig benutzt."
    )
    d = detect(text)
    assert d.language == "de"
    assert not d.mixed


# ------------------------------------------------------------ check_language


def test_english_answer_to_hindi_prompt() -> None:
    text = "The capital of France is Paris. It is famous for the Eiffel Tower and the Louvre museum."
    v = check_language(text, "hi")
    assert v == FidelityVerdict(True, False, "hi", "en", v.confidence, "wrong language: en")
    assert v.confidence >= 0.5


def test_thai_answer_to_english_prompt() -> None:
    v = check_language(ANSWERS[13][2], "en")
    assert (v.ok, v.detected, v.reason) == (False, "th", "wrong language: th")


def test_related_language_counts_as_wrong() -> None:
    pt = dict((a[0], a[2]) for a in ANSWERS)["pt"]
    v = check_language(pt, "es")
    assert (v.ok, v.reason) == (False, "wrong language: pt")
    v = check_language(LONG_ES, "pt")
    assert (v.ok, v.reason) == (False, "wrong language: es")


def test_chinese_answer_to_japanese_prompt() -> None:
    zh = dict((a[0], a[2]) for a in ANSWERS)["zh"]
    v = check_language(zh, "ja")
    assert (v.ok, v.detected, v.reason) == (False, "zh", "wrong language: zh")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("42", "numbers only"),
        ("3.14159", "numbers only"),
        ("1, 2, 3, 5, 8, 13", "numbers only"),
        ("Paris", "too short"),
        ("Oui.", "too short"),
        ("Salut !", "too short"),  # ("東京" for fr fails instead: wrong script, see test_short_answers.py)
        ("", "empty"),
        ("   \n", "empty"),
        ("?!", "no letters"),
        ("```python\nprint('hello world')\n```", "code"),
        ("`x = 1`", "code"),
    ],
)
def test_not_applicable(text: str, reason: str) -> None:
    v = check_language(text, "fr")
    assert v == FidelityVerdict(False, None, "fr", None, 0.0, reason)


def test_skip_numeric_false_judges_numbers() -> None:
    v = check_language("42", "de", skip_numeric=False)
    assert v.applicable and v.ok is False
    assert v.reason == "numbers only"


def test_min_chars() -> None:
    assert check_language("Bonjour", "fr").reason == "too short"  # 7 letters < 8
    v = check_language("Bonjour", "fr", min_chars=3)
    assert v.applicable


def test_code_blocks_are_ignored() -> None:
    text = (
        "Hier ist eine Funktion, die eine Liste sortiert und das Ergebnis zurückgibt:\n\n"
        "```python\n"
        "def sort_items(items: list[int]) -> list[int]:\n"
        "    # return a new sorted list, the input stays unchanged\n"
        "    return sorted(items)\n"
        "```\n\n"
        "Die Funktion `sort_items` verändert die ursprüngliche Liste nicht."
    )
    v = check_language(text, "de")
    assert v.ok, v
    # Without skipping, the English comment and identifiers are judged too.
    assert check_language(text, "de", skip_code=False).applicable


def test_code_in_hindi_answer() -> None:
    text = (
        "यह फ़ंक्शन दो संख्याओं का योग लौटाता है:\n"
        "```python\ndef add(a, b):\n    # add two numbers and return the result\n    return a + b\n```\n"
        "आप इसे किसी भी दो संख्याओं के साथ इस्तेमाल कर सकते हैं।"
    )
    assert check_language(text, "hi").ok  # the English comment inside the code does not count


def test_unclosed_code_fence() -> None:
    text = "Voici la solution complète en Python :\n```python\nfor i in range(10):\n    print(i)\n"
    assert check_language(text, "fr").ok


def test_min_confidence() -> None:
    text = "Albert Einstein est né à Ulm en 1879."  # short, name-heavy: lingua is unsure
    v = check_language(text, "en", min_confidence=0.99)
    assert not v.applicable and v.ok is None
    assert v.reason.startswith("uncertain")
    v = check_language(text, "en", min_confidence=0.0)
    assert (v.ok, v.reason) == (False, "wrong language: fr")
    assert check_language(text, "fr", min_confidence=0.99).ok  # the expected language is never "uncertain"


def test_bcp47_expected() -> None:
    pt = dict((a[0], a[2]) for a in ANSWERS)["pt"]
    v = check_language(pt, "pt-BR")
    assert v.ok and v.expected == "pt"


def test_unknown_expected_language() -> None:
    with pytest.raises(KeyError):
        check_language("Hello there, how are you?", "xx")


# ---------------------------------------------------------- detector & speed


def test_detector_built_once_and_thread_safe() -> None:
    from evalkit.langid import _detect

    assert _detect._detector() is _detect._detector()
    texts = [a[2] for a in ANSWERS]
    expected = [a[0] for a in ANSWERS]
    errors: list[BaseException] = []
    results: dict[int, list[str | None]] = {}

    def work(i: int) -> None:
        try:
            results[i] = [detect(t).language for t in texts]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == expected for r in results.values())


def test_long_text_is_sampled() -> None:
    from evalkit.langid import _detect

    text = (LONG_EN + "\n\n") * 40  # about 20,000 characters
    chunks = _detect._chunks(text)
    assert sum(len(c) for c, _ in chunks) <= _detect.LINGUA_BUDGET + 400
    assert detect(text).language == "en"


# ----------------------------------------------------------------- properties

_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzäöüßéèçñ ABCXYZ.,!?;:'\"`\n\t-_()[]{}#*0123456789")
    + list("абвгдеёжзийклмнопрстуфхцчшщыэюяїієґ")
    + list("αβγδεζηθικλμνξοπρστυφχψω")
    + list("אבגדהוזחטיכלמנסעפצקרשת")
    + list("ابتثجحخدذرزسشصضطظعغفقكلمنهويپچژگکی")
    + list("अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौंः्")
    + list("กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอฮะาำิีึืุูเแโใไ่้๊๋")
    + list("あいうえおかきくけこアイウエオカキクケコ日本語中文汉字")
    + list("가나다라마바사아자차카타파하한국어")
    + ["🙂", "\u0301", "\u200d", "\ufeff", "\U0001f600", "\x00", "\u0378"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.text(alphabet=_ALPHABET, max_size=400)))
def test_never_raises(text: str) -> None:
    d = detect(text)
    assert 0.0 <= d.confidence <= 1.0
    assert d.language is None or d.language in LANGUAGES
    for expected in ("en", "hi", "ja"):
        d = detect(text, expected=expected)
        assert 0.0 <= d.confidence <= 1.0
        v = check_language(text, expected)
        assert 0.0 <= v.confidence <= 1.0
        assert (v.ok is None) == (not v.applicable)
        assert v.expected == expected
    p = script_profile(text)
    assert p.letters >= 0
    assert p.letters == 0 or sum(p.shares.values()) == pytest.approx(1.0)


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_never_raises_on_surrogates(text: str) -> None:
    text = text + "\ud800 abc def ghi jkl"  # a lone surrogate never reaches lingua raw
    d = detect(text, expected="en")
    assert 0.0 <= d.confidence <= 1.0
    check_language(text, "en")
