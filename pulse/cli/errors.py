"""How a `pulse` command ends when something expected goes wrong: one line on stderr.

An expected failure (a :class:`pulse.kernel.errors.UserFacingError` a connector raised or
an exception one explains: an API refusing a call after the retries, a missing credential,
an untrusted TLS certificate; a configuration error; a database that cannot be reached)
ends the command with ``Error: <system> <call>: <what happened>. <what to do>`` and exit
code 2, like the other errors a user can fix. The traceback is printed too only with
``pulse --debug``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from pulse.cli.common import err
from pulse.kernel.errors import clip, one_line, user_error

EXIT_USER_ERROR = 2
"""Exit code of an error the user can fix (the code every `pulse` command uses for bad
input or configuration)."""


def expected_line(exc: BaseException) -> str | None:
    """The one line for an expected failure, or None when ``exc`` is unexpected."""
    if user_error(exc) is not None:
        return one_line(exc)
    from pulse.kernel.config import ConfigError  # here: pydantic is not light

    if isinstance(exc, ConfigError):
        return clip(str(exc))
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        reason = next((ln for ln in str(exc.orig).splitlines() if ln.strip()), str(exc.orig))
        return clip(
            f"Database: {reason.strip()}. Check DATABASE_URL and that the database server "
            "runs and accepts connections from this machine."
        )
    return None


def end_with(exc: BaseException, line: str, *, debug: bool) -> None:
    """Print ``line`` on stderr (after the traceback of ``exc`` when ``debug``); exit 2."""
    if debug:
        traceback.print_exception(exc)
    err.print(f"Error: {line}", style="red", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USER_ERROR) from None


class ReportingGroup(TyperGroup):
    """The root command group: every command runs inside it, so its failures end here."""

    def invoke(self, ctx: Any) -> Any:  # Any: the Context class moved between typer versions
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # the command's own ending
            raise
        except Exception as exc:
            line = expected_line(exc)
            if line is None:  # a bug: its traceback is the report
                raise
            end_with(exc, line, debug=bool(ctx.params.get("debug")))


def debug_option(
    debug: bool = typer.Option(
        False, "--debug", help="On an error, print its traceback too."
    ),
) -> None:
    """The options of `pulse` itself, before the command: ``--debug``."""
    if debug:  # the sync logs the traceback of a failed source at this level
        logging.getLogger("pulse").setLevel(logging.DEBUG)
