"""What the `pulse` commands share: the consoles, loading the configuration, parsing a
date option, checking the schema, finding an account, "today", and the optional Slack
client of the pipeline commands.

Each helper exits with the command's documented code (2: bad input or configuration,
1: nothing to work on) after printing why, so commands read as parse, call, render.
Only light modules are imported here: `pulse --help` must not load pandas, SQLAlchemy's
ORM or Slack's SDK, so everything heavier is imported inside the function that uses it.
"""

from __future__ import annotations

import os
from datetime import date
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
err = Console(stderr=True)


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


def workspace_today(cfg: PulseConfig) -> date:
    """Today in the workspace's time zone: the day the daily pipeline scores too."""
    return local_date(cfg.workspace.timezone, utcnow())


def safe_url(url: str) -> str:
    """The database URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def require_schema(url: str) -> None:
    """Exit 1 unless the database holds the current Pulse schema."""
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
