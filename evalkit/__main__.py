"""``python -m evalkit`` and the ``evalkit`` console script (pyproject.toml: ``evalkit.__main__:entry``).

SIGTERM is handled as Ctrl-C from the first thing :func:`entry` does: the CLI's imports (click, then a command's
modules) take tens of milliseconds, and a SIGTERM (CI cancelling a job) in that window used to kill evalkit with
143 instead of its documented 130. Nothing is imported before the handler is in place but ``_signal`` and ``sys``,
which the interpreter has loaded already (``signal`` would import ``enum``). What runs before this module (the
interpreter's own start-up and ``evalkit/__init__.py``, a few milliseconds) cannot handle a signal.
"""

import _signal  # no `from __future__ import annotations`, no `types`: nothing to import before the handler
import sys

_fired = False  # the SIGTERM handler raised KeyboardInterrupt somewhere


def _interrupt(signum: int, frame: object) -> None:
    global _fired
    _fired = True
    raise KeyboardInterrupt


def _handle_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt, as SIGINT does; a SIGTERM that is ignored (SIG_IGN) stays ignored."""
    if sys.platform != "win32" and _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL:
        _signal.signal(_signal.SIGTERM, _interrupt)


def _exiting() -> None:
    """The exit code is decided: a late SIGTERM must not turn it into 143 (not even during the interpreter's
    finalisation, which puts a Python handler back to the default but leaves SIG_IGN alone)."""
    if sys.platform != "win32" and _signal.getsignal(_signal.SIGTERM) == _interrupt:
        _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)


def _exit(code: int) -> None:
    if _fired:
        # Interrupted by our handler: the stack has unwound and everything evalkit writes is closed. Exit without
        # the interpreter's finalisation, which kills the process with SIGINT (exit -2, not 130) when a
        # KeyboardInterrupt went through C code that runs Python (an extension module's import, say), even one
        # that was caught afterwards.
        import contextlib
        import os

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def entry() -> None:
    """Run the CLI and exit with its code: 0 ok, 1 a gate failed, 2 bad input, 3 could not complete, 130
    interrupted (Ctrl-C or SIGTERM, from here on, the CLI's imports included)."""
    _handle_sigterm()
    try:
        from evalkit.cli import main

        code = main()
        _exiting()
    except BaseException as exc:  # while the CLI was being imported, or just after it returned
        _exiting()
        from evalkit._interrupt import caused_by_interrupt

        if not caused_by_interrupt(exc):
            raise
        sys.stderr.write("evalkit: interrupted\n")
        code = 130
    _exit(code)


if __name__ == "__main__":
    entry()
