"""`pulse demo`: the whole pipeline on the sample workspace, end to end, in one go."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from rich.console import Console
from sqlalchemy import func, select

from pulse.cli.escape import term
from pulse.cli.explain_view import render_explanation
from pulse.cli.terminal import (
    money,
    print_sync_report,
    render_attention,
    render_manager_summary,
    sync_with_progress,
)
from pulse.kernel.config import PulseConfig
from pulse.services.portfolio import (
    attention_list,
    expansion_candidates,
    load_portfolio,
    manager_summary,
)
from storage.arr_ledger import record_arr_ledger
from storage.db import get_engine, session_factory, session_scope
from storage.migrate import is_current, reset
from storage.models import Account, Owner

DEMO_SOURCE = "sample"
"""The connector the demo loads; accounts from any other source are real data."""
PREVIOUS_RUN_DAYS = 7
"""The demo also scores this many days before today, so "change since" has something to show."""
EXPANSION_CANDIDATES_SHOWN = 5
"""How many of the busiest CSM's expansion candidates the demo names."""


def _foreign_accounts(url: str) -> int:
    """Accounts from real sources: the demo must never wipe those."""
    if not is_current(url):
        return 0
    with session_factory(url)() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Account).where(Account.source != DEMO_SOURCE)
            )
            or 0
        )


def run_demo(console: Console, cfg: PulseConfig, today: date, *, force: bool = False) -> None:
    """Reset the database, load the sample workspace as of ``today``, score twice, show
    the portfolio."""
    from scoring.engine import run_scoring

    url = cfg.database_url
    foreign = _foreign_accounts(url)
    if foreign and not force:
        raise RuntimeError(
            f"The database holds {foreign} accounts from real sources; the demo resets it. "
            "Point DATABASE_URL at another database or pass --force."
        )
    console.rule("[bold]Pulse demo")
    console.print(
        f"1. Fresh database at {get_engine(url).url.render_as_string(hide_password=True)}"
    )
    reset(url)
    console.print("2. Loading the sample workspace (500 accounts, 180 days of usage)")
    reports = sync_with_progress(console, cfg, [DEMO_SOURCE], full=True, end_date=today)
    for report in reports:
        print_sync_report(console, report)
        if report.status == "failed":
            raise RuntimeError("loading the sample workspace failed; see the errors above")
    with session_scope(url) as session:
        console.print(f"   {record_arr_ledger(session, today)}", highlight=False)
    previous = today - timedelta(days=PREVIOUS_RUN_DAYS)
    console.print(f"3. Scoring as of {previous} and as of {today}, so changes show")
    for day in (previous, today):
        with session_scope(url) as session:
            summary = run_scoring(session, cfg, day)
        console.print(f"   {summary}")
    console.print()
    show_portfolio(console, cfg, today)
    console.print(
        "\nNext: [bold].venv/bin/pulse explain acme[/] (any name or domain), "
        "[bold].venv/bin/pulse metrics[/] (retention, churn, forecast), "
        "[bold].venv/bin/pulse score[/], [bold].venv/bin/pulse sources[/]"
    )


def show_portfolio(console: Console, cfg: PulseConfig, today: date) -> None:
    """The manager summary, then the busiest CSM's morning list, expansion candidates and
    why the list's first account is on it."""
    with session_factory(cfg.database_url)() as session:
        portfolio = load_portfolio(session, today)
        window = cfg.scoring.renewal_window_days
        render_manager_summary(console, manager_summary(portfolio, window), cfg.workspace.name)
        csm_id, items = _busiest_csm(portfolio, window, cfg.scoring.flags.score_drop_points)
        if csm_id is None or items.empty:
            return
        owner = session.get(Owner, csm_id)
        owner_name = owner.name if owner else str(csm_id)
        console.rule(f"[bold]Morning list for {term(owner_name)}")
        render_attention(console, items, owner_name)
        upsell = expansion_candidates(portfolio, csm_id, limit=EXPANSION_CANDIDATES_SHOWN)
        if not upsell.empty:
            console.print(
                "Expansion candidates: "
                + ", ".join(
                    f"{term(r.name)} (expansion score {r.expansion_score:.0f}/100, {money(r.arr)})"
                    for r in upsell.itertuples()
                )
            )
        top = items.iloc[0]
        account = session.get(Account, int(top["account_id"]))
        if account is not None:
            console.rule(f"[bold]Why: {term(account.name)}")
            render_explanation(console, session, account, today)


def _busiest_csm(
    portfolio: pd.DataFrame, window: int, drop_points: float
) -> tuple[int | None, pd.DataFrame]:
    """The CSM with the longest attention list: the most telling morning list to show."""
    best_id: int | None = None
    best_items = portfolio.iloc[0:0]
    for owner_id in portfolio["owner_id"].dropna().unique():
        items = attention_list(portfolio, int(owner_id), window, drop_points)
        if len(items) > len(best_items):
            best_id, best_items = int(owner_id), items
    return best_id, best_items
