"""Offline identification of the language a model answered in.

* :func:`script_profile` — letters per Unicode script (pure Python, fast).
* :func:`detect` — the language of a text: script rules where the script is
  unambiguous (Thai → th, Hangul → ko, Han + kana → ja, ...), lingua
  (``lingua-language-detector``) among the languages sharing a script
  (Latin, Cyrillic, Arabic, Devanagari), plus mixed-language and romanized
  (transliterated) text detection.
* :func:`check_language` — the language-fidelity verdict for one output:
  is it in the expected language, and does the check even apply?

Only evalkit's registry languages (:mod:`evalkit.languages`) are ever
reported. lingua is imported lazily; one detector is built per process.
"""

from ._detect import Detection, detect, warm_up
from ._fidelity import FidelityVerdict, check_language
from ._script import ScriptProfile, script_profile

__all__ = [
    "Detection",
    "FidelityVerdict",
    "ScriptProfile",
    "check_language",
    "detect",
    "script_profile",
    "warm_up",
]
