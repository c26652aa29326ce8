"""The ``evalkit`` command: a thin shell over the library. Only here do errors become exit codes."""

from __future__ import annotations

import os
import sys

import click

from evalkit import __version__
from evalkit._interrupt import caused_by_interrupt
from evalkit.cli._common import fail, fail_usage, internal_error, os_error, terminate_as_interrupt
from evalkit.errors import EvalkitError

COMMANDS = {
    # name: module under evalkit.cli that defines a click command called `command`
    "run": "_run",
    "validate": "_validate",
    "init": "_init",
    "report": "_report",
    "compare": "_compare",
    "gate": "_gate",
    "merge": "_merge",
    "suites": "_suites",
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps ``--help`` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    @staticmethod
    def _available(name: str) -> bool:
        from importlib.util import find_spec

        return find_spec(f"evalkit.cli.{COMMANDS[name]}") is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not self._available(cmd_name):
            return None
        from importlib import import_module

        module = import_module(f"evalkit.cli.{COMMANDS[cmd_name]}")
        command: click.Command = module.command
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evalkit")
def cli() -> None:
    """Multilingual evaluation harness and CI quality gate for chat language models.

    \b
    Exit codes: 0 success, 1 a quality gate failed, 2 bad input,
                3 the run could not complete (results so far are kept),
                130 interrupted (Ctrl-C, SIGTERM; re-run to resume).
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns (and, as a console script, exits with) the exit code: 0 success, 1 a gate failed,
    2 bad input, 3 could not complete (a bug included), 130 interrupted. SIGTERM is handled like Ctrl-C from
    here on (a run installs its own graceful handlers while it runs)."""
    with terminate_as_interrupt():
        return _main(sys.argv[1:] if argv is None else argv)


def _main(argv: list[str]) -> int:
    try:
        result = cli.main(args=argv, prog_name="evalkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("evalkit: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        return fail_usage(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except EvalkitError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        click.echo("evalkit: interrupted", err=True)
        return 130
    except OSError as exc:  # a file or folder evalkit cannot use: bad input (2) or could not complete (3)
        return fail(os_error(exc, argv))
    except Exception as exc:  # a bug in evalkit: one line, no traceback unless asked for
        if caused_by_interrupt(exc):  # a KeyboardInterrupt that Python wrapped (3.11: one raised in __set_name__)
            click.echo("evalkit: interrupted", err=True)
            return 130
        if os.environ.get("EVALKIT_DEBUG"):
            raise
        return internal_error(exc)
    return int(result or 0)


def entry() -> None:
    """The console script of installs made before ``evalkit.__main__:entry`` (which handles SIGTERM before the CLI's
    imports, not after them as this one can)."""
    from evalkit.__main__ import entry as early_entry

    early_entry()
