"""`pulse db upgrade`, `pulse sync`, `pulse sources` and `pulse identities`: getting the
sources' data into storage and linking it to CRM accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pulse.cli.common import console, err, load_settings, require_schema, safe_url
from pulse.cli.escape import plain, term
from pulse.kernel.clock import local_date, utcnow

if TYPE_CHECKING:
    from pulse.kernel.config import PulseConfig


def db_upgrade() -> None:
    """Create or migrate the schema of the configured database."""
    from storage.migrate import upgrade

    cfg = load_settings()
    upgrade(cfg.database_url)
    console.print(f"Database {safe_url(cfg.database_url)} is up to date.")


def sync(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    full: Annotated[bool, typer.Option(help="Ignore the stored cursor.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
    unmatched: Annotated[
        bool, typer.Option(help="List records identity resolution could not link to a CRM account.")
    ] = False,
) -> None:
    """Pull every configured source (or one) into storage, then link identities and match
    CRM owners to Slack users (without SLACK_BOT_TOKEN: from the cache and pulse.yml only)."""
    cfg = load_settings()
    require_schema(cfg.database_url)
    sources = cfg.synced_sources
    if source:
        from connectors.base import get_connector

        try:
            get_connector(source)
        except KeyError as exc:
            err.print(f"[red]{term(exc.args[0])}[/]")
            raise typer.Exit(2) from None
        sources = [source]
    if not sources:
        err.print(f"[red]No sources configured in {cfg.source_label} (key 'sources').[/]")
        raise typer.Exit(2)
    from pulse.cli.terminal import print_sync_report, sync_with_progress

    reports = sync_with_progress(console, cfg, sources, full=full, dry_run=dry_run)
    for report in reports:
        print_sync_report(console, report)
    resolve_and_print(cfg, show_unmatched=unmatched, dry_run=dry_run)
    from pulse.cli.people import refresh

    refresh(cfg, dry_run=dry_run)  # owners -> Slack users; cache and overrides only without Slack
    record_ledger(cfg, dry_run=dry_run)
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


def sources() -> None:
    """List configured sources and their last run (and why it failed, if it did)."""
    cfg = load_settings()
    require_schema(cfg.database_url)

    from sqlalchemy import select

    from scoring.freshness import source_status
    from storage.db import session_factory
    from storage.models import SyncState

    now = utcnow()
    with session_factory(cfg.database_url)() as session:
        states = {state.source: state for state in session.scalars(select(SyncState))}
    table = Table(show_edge=False)
    for col in ("Source", "Last run", "Status", "Last success", "Freshness", "Cursor"):
        table.add_column(col)
    for name in sorted(set(cfg.synced_sources) | set(states)):
        state = states.get(name)
        table.add_row(
            name,
            str(state.last_run_at or "-") if state else "never",
            (state.last_status or "-") if state else "-",
            str(state.last_success_at or "-") if state else "-",
            source_status(cfg, name, state.last_success_at if state else None, now),
            term(state.cursor or "-") if state else "-",
        )
    console.print(table)
    for name, state in sorted(states.items()):
        if state.last_status == "failed":
            for error in (state.last_report or {}).get("errors") or []:
                console.print(f"{plain(name)}: {plain(error)}", style="red", markup=False,
                              highlight=False, soft_wrap=True)


def identities() -> None:
    """Link records of every source to their CRM account now and list the unmatched (no sync)."""
    cfg = load_settings()
    require_schema(cfg.database_url)
    resolve_and_print(cfg, show_unmatched=True)


def resolve_and_print(cfg: PulseConfig, *, show_unmatched: bool, dry_run: bool = False) -> None:
    """Link every source's accounts to the CRM account (services.identity); list the unmatched."""
    from pulse.services.identity import resolve_identities
    from storage.db import session_factory

    with session_factory(cfg.database_url)() as session:
        report = resolve_identities(session, cfg)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if report.linked or report.unmatched:
        console.print(
            f"identities: {len(report.linked):,} record(s) linked to "
            f"{report.primary_source or 'no'} CRM accounts, {len(report.unmatched):,} unmatched"
            + ("" if show_unmatched or not report.unmatched else " (pulse sync --unmatched)"),
            highlight=False,
        )
    if not show_unmatched:
        return
    if not report.unmatched:
        console.print("No unmatched records: every account is linked to its CRM account.")
        return
    table = Table(title="Unmatched records", show_edge=False)
    for col in ("Source", "External id", "Name", "Reason"):
        table.add_column(col)
    for source, external_id, name, reason in report.unmatched:
        table.add_row(term(source), term(external_id), term(name or "-"), term(reason))
    console.print(table)


def record_ledger(cfg: PulseConfig, *, dry_run: bool) -> None:
    """Fill CRM accounts' ARR from billing or deals when no ARR field is mapped
    (pulse.services.arr), then record the ARR changes the sync brought in
    (storage.arr_ledger): retention metrics read the ledger, and only a sync sees an
    account's ARR change."""
    from pulse.services.arr import fill_arr
    from storage.arr_ledger import record_arr_ledger
    from storage.db import session_factory

    now = utcnow()
    today = local_date(cfg.workspace.timezone, now)
    with session_factory(cfg.database_url)() as session:
        filled = fill_arr(session, cfg, today)
        report = record_arr_ledger(session, today, now)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    note = " (dry run: not stored)" if dry_run else ""
    if filled.changed:
        console.print(f"{filled}{note}", highlight=False)
    console.print(f"{report}{note}", highlight=False)
