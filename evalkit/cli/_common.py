"""Helpers shared by the CLI commands."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

import click

from evalkit.errors import EvalkitError, RunAborted, SuiteErrors, UsageError
from evalkit.terminal import safe_text  # the CLI's commands import it from here


def fail(exc: EvalkitError) -> int:
    if isinstance(exc, SuiteErrors):
        for err in exc.errors:
            click.echo(f"evalkit: error: {safe_text(err.message)}", err=True)
    else:
        click.echo(f"evalkit: error: {safe_text(exc.message)}", err=True)
    return exc.exit_code


def one_line(text: str, limit: int = 300) -> str:
    """A message that may span lines (an exception's text) as one line, cut at ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def fail_usage(exc: click.ClickException) -> int:
    """A command-line mistake found by click, as one line (click's own form takes three). ``evalkit`` alone shows
    the help, as click does."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # click >= 8.2
        exc.show()
        return 2 if exc.exit_code == 1 else exc.exit_code
    hint = ""
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        hint = f" (see '{exc.ctx.command_path} --help')"
    click.echo(f"evalkit: error: {safe_text(one_line(exc.format_message(), 1000))}{hint}", err=True)
    return 2 if exc.exit_code == 1 else exc.exit_code  # click uses 1 for usage errors; we use 2


def internal_error(exc: BaseException) -> int:
    """A bug in evalkit: the run could not complete (3), said in one line with the way to see more."""
    click.echo(f"evalkit: internal error, please report it: {type(exc).__name__}: {safe_text(one_line(str(exc)))} "
               "(set EVALKIT_DEBUG=1 to see the traceback)", err=True)
    return 3


# A path that cannot be used as given (permissions, a file or folder in the way, a missing folder): the user must
# change the command or the file system: bad input (2). Anything else (a full disk, an I/O error): could not
# complete (3).
_PATH_UNUSABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.ENOENT,
                  errno.ENAMETOOLONG, errno.ELOOP}
_REMEDY = {
    errno.EACCES: "fix its permissions or choose {other}",
    errno.EPERM: "fix its permissions or choose {other}",
    errno.EROFS: "choose {other} on a writable file system",
    errno.EISDIR: "move the folder that is in the way or choose {other}",
    errno.ENOTDIR: "a file is in the way of a folder: move it or choose {other}",
    errno.EEXIST: "move what is in the way or choose {other}",
    errno.ENOSPC: "free some space and run the same command again",
    errno.EDQUOT: "free some space and run the same command again",
}


def _option_naming(filename: str, argv: Sequence[str]) -> tuple[str, str] | None:
    """The command-line option (``--out``, ``--cache``, ...) whose path is ``filename``, holds it, or lies in it."""
    target = os.path.abspath(filename)
    best: tuple[str, str] | None = None
    for i, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        if "=" in token:
            option, _, value = token.partition("=")
        elif i + 1 < len(argv):
            option, value = token, argv[i + 1]
        else:
            continue
        if not value or value.startswith("--"):
            continue
        base = os.path.abspath(value)
        inside = target == base or target.startswith(base.rstrip(os.sep) + os.sep)  # the path or a file in it
        on_the_way = base.startswith(target.rstrip(os.sep) + os.sep)  # a folder the path needs
        if (inside or on_the_way) and (best is None or len(base) > len(os.path.abspath(best[1]))):
            best = (option, value)
    return best


def os_error(exc: OSError, argv: Sequence[str]) -> EvalkitError:
    """An OSError that reached the CLI, as one line naming the file (and the option that chose it) and the remedy."""
    reason = exc.strerror or one_line(str(exc)) or type(exc).__name__
    filename = os.fsdecode(exc.filename) if isinstance(exc.filename, str | bytes) else None
    if exc.errno == errno.EPIPE and filename is None:
        return RunAborted("output closed early (broken pipe)")
    named = _option_naming(filename, argv) if filename else None
    other = f"another {named[0]}" if named else "another path"
    remedy = _REMEDY.get(exc.errno or 0, "check the file or folder and run the same command again").format(other=other)
    if named and filename is not None and os.path.abspath(filename) != os.path.abspath(named[1]):
        where = f"{named[0]} {named[1]}: {filename}"
    elif named:
        where = f"{named[0]} {named[1]}"
    else:
        where = filename or "a file"
    message = f"{where}: {reason}; {remedy}"
    return UsageError(message) if exc.errno in _PATH_UNUSABLE else RunAborted(message)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (CI cancelling a job) stops evalkit as Ctrl-C does: exit 130 with one line, at any moment, start-up
    included. The previous handler comes back afterwards (the CLI may run inside a program or a test). A SIGTERM
    that is ignored (SIG_IGN) stays ignored."""
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def split_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]
