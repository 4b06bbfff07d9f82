"""What the `pulse` commands share: the consoles, loading the configuration, parsing a
date option, checking an output path, checking the schema, finding an account, "today",
and the optional Slack client of the pipeline commands.

Each helper exits with the command's documented code (2: bad input or configuration,
1: nothing to work on, or another run in progress) after printing why, so commands read
as parse, call, render.
Only light modules are imported here: `pulse --help` must not load pandas, SQLAlchemy's
ORM or Slack's SDK, so everything heavier is imported inside the function that uses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from pulse.cli.escape import term
from pulse.kernel.clock import local_date, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pulse.kernel.config import PulseConfig
    from pulse.services.outbox import Delivery
    from storage.models import Account

console = Console()
err = Console(stderr=True, soft_wrap=True)
"""Messages on stderr: never wrapped at the terminal's width, so an error stays one line."""


def load_settings() -> PulseConfig:
    """The configuration (``pulse.yml`` and the environment), or exit 2 naming the problem."""
    from pulse.kernel.config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as exc:
        err.print(f"[red]{term(exc)}[/]")
        raise typer.Exit(2) from None


def parse_date(value: str | None, option: str) -> date | None:
    """``value`` as a date (None when not given), or exit 2 naming ``option``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]{option}: '{term(value)}' is not a date (expected YYYY-MM-DD)[/]")
        raise typer.Exit(2) from None


def output_path(value: str | Path | None, option: str) -> Path | None:
    """``value`` as a file to write (None when not given, or ``-``: stdout), or exit 2
    naming ``option`` when it cannot be written: checked before any long work starts."""
    if value is None or str(value) == "-":
        return None
    path = Path(value).expanduser()
    folder = path.parent
    problem = None
    if path.is_dir():
        problem = f"{path} is a directory; give a file name"
    elif not folder.is_dir():
        problem = f"folder {folder} does not exist; create it or give another path"
    elif not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        problem = f"cannot write to {path} (permission denied)"
    if problem is not None:
        err.print(f"[red]{option}: {problem}[/]", highlight=False)
        raise typer.Exit(2)
    return path


def workspace_today(cfg: PulseConfig) -> date:
    """Today in the workspace's time zone: the day the daily pipeline scores too."""
    return local_date(cfg.workspace.timezone, utcnow())


def safe_url(url: str) -> str:
    """The database URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None: another database, or in memory).

    Read from the URL's text as SQLAlchemy does (``sqlite:///relative.db``,
    ``sqlite:////absolute.db``, a ``?query`` after it), without importing SQLAlchemy."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite" or not rest.startswith("/"):
        return None
    database = rest[1:].split("?")[0]
    if database in ("", ":memory:") or database.startswith("file:"):
        return None  # in memory, or a URI filename SQLite itself reads
    return Path(database)


def require_schema(url: str) -> None:
    """Exit 1 unless the database holds the current Pulse schema. A SQLite file that does
    not exist is not created: a command that only reads leaves an empty folder empty."""
    missing = sqlite_file(url)
    if missing is not None and not missing.exists():
        err.print(f"[red]No database at {missing.absolute()}: run `pulse demo` for sample data, or "
                  "`pulse db upgrade` then `pulse sync` for yours.[/]", highlight=False)
        raise typer.Exit(1)
    from storage.migrate import is_current

    if not is_current(url):
        err.print(f"[red]No Pulse schema in {safe_url(url)}: run `pulse db upgrade` first.[/]")
        raise typer.Exit(1)


def account_or_exit(session: Session, name: str) -> Account:
    """The one account ``name`` designates, or exit 1 listing the candidates or the
    closest names (the same wording for every command that takes an account)."""
    from pulse.services.lookup import find_account

    match = find_account(session, name)
    if match.account is None:
        if match.candidates:
            err.print(f"'{term(name)}' matches several accounts; be more specific:")
            for acc in match.candidates:
                err.print(f"  {term(acc.name)} ({term(acc.domain or 'no domain')})")
        else:
            closest = ", ".join(term(c) for c in match.closest)
            hint = f" Closest: {closest}." if match.closest else ""
            err.print(f"[red]No account matches '{term(name)}'.{hint}[/]")
        raise typer.Exit(1)
    return match.account


def optional_slack() -> Delivery | None:
    """Slack delivery when SLACK_BOT_TOKEN is set; steps that need Slack skip otherwise."""
    from bot.delivery import SlackDelivery, web_client

    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    return SlackDelivery(web_client(token)) if token else None


def required_slack() -> Delivery:
    """Slack delivery from SLACK_BOT_TOKEN, or exit 2 naming the variable."""
    from bot.app import MissingSetting, require_env
    from bot.delivery import SlackDelivery, web_client

    try:
        token = require_env("SLACK_BOT_TOKEN")
    except MissingSetting as exc:
        err.print(f"[red]{term(exc)}[/]")
        raise typer.Exit(2) from None
    return SlackDelivery(web_client(token))


RUN_IN_PROGRESS_EXIT = 1
"""Exit code of `pulse run`, `pulse alerts` and `pulse digest` when another run holds the
run lock: nothing was done, trying again later will work (2 is kept for bad input)."""


def exit_run_in_progress(busy: Exception) -> typer.Exit:
    """Print the one line saying another run holds the run lock; the exit to raise."""
    err.print(f"[red]{term(busy)}[/]")
    return typer.Exit(RUN_IN_PROGRESS_EXIT)


@contextmanager
def one_run_at_a_time(url: str) -> Iterator[None]:
    """Hold the run lock (:func:`pulse.jobs.locks.run_lock`) for a command that posts or
    sends, or exit :data:`RUN_IN_PROGRESS_EXIT` at once, saying so, when another run has it."""
    from pulse.jobs.locks import RunInProgress, run_lock

    try:
        with run_lock(url):
            yield
    except RunInProgress as busy:
        raise exit_run_in_progress(busy) from None


def warn_playbook_problems(cfg: PulseConfig) -> int:
    """One warning line on stderr per playbook problem (a webhook's secret not set or its
    host unreachable, a crm_task without a CRM): how many there were."""
    from pulse.services.playbook_checks import playbook_problems

    problems = playbook_problems(cfg) if cfg.playbooks else []
    for problem in problems:
        err.print(f"[yellow]warning: {term(problem)}[/]")
    return len(problems)
