"""Text printed to a terminal or a CI log: model output and data are shown, never obeyed.

Used by the CLI and by integrations that print evalkit's findings (the pytest plugin).
"""

from __future__ import annotations

import re

__all__ = ["safe_text"]

# C0 controls but tab and newline (ESC included, so no escape sequence survives), DEL, C1 controls
# (U+009B/U+009D are CSI/OSC for some terminals) and bidi overrides that reorder a line as shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# A line starting with "::" is a workflow command in GitHub Actions logs ("::add-mask::", "::error::").
_WORKFLOW_COMMAND = re.compile(r"(?m)^(\s*)::")


def safe_text(text: str) -> str:
    """Model output or data printed to a terminal or CI log: control characters and escape
    sequences are shown escaped (``\\x1b[2J``), and cannot start a CI workflow command."""
    text = _CONTROL.sub(lambda m: ascii(m.group(0))[1:-1], text)
    return _WORKFLOW_COMMAND.sub(r"\1\\::", text)
