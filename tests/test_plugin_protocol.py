"""The custom scorer protocol: the decorator and base class, values, options, per-item errors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import evalkit
from evalkit.errors import UsageError
from evalkit.scoring import CustomScorer, Score, ScorerOptionsError, build_scorer, recorded_scorer
from evalkit.scoring._pool import ItemScorer
from evalkit.suite._schema import SCORER_NAMES

pytestmark = pytest.mark.usefixtures("clean_registry")


def test_a_decorated_function_is_a_scorer_with_the_arguments_it_names() -> None:
    seen: list[dict[str, Any]] = []

    @evalkit.scorer(references=True, fields=["glossary"])
    def shorter(output: str, references: list[str], fields: dict[str, Any], language: str) -> float:
        seen.append({"references": references, "fields": fields, "language": language})
        return 1.0 if len(output) <= len(references[0]) else 0.25

    s = build_scorer("shorter", {}, "de")
    assert (s.label, s.kind, s.needs_references, s.higher_is_better) == ("shorter", "corpus", True, True)
    item = s.score_item("kurz", ["ein Satz"], {"glossary": ["x"]})  # type: ignore[attr-defined]
    assert (item.value, item.stats, item.error) == (1.0, [1.0, 1.0], None)
    assert seen == [{"references": ["ein Satz"], "fields": {"glossary": ["x"]}, "language": "de"}]
    # Continuous values: a corpus metric whose statistics are (sum, count): the mean, shown 0-100.
    assert s.corpus_score([1.25, 2.0]) == pytest.approx(62.5)


def test_binary_scorers_are_pass_rates_and_bools_are_values() -> None:
    @evalkit.scorer(binary=True, higher_is_better=False)
    def refuses(output: str) -> bool:
        return "sorry" in output.lower()

    s = build_scorer("refuses", {"label": "refusal"}, "en")
    assert (s.label, s.kind, s.higher_is_better) == ("refusal", "binary", False)
    assert s.score("Sorry, no", []).value == 1.0
    assert s.score("Sure", []).value == 0.0
    assert s.score("Sure", []).stats is None


def test_a_scorer_class_keeps_state_and_validates_options() -> None:
    class Opts(BaseModel):
        model_config = ConfigDict(extra="forbid")
        word: str

    @evalkit.scorer()
    class HasWord(CustomScorer):
        name = "has_word"
        binary = True
        Options = Opts

        def score(self, output: str, references: Sequence[str], fields: Mapping[str, Any]) -> Score:
            assert isinstance(self.options, Opts)
            return Score(self.options.word in output, details={"language": self.language})

    s = build_scorer("has_word", {"word": "Tag"}, "de")
    item = s.score("Guten Tag", [])
    assert (item.value, item.details) == (1.0, {"language": "de"})
    with pytest.raises(ScorerOptionsError) as exc:
        build_scorer("has_word", {"word": "Tag", "wort": "Tag"}, "de")
    assert exc.value.field == "wort" and exc.value.message == "unknown option"


def test_options_are_refused_by_a_scorer_that_takes_none() -> None:
    @evalkit.scorer
    def plain(output: str) -> float:
        return 1.0

    with pytest.raises(ScorerOptionsError) as exc:
        build_scorer("plain", {"threshold": 2}, "en")
    assert exc.value.field == "threshold"
    assert build_scorer("plain", {"label": "p2"}, "en").label == "p2"


@pytest.mark.parametrize(("returned", "says"), [
    (1.5, "returned 1.5, outside [0, 1]"),
    (math.nan, "returned nan, outside [0, 1]"),
    ("yes", "returned str, expected a number in [0, 1], a bool, None or Score"),
])
def test_a_value_outside_the_protocol_is_an_item_error_not_a_score(returned: object, says: str) -> None:
    @evalkit.scorer
    def odd(output: str) -> object:
        return returned

    item = build_scorer("odd", {}, "en").score("x", [])
    assert item.value is None and item.stats is None
    assert item.error == f"scorer 'odd': {says}"


def test_a_binary_scorer_returning_a_fraction_is_an_error() -> None:
    @evalkit.scorer(binary=True)
    def half(output: str) -> float:
        return 0.5

    assert build_scorer("half", {}, "en").score("x", []).error == \
        "scorer 'half': returned 0.5; a binary scorer returns 0, 1 or a bool"


def test_an_exception_in_a_scorer_is_that_items_error_and_the_others_are_scored() -> None:
    @evalkit.scorer
    def fragile(output: str) -> float:
        if "boom" in output:
            raise KeyError("missing")
        return 1.0

    scorer = ItemScorer([("fragile", "fragile", {}), ("exact_match", "exact_match", {})])
    ok, bad = scorer.score_many([("en", "fine", ("fine",), {}), ("en", "boom", ("boom",), {})])
    assert ok.error is None and ok.scores == {"fragile": 1.0, "exact_match": 1.0}
    assert bad.error == "scorer 'fragile': KeyError: 'missing'"
    assert "fragile" not in bad.scores and bad.scores["exact_match"] == 1.0  # never a zero


def test_none_means_not_applicable() -> None:
    @evalkit.scorer
    def sometimes(output: str) -> float | None:
        return None

    item = build_scorer("sometimes", {}, "en").score("x", [])
    assert (item.value, item.stats, item.error) == (None, None, None)


def test_custom_aggregation_from_sufficient_statistics() -> None:
    def ratio_of_sums(summed: Sequence[float]) -> float:
        return 100.0 * summed[0] / summed[1]

    @evalkit.scorer(aggregate=ratio_of_sums)
    def kept_chars(output: str, references: list[str]) -> Score:
        kept = sum(1 for ch in references[0] if ch in output)
        return Score(kept / max(len(references[0]), 1), stats=[kept, len(references[0])])

    s = build_scorer("kept_chars", {}, "en")
    assert s.score("ab", ["abcd"]).stats == [2.0, 4.0]
    assert s.corpus_score([3.0, 4.0]) == 75.0


def test_a_mean_scorer_aggregates_from_its_record_without_the_plugin() -> None:
    stand_in = recorded_scorer("not_loaded_anywhere", {}, "de", "mean")
    assert stand_in.kind == "corpus" and stand_in.corpus_score([3.0, 4.0]) == 75.0


@pytest.mark.parametrize("name", SCORER_NAMES)
def test_no_built_in_name_can_be_taken_by_a_plugin(name: str) -> None:
    """Every scorer name the suite schema accepts as built in (``judge`` included) is refused to a plugin: a
    plugin of that name would otherwise register and then be silently shadowed by the built-in."""
    with pytest.raises(UsageError, match="has the name of a built-in scorer"):
        evalkit.scorer(name)(lambda output: 1.0)


def test_names_may_not_shadow_built_ins_or_each_other(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="has the name of a built-in scorer"):
        evalkit.scorer("bleu")(lambda output: 1.0)
    def first(output: str) -> float:
        return 1.0

    def second(output: str) -> float:
        return 0.0

    evalkit.scorer("twice")(first)
    evalkit.scorer("twice")(first)  # the same function again (a module imported twice): fine
    with pytest.raises(UsageError, match="two plugins define the scorer 'twice'"):
        evalkit.scorer("twice")(second)


def test_a_function_with_an_unknown_required_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown parameter 'case'"):
        evalkit.scorer(lambda output, case: 1.0)


def test_a_scorer_class_that_fails_to_set_up_is_one_usage_error() -> None:
    @evalkit.scorer()
    class Broken(CustomScorer):
        name = "broken"

        def __init__(self, options: BaseModel | None, language: str) -> None:
            raise FileNotFoundError("glossary.tsv")

    with pytest.raises(UsageError, match=r"scorer 'broken' \(broken=.*\) could not be set up for de: "
                                         r"FileNotFoundError: glossary.tsv"):
        build_scorer("broken", {}, "de")
