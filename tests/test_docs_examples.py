"""The complete example in docs/suite-format.md is a valid suite."""

from __future__ import annotations

import re
from pathlib import Path

from evalkit.validate import validate_suite

DOC = Path(__file__).parent.parent / "docs" / "suite-format.md"


def test_suite_format_example_validates(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    yaml_block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    jsonl_block = re.search(r"```json\n(.*?)```", text, re.S).group(1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "greetings.jsonl").write_text(jsonl_block, encoding="utf-8")
    suite = tmp_path / "suite.yaml"
    suite.write_text(yaml_block, encoding="utf-8")
    report = validate_suite(suite)
    assert report.ok, [e.message for e in report.errors]
    assert report.items == 5 * 2
