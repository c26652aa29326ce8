"""The pytest plugin (evalkit.pytest_plugin), driven by pytest's own ``pytester``.

A baseline run is made against one test server answering perfectly; the candidate suite points at
a second server that answers "Sorry" in Thai only: the planted regression must fail exactly Thai's
checks, through collection, node ids, ``-k``, ``--lf``, JUnit output and a reused run directory.
"""

from __future__ import annotations

import re
import shutil
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import needs_model, pytest_plugin_args, run_cli, translator

import evalkit.pytest_plugin._fixtures
import evalkit.pytest_plugin._nodes
import evalkit.runner  # noqa: F401  (see below)
from evalkit.testing import FakeOpenAIServer

# pytester's in-process runs drop the modules first imported inside them; an extension module
# cannot be imported twice in one process, so everything the plugin uses is imported here first.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


PLUGIN = pytest_plugin_args()

SUITE = """\
name: plug
model:
  name: test-model
  base_url: {base_url}
  params: {{temperature: 0, max_tokens: 32}}
  max_attempts: 1
languages: [de, zh, th]
prompts:
  plain:
    user: "Translate into {{{{ language.name }}}}: {{{{ source }}}}"
cases:
  - {{id: c1, source: Good morning, reference: {{de: Guten Morgen, zh: 早上好, th: สวัสดีตอนเช้า}}}}
  - {{id: c2, source: Thank you very much, reference: {{de: Vielen Dank, zh: 非常感谢, th: ขอบคุณมาก}}}}
  - {{id: c3, source: The weather is nice today,
     reference: {{de: Das Wetter ist heute schön, zh: 今天天气很好, th: วันนี้อากาศดี}}}}
scorers: [bleu, {{chrf: {{plus: true}}}}, exact_match]
gates:
  min_items: 3
  thresholds: {{chrf++: {{min: 50}}}}
  regressions: {{default: {{max_drop: 5, require_significant: false}}}}
"""

METRICS = ["bleu", "chrf++", "exact_match"]


def expected_ids(path: str, languages: list[str]) -> list[str]:
    ids = [f"{path}::run"]
    for lang in languages:
        for metric in METRICS:
            if metric == "chrf++":
                ids.append(f"{path}::{lang}::{metric}::min")
            ids.append(f"{path}::{lang}::{metric}::regression")
    return ids


def broken_thai(request: dict[str, Any]) -> str:
    """The planted regression: a perfect translator, except into Thai."""
    return "Sorry" if "into Thai" in request["messages"][-1]["content"] else translator(request)


