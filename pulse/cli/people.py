"""`pulse people`: every CRM owner, their Slack user, manager and team, and who cannot be
reached in Slack and why; the owner matching `pulse sync` runs after each sync."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pulse.cli.common import console, err, load_settings, require_schema
from pulse.cli.escape import plain, term
from pulse.kernel.clock import utcnow

if TYPE_CHECKING:
    from pulse.kernel.config import PulseConfig
    from pulse.services.people import PeopleReport, SlackDirectory


def optional_directory() -> SlackDirectory | None:
    """Slack's directory (``users.lookupByEmail``) when SLACK_BOT_TOKEN is set."""
    from bot.delivery import SlackDelivery, web_client

    token = os.environ.get("SLACK_BOT_TOKEN", "").strip()
    return SlackDelivery(web_client(token)) if token else None


def refresh(cfg: PulseConfig, *, dry_run: bool = False) -> PeopleReport:
    """Match owners to Slack users and set managers and teams (pulse.services.people);
    printed as one line. Without SLACK_BOT_TOKEN only the cache and pulse.yml apply."""
    from pulse.services.people import refresh_people
    from storage.db import session_factory

    with session_factory(cfg.database_url)() as session:
        report = refresh_people(session, cfg, optional_directory(), utcnow())
        if dry_run:
            session.rollback()
        else:
            session.commit()
    console.print(f"people: {report}", highlight=False)
    return report


def people_command(
    refresh_now: Annotated[bool, typer.Option(
        "--refresh", help="Match owners to Slack users (users.lookupByEmail) and apply teams "
        "first, as the daily run does.",
    )] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for tooling.")] = False,
) -> None:
    """Every CRM owner: Slack user (from the CRM, an override or the email lookup, and when
    checked), manager, team, and why an owner has no Slack user."""
    cfg = load_settings()
    require_schema(cfg.database_url)

    from pulse.services.people import people
    from storage.db import session_factory

    if refresh_now:
        refresh(cfg)
    slack = bool(os.environ.get("SLACK_BOT_TOKEN", "").strip())
    with session_factory(cfg.database_url)() as session:
        rows = people(session, slack_configured=slack)
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in rows], indent=2))
        return
    if not rows:
        err.print("No CRM owners stored: run `pulse sync` first.")
        raise typer.Exit(1)
    table = Table(show_edge=False, title="People")
    for col in ("Name", "Email", "Slack user", "From", "Checked", "Manager", "Team", "Accounts"):
        table.add_column(col)
    for p in rows:
        table.add_row(
            term(p.name) + (" (manager)" if p.is_manager else ""),
            term(p.email or "-"),
            term(p.slack_user_id) if p.slack_user_id else "[red]none[/]",
            term(p.slack_from or "-"),
            p.checked_at.strftime("%Y-%m-%d %H:%M") if p.checked_at else "-",
            term(p.manager or "-"),
            term(p.team or "-"),
            str(p.accounts),
        )
    console.print(table)
    unmatched = [p for p in rows if p.unmatched_reason]
    if not unmatched:
        console.print(f"All {len(rows)} owner(s) have a Slack user.")
        return
    console.print(f"{len(unmatched)} owner(s) without a Slack user (their alerts go to the "
                  f"catch-all channel: {cfg.slack.catch_all or 'none configured'}):",
                  highlight=False)
    for p in unmatched:
        console.print(f"  {plain(p.name)} <{plain(p.email or 'no email')}>: "
                      f"{plain(p.unmatched_reason)}",
                      highlight=False, markup=False)