@dataclass
class Project:
    pytester: pytest.Pytester
    suite: Path  # suites/plug.yaml, pointing at the candidate server
    baseline: Path
    candidate: FakeOpenAIServer

    def run(self, *args: str) -> pytest.RunResult:
        # The plugin module is imported by this test module already (see above): pytest's notice is noise.
        return self.pytester.runpytest(*PLUGIN, "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)

    def gate_args(self) -> list[str]:
        return ["--evalkit", "suites/plug.yaml", "--evalkit-baseline", "base"]


@pytest.fixture
def project(pytester: pytest.Pytester, server: FakeOpenAIServer) -> Iterator[Project]:
    with FakeOpenAIServer(broken_thai) as candidate:
        (pytester.path / "suites").mkdir()
        suite = pytester.path / "suites" / "plug.yaml"
        suite.write_text(SUITE.format(base_url=candidate.base_url), encoding="utf-8")
        base = pytester.path / "base"
        assert run_cli("run", suite, "--out", base, "--base-url", server.base_url, "--no-report") == 0
        yield Project(pytester, suite, base, candidate)


def failed_ids(result: pytest.RunResult) -> list[str]:
    return sorted(line.split()[1] for line in result.outlines if line.startswith("FAILED "))


# --- registration and inertness ---------------------------------------------------------------


def test_entry_point_is_declared_in_pyproject() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["entry-points"]["pytest11"] == {"evalkit": "evalkit.pytest_plugin"}


def test_public_names() -> None:
    import evalkit.pytest_plugin as plugin
    from evalkit.pytest_plugin._fixtures import RunHandle

    assert plugin.RunHandle is RunHandle
    assert issubclass(plugin.EvalkitWarning, pytest.PytestWarning)
    assert all(hasattr(plugin, name) for name in plugin.__all__)


def test_inert_unless_asked(pytester: pytest.Pytester) -> None:
    """Loaded but not asked: suite files are not collected and no heavy evalkit module is imported."""
    pytester.makepyfile(test_plain="def test_ok():\n    pass\n")
    (pytester.path / "evalkit_suite.yaml").write_text(SUITE.format(base_url="http://127.0.0.1:9/v1"))
    (pytester.path / "broken.yaml").write_text("name: [\n")
    pytester.makeconftest(textwrap.dedent("""\
        import sys
        def pytest_sessionfinish(session):
            heavy = sorted(m for m in ("evalkit.suite", "evalkit.gate", "evalkit.runner", "sacrebleu",
                                       "evalkit.pytest_plugin._nodes") if m in sys.modules)
            print("HEAVY:", ",".join(heavy) or "none")
        """))
    result = pytester.runpytest_subprocess(*PLUGIN, "-s")
    result.assert_outcomes(passed=1)
    assert "HEAVY: none" in result.stdout.str()
    assert any("evalkit" in line for line in pytester.runpytest_subprocess(*PLUGIN, "--help").outlines)


# --- collection ---------------------------------------------------------------------------------


def test_collect_only_lists_one_item_per_check_and_runs_nothing(project: Project) -> None:
    result = project.run(*project.gate_args(), "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == expected_ids("suites/plug.yaml", ["de", "zh", "th"])
    assert project.candidate.count == 0


def test_without_baseline_only_thresholds(project: Project) -> None:
    result = project.run("--evalkit", "suites/plug.yaml", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == ["suites/plug.yaml::run"] + [f"suites/plug.yaml::{lang}::chrf++::min" for lang in ("de", "zh", "th")]


def test_no_regression_checks_for_a_language_the_baseline_lacks(project: Project, server: FakeOpenAIServer) -> None:
    assert run_cli("run", project.suite, "--out", "base-de-zh", "--base-url", server.base_url,
                   "--languages", "de,zh", "--no-report") == 0
    result = project.run("--evalkit", "suites/plug.yaml", "--evalkit-baseline", "base-de-zh", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [i for i in expected_ids("suites/plug.yaml", ["de", "zh", "th"])
                   if "::th::" not in i or i.endswith("::min")]


def test_several_prompt_variants_name_the_variant(project: Project) -> None:
    text = project.suite.read_text().replace(
        '  plain:\n', '  polite:\n    user: "Please translate into {{ language.name }}: {{ source }}"\n  plain:\n')
    project.suite.write_text(text)
    result = project.run("--evalkit", "suites/plug.yaml", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert "suites/plug.yaml::th::chrf++::min[polite]" in ids
    assert "suites/plug.yaml::th::chrf++::min[plain]" in ids
    assert len(ids) == 1 + 3 * 2


# --- the planted regression ---------------------------------------------------------------------


def test_planted_regression_fails_exactly_its_language(project: Project) -> None:
    result = project.run(*project.gate_args(), "-rf")
    result.assert_outcomes(passed=9, failed=4)
    assert failed_ids(result) == sorted(i for i in expected_ids("suites/plug.yaml", ["th"]) if "::th::" in i)
    assert project.candidate.count == 9  # one run for 13 tests: 3 cases x 3 languages
    out = result.stdout.str()
    assert "gate FAILED: 4 of 12 checks failed (th 4 of 4; de, zh passed)" in out  # terminal summary


def test_failure_shows_the_check_line_and_worst_regressed_items(project: Project) -> None:
    result = project.run(*project.gate_args(), "-k", "th and chrf and regression")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "FAIL th chrf++ -100.0 vs baseline (100.0 → 0.0" in out
    assert "worst regressed items (3 of 3):" in out
    assert "input:     Translate into Thai: Thank you very much" in out
    assert "baseline:  ขอบคุณมาก" in out
    assert "candidate: Sorry" in out
    assert "Traceback" not in out
    result = project.run(*project.gate_args(), "-k", "th and chrf and regression", "--evalkit-show", "1")
    # Only the failure section: pytest repeats the whole message in its short summary when it runs on CI.
    failures = result.stdout.str().split("short test summary info")[0]
    assert "worst regressed items (1 of 3):" in failures
    assert failures.count("candidate: Sorry") == 1


def test_threshold_failure_shows_lowest_items_with_reference(project: Project) -> None:
    result = project.run(*project.gate_args(), "-k", "th and min")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "FAIL th chrf++ 0.0 < 50.0" in out
    assert "answer:    Sorry" in out
    assert "reference: สวัสดีตอนเช้า" in out


def test_k_selects_one_language(project: Project) -> None:
    result = project.run(*project.gate_args(), "-k", "th")
    result.assert_outcomes(failed=4, deselected=9)
    result = project.run(*project.gate_args(), "-k", "de or zh")
    result.assert_outcomes(passed=8, deselected=5)


def test_exitfirst_stops_at_the_first_failing_check(project: Project) -> None:
    result = project.run(*project.gate_args(), "-x")
    result.assert_outcomes(passed=9, failed=1)


def test_last_failed_reruns_only_the_failing_checks(project: Project) -> None:
    project.run(*project.gate_args())
    result = project.run(*project.gate_args(), "--lf")
    result.assert_outcomes(failed=4, deselected=9)


def test_junit_xml_has_one_testcase_per_check(project: Project) -> None:
    project.run(*project.gate_args(), "--junitxml=gate.xml")
    cases = ET.parse(project.pytester.path / "gate.xml").getroot().iter("testcase")
    by_name = {f"{c.get('classname')}::{c.get('name')}": c for c in cases}
    assert len(by_name) == 13
    failed = sorted(name for name, c in by_name.items() if c.find("failure") is not None)
    assert failed == sorted(f"suites.plug.yaml.th.{m}::{leaf}" for m, leaf in
                            [("bleu", "regression"), ("chrf++", "min"), ("chrf++", "regression"),
                             ("exact_match", "regression")])
    message = by_name["suites.plug.yaml.th.chrf++::min"].find("failure")
    assert message is not None and "FAIL th chrf++ 0.0 < 50.0" in (message.get("message") or "")


def test_a_finished_run_directory_is_reused(project: Project) -> None:
    cand = project.pytester.path / "cand"
    assert run_cli("run", project.suite, "--out", cand, "--no-report") == 0
    project.candidate.reset()
    result = project.run(*project.gate_args(), "--evalkit-run", "cand", "-rf")
    result.assert_outcomes(passed=9, failed=4)
    assert project.candidate.count == 0
    assert all("::th::" in i for i in failed_ids(result))


def test_an_incomplete_run_fails_the_run_test(project: Project) -> None:
    cand = project.pytester.path / "cand"
    assert run_cli("run", project.suite, "--out", cand, "--no-report") == 0
    results = cand / "results.jsonl"
    lines = results.read_text(encoding="utf-8").splitlines(keepends=True)
    results.write_text("".join(lines[:-1]), encoding="utf-8")  # one item lost
    result = project.run("--evalkit", "suites/plug.yaml", "--evalkit-run", "cand", "-rf")
    assert "suites/plug.yaml::run" in failed_ids(result)
    assert "FAIL run cand is incomplete: results.jsonl holds 8 of 9 planned items" in result.stdout.str()


def test_out_directory_holds_the_run(project: Project) -> None:
    result = project.run(*project.gate_args(), "--evalkit-out", "runs/pr")
    result.assert_outcomes(passed=9, failed=4)
    assert (project.pytester.path / "runs" / "pr" / "plug" / "report.html").is_file()
    project.candidate.reset()
    again = project.run(*project.gate_args(), "--evalkit-out", "runs/pr")  # resumes: nothing left to ask
    again.assert_outcomes(passed=9, failed=4)
    assert project.candidate.count == 0


# --- bad input, insufficient data, a run that cannot complete -----------------------------------


def test_a_bad_suite_is_one_clear_collection_error(project: Project) -> None:
    bad = project.pytester.path / "suites" / "bad.yaml"
    bad.write_text(project.suite.read_text().replace("languages:", "langauges:"), encoding="utf-8")
    result = project.run("--evalkit", "suites/bad.yaml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "ERROR collecting suites/bad.yaml" in out
    assert any(line.startswith("suites/bad.yaml:7:1: ") and "langauges" in line for line in result.outlines), out
    assert "Traceback" not in out and "raise " not in out


def test_a_bad_gates_file_and_a_missing_baseline_are_collection_errors(project: Project) -> None:
    (project.pytester.path / "gates.yaml").write_text("gates:\n  min_itmes: 3\n")
    result = project.run("--evalkit", "suites/plug.yaml", "--evalkit-gates", "gates.yaml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert any(line.startswith("gates.yaml:2:3: ") and "min_items" in line for line in result.outlines)
    result = project.run("--evalkit", "suites/plug.yaml", "--evalkit-baseline", "nowhere")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert any("--evalkit-baseline" in line and "no evalkit run there" in line for line in result.outlines)
    assert project.candidate.count == 0


def test_insufficient_data_fails_never_skips(project: Project) -> None:
    (project.pytester.path / "gates.yaml").write_text("gates:\n  min_items: 5\n  thresholds: {chrf++: {min: 10}}\n")
    result = project.run("--evalkit", "suites/plug.yaml", "--evalkit-gates", "gates.yaml", "-rf")
    result.assert_outcomes(passed=1, failed=3)
    assert "FAIL th chrf++: insufficient data (3 items < min_items 5)" in result.stdout.str()
    (project.pytester.path / "gates.yaml").write_text(
        "gates:\n  min_items: 5\n  on_insufficient: warn\n  thresholds: {chrf++: {min: 10}}\n")
    result = project.run("--evalkit", "suites/plug.yaml", "--evalkit-gates", "gates.yaml")
    result.assert_outcomes(passed=4, warnings=3)
    assert "WARN th chrf++: insufficient data (3 items < min_items 5)" in result.stdout.str()


def test_a_run_that_cannot_complete_fails_every_check_with_its_reason(project: Project) -> None:
    project.candidate.api_key = "a-key-the-run-does-not-have"
    result = project.run(*project.gate_args())
    result.assert_outcomes(failed=13)
    out = result.stdout.str()
    assert "401" in out
    assert "not checked: the evalkit run of suites/plug.yaml failed (suites/plug.yaml::run)" in out
    assert "Traceback" not in out


# --- ini settings and opting in to suite files in the test paths ---------------------------------


def test_ini_settings_and_the_opt_in_pattern(project: Project) -> None:
    tests = project.pytester.path / "tests"
    tests.mkdir()
    project.suite.rename(tests / "evalkit_plug.yaml")
    (tests / "fixture.yaml").write_text("not: [a suite\n")  # not matching the pattern: never read
    (tests / "test_unit.py").write_text("def test_unit():\n    pass\n")
    project.pytester.makeini("[pytest]\ntestpaths = tests\nevalkit_suite_files = evalkit_*.yaml\n"
                             "evalkit_baseline = base\n")
    result = project.run("-rf")
    result.assert_outcomes(passed=10, failed=4)
    assert all(i.startswith("tests/evalkit_plug.yaml::th::") for i in failed_ids(result))
    project.run("-m", "evalkit").assert_outcomes(passed=9, failed=4, deselected=1)
    project.run("-m", "not evalkit").assert_outcomes(passed=1, deselected=13)


def test_ini_suites_list(project: Project) -> None:
    project.pytester.makeini("[pytest]\nevalkit_suites =\n    suites/plug.yaml\nevalkit_baseline = base\n")
    result = project.run("--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == expected_ids("suites/plug.yaml", ["de", "zh", "th"])


# --- fixtures for users' own tests -----------------------------------------------------------------


def test_fixtures_run_a_suite_and_load_a_run(project: Project) -> None:
    project.pytester.makepyfile(test_mine=textwrap.dedent("""\
        import pytest

        def test_german(evalkit_server, evalkit_run):
            evalkit_server.set_responder(lambda request: "Guten Morgen")
            run = evalkit_run("suites/plug.yaml", base_url=evalkit_server.base_url, languages=["de"])
            assert run.score("exact_match", "de") == pytest.approx(100 / 3)
            assert 0 < run.score("chrf++", "de") < 100
            assert len(evalkit_server.chat_requests) == 3
            again = evalkit_run(run.path)
            assert again.manifest.counts.planned == 3
            verdict = again.gate(baseline=evalkit_run("base"))
            assert not verdict.passed
            assert "FAIL de exact_match -66.7 pts vs baseline" in "\\n".join(verdict.lines())
        """))
    result = project.run("test_mine.py")
    result.assert_outcomes(passed=1)


# --- docs/pytest.md -----------------------------------------------------------------------------------


def test_docs_example(pytester: pytest.Pytester, server: FakeOpenAIServer) -> None:
    """The files of docs/pytest.md's complete example, run as its first command says."""
    doc = (ROOT / "docs" / "pytest.md").read_text(encoding="utf-8")
    files = re.findall(r"```\w+ title=(\S+)\n(.*?)```", doc, re.S)
    assert [name for name, _ in files] == ["suites/greetings.yaml", "pyproject.toml", "tests/test_greetings.py"]
    for name, text in files:
        (pytester.path / name).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / name).write_text(text, encoding="utf-8")
    result = pytester.runpytest(*PLUGIN, "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                "--evalkit-base-url", server.base_url, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*suites/greetings.yaml::zh::chrf++::min PASSED*",
                                 "*gate passed: all 2 checks passed (de 1, zh 1)*"])


# --- the embedded model -----------------------------------------------------------------------------


LOCAL_SUITE = """\
name: local-plug
model:
  name: local:smollm2
  params: {temperature: 0, seed: 11, max_tokens: 16}
languages: [de, th]
prompts:
  plain:
    system: You are a translator. Reply with the translation only.
    user: "Translate into {{ language.name }}: {{ source }}"
cases:
  - {id: c1, source: Good morning, reference: {de: Guten Morgen, th: สวัสดีตอนเช้า}}
  - {id: c2, source: Thank you very much, reference: {de: Vielen Dank, th: ขอบคุณมาก}}
scorers: [{chrf: {plus: true}}]
gates:
  min_items: 2
  regressions: {default: {max_drop: 5, require_significant: false}}
"""


@pytest.mark.local_model
@pytest.mark.slow
@needs_model
def test_embedded_model_fails_exactly_the_planted_language(pytester: pytest.Pytester) -> None:
    """The suite runs on SmolLM2 inside pytest; the baseline has the model's own German answers and
    perfect Thai ones, so Thai's check fails and German's passes (4 generations per run)."""
    from evalkit.results import iter_results

    suite = pytester.path / "local.yaml"
    suite.write_text(LOCAL_SUITE, encoding="utf-8")
    own = pytester.path / "own"
    assert run_cli("run", suite, "--out", own, "--no-cache", "--no-report") == 0
    answers = {}
    for r in iter_results(own / "results.jsonl"):
        text = r.messages[-1]["content"]
        answers[text] = r.output if r.language == "de" else r.references[0]
    with FakeOpenAIServer(lambda request: answers[request["messages"][-1]["content"]]) as planted:
        assert run_cli("run", suite, "--out", pytester.path / "base", "--model", "test-model",
                       "--base-url", planted.base_url, "--no-report") == 0
    result = pytester.runpytest(*PLUGIN, "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                "--evalkit", "local.yaml", "--evalkit-baseline", "base", "-rf")
    result.assert_outcomes(passed=2, failed=1)
    assert failed_ids(result) == ["local.yaml::th::chrf++::regression"]
    assert "worst regressed items" in result.stdout.str()


# --- the built-in quickstart suite against the test server --------------------------------------------


SMALL_GATE = "min_items: 3\nregressions: {default: {max_drop: 5, require_significant: false}}\n"
ENGLISH_EXCUSE = "I am sorry, but I cannot translate this sentence for you today."


def test_quickstart_planted_thai_regression(pytester: pytest.Pytester) -> None:
    """docs/pytest.md's quickstart command on the test server: a candidate that answers Thai prompts
    with an English excuse fails exactly Thai's checks (chrF++ and BLEU in both directions, and the
    language check where Thai was asked for; into English the excuse is in the right language)."""
    shutil.copytree(ROOT / "suites", pytester.path / "suites")
    (pytester.path / "small-gate.yaml").write_text(SMALL_GATE)
    suite = pytester.path / "suites" / "quickstart.yaml"
    with FakeOpenAIServer() as echo_server:  # learn each prompt's reference from a first run
        assert run_cli("run", suite, "--out", "probe", "--model", "m", "--base-url", echo_server.base_url,
                       "--no-report") == 0
    from evalkit.results import iter_results

    references = {tuple(m["content"] for m in r.messages): r.references[0]
                  for r in iter_results(pytester.path / "probe" / "results.jsonl")}

    def perfect(request: dict[str, Any]) -> str:
        return references[tuple(m["content"] for m in request["messages"])]

    def thai_broken(request: dict[str, Any]) -> str:
        return ENGLISH_EXCUSE if "Thai" in request["messages"][0]["content"] else perfect(request)

    with FakeOpenAIServer(perfect) as base, FakeOpenAIServer(thai_broken) as cand:
        assert run_cli("run", suite, "--out", "runs/base", "--model", "m", "--base-url", base.base_url,
                       "--no-report") == 0
        result = pytester.runpytest(*PLUGIN, "-W", "ignore::pytest.PytestAssertRewriteWarning",
                                    "--evalkit", "suites/quickstart.yaml", "--evalkit-baseline", "runs/base",
                                    "--evalkit-gates", "small-gate.yaml", "--evalkit-model", "m",
                                    "--evalkit-base-url", cand.base_url, "-rf")
    result.assert_outcomes(passed=26, failed=5)
    q = "suites/quickstart.yaml::th"
    assert failed_ids(result) == sorted([f"{q}::chrf++::regression[into_lang]", f"{q}::chrf++::regression[into_en]",
                                         f"{q}::bleu::regression[into_lang]", f"{q}::bleu::regression[into_en]",
                                         f"{q}::language::regression[into_lang]"])


# --- pytest-xdist: real workers, in a pytest subprocess ----------------------------------------------


def xdist_run(project: Project, *args: str) -> pytest.RunResult:
    """A pytest session with two xdist workers (processes) against the project's candidate server."""
    return project.pytester.runpytest_subprocess(*PLUGIN, "-n", "2", *args)


def workers(result: pytest.RunResult) -> set[str]:
    """The workers that reported a test (``-v`` lines start ``[gw0]``)."""
    return {m.group(1) for line in result.outlines if (m := re.match(r"\[(gw\d+)\] ", line))}


@pytest.mark.parametrize("dist", ["load", "loadscope"])
def test_xdist_runs_the_suite_once_and_fails_exactly_thai(project: Project, dist: str) -> None:
    result = xdist_run(project, *project.gate_args(), "--dist", dist, "-v", "-rf", "--junitxml=gate.xml")
    result.assert_outcomes(passed=9, failed=4)
    assert workers(result) == {"gw0", "gw1"}  # both workers gate checks of the suite
    assert failed_ids(result) == sorted(i for i in expected_ids("suites/plug.yaml", ["th"]) if "::th::" in i)
    assert project.candidate.count == 9  # one run for the session: 3 cases x 3 languages
    out = result.stdout.str()
    assert "gate FAILED: 4 of 12 checks failed (th 4 of 4; de, zh passed)" in out  # the controller's summary
    assert out.count("suites/plug.yaml: gate FAILED") == 1
    cases = list(ET.parse(project.pytester.path / "gate.xml").getroot().iter("testcase"))
    assert len(cases) == 13
    failed = sorted(f"{c.get('classname')}::{c.get('name')}" for c in cases if c.find("failure") is not None)
    assert failed == sorted(f"suites.plug.yaml.th.{m}::{leaf}" for m, leaf in
                            [("bleu", "regression"), ("chrf++", "min"), ("chrf++", "regression"),
                             ("exact_match", "regression")])


def test_xdist_k_and_last_failed_select_checks(project: Project) -> None:
    """Selection happens on every worker's identical collection: ``-k`` then ``--lf`` pick Thai's checks;
    the second session's run is answered from the response cache."""
    # (xdist's workers deselect: the controller's summary does not count the deselected tests)
    xdist_run(project, *project.gate_args(), "-k", "th or zh").assert_outcomes(passed=4, failed=4)
    result = xdist_run(project, *project.gate_args(), "--lf", "-rf")
    result.assert_outcomes(failed=4)
    assert all("::th::" in i for i in failed_ids(result))
    assert project.candidate.count == 9


def test_xdist_a_new_session_resumes_never_reuses_even_with_a_fixed_testrunuid(project: Project) -> None:
    """``--testrunuid`` is the same for every session that passes it: the second session must still
    resume the run in ``--evalkit-out`` (which refuses another model) rather than gate it unchecked.
    The first session has every worker run every check (``--dist each``): still one run."""
    args = [*project.gate_args(), "--evalkit-out", "runs/pr", "--testrunuid", "ci", "-rf"]
    xdist_run(project, *args, "--dist", "each").assert_outcomes(passed=18, failed=8)
    assert project.candidate.count == 9
    result = xdist_run(project, *args, "--evalkit-model", "another-model")
    result.assert_outcomes(failed=13)
    assert "holds a run that cannot be resumed with these settings (model, endpoint or parameters differ)" in (
        result.stdout.str())
    assert project.candidate.count == 9


def test_xdist_a_run_that_cannot_complete_is_tried_once(project: Project) -> None:
    project.suite.write_text(project.suite.read_text().replace("  max_attempts: 1\n",
                                                               "  max_attempts: 1\n  concurrency: 1\n"))
    project.candidate.api_key = "a-key-the-run-does-not-have"
    result = xdist_run(project, *project.gate_args(), "-v")
    result.assert_outcomes(failed=13)
    assert workers(result) == {"gw0", "gw1"}
    assert project.candidate.count == 1  # the first request is refused; no worker tries again
    out = result.stdout.str()
    assert "not checked: the evalkit run of suites/plug.yaml failed (suites/plug.yaml::run)" in out
    assert "401" in out and "Traceback" not in out


def test_xdist_a_bad_suite_is_one_collection_error_with_pytests_exit_code(project: Project) -> None:
    """Each worker fails to collect it; the session reports it once and exits 2, as without xdist."""
    bad = project.pytester.path / "suites" / "bad.yaml"
    bad.write_text(project.suite.read_text().replace("languages:", "langauges:"), encoding="utf-8")
    result = xdist_run(project, "--evalkit", "suites/bad.yaml", "--evalkit", "suites/plug.yaml")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert out.count("ERROR collecting suites/bad.yaml") == 1
    assert sum(line.startswith("suites/bad.yaml:7:1: ") and "langauges" in line for line in result.outlines) == 1
    assert "Traceback" not in out
