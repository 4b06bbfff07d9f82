"""Rich renderings of the portfolio for the terminal (the demo, `pulse score`, `pulse explain`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.base import get_connector
from digests.wording import money, signed
from pulse.cli.escape import plain, term
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from pulse.kernel.tiers import TIER_LABELS
from pulse.services.portfolio import ManagerSummary
from pulse.services.sync import SyncReport, run_sync
from storage.loader import LoadResult

TIER_STYLE = {"healthy": "green", "fine": "yellow", "at_risk": "red"}


def tier_text(tier: str) -> str:
    return f"[{TIER_STYLE.get(tier, 'white')}]{term(TIER_LABELS.get(tier, tier))}[/]"


def render_manager_summary(console: Console, s: ManagerSummary, workspace: str) -> None:
    since = f" (vs {s.prev_as_of})" if s.prev_as_of else ""
    change = f", {signed(s.average_change)} since last run" if s.average_change is not None else ""
    console.print(
        Panel.fit(
            f"[bold]{term(workspace)}[/]: {s.accounts} accounts scored on {s.as_of}{since}\n"
            f"Average health {s.average_score}/100{change}\n"
            f"At-risk ARR [red]{money(s.at_risk_arr)}[/] of {money(s.total_arr)}"
            f" ([red]{money(s.at_risk_arr_renewing)}[/] renewing within 90 days)",
            title="Portfolio health",
        )
    )
    dist = Table(title="Health distribution", show_edge=False)
    for col in ("Tier", "Accounts", "Change", "ARR"):
        dist.add_column(col, justify="left" if col == "Tier" else "right")
    for tier, row in s.distribution.iterrows():
        dist.add_row(
            tier_text(str(tier)),
            str(int(row["count"])),
            f"{int(row['change']):+d}" if s.prev_as_of else "",
            money(float(row["arr"])),
        )
    console.print(dist)
    for title, frame in (("Biggest drops", s.top_drops), ("Biggest rises", s.top_rises)):
        if frame.empty:
            continue
        table = Table(title=title, show_edge=False)
        for col in ("Account", "CSM", "Score", "Change", "Tier", "ARR"):
            table.add_column(col, justify="right" if col in {"Score", "Change", "ARR"} else "left")
        for _, r in frame.iterrows():
            table.add_row(
                term(r["name"]),
                term(r["owner_name"] or "-"),
                f"{r['prev_score']:.1f} -> {r['score']:.1f}",
                signed(r["change"]),
                tier_text(r["health_tier"]),
                money(r["arr"]),
            )
        console.print(table)
    renewals = Table(title="Renewals in the next 90 days by risk", show_edge=False)
    for col in ("Renewal risk", "Accounts", "ARR"):
        renewals.add_column(col, justify="left" if col == "Renewal risk" else "right")
    for risk, row in s.renewals_by_risk.iterrows():
        renewals.add_row(term(risk), str(int(row["accounts"])), money(float(row["arr"])))
    console.print(renewals)
    if not s.flag_counts.empty:
        flags = Table(title="Churn flags raised", show_edge=False)
        flags.add_column("Flag")
        flags.add_column("Accounts", justify="right")
        for label, count in s.flag_counts.items():
            flags.add_row(term(label), str(int(count)))
        console.print(flags)


def render_attention(console: Console, items: pd.DataFrame, owner: str, limit: int = 15) -> None:
    title = f"{term(owner)}: {len(items)} account(s) need attention today"
    table = Table(title=title, show_edge=False)
    for col in ("Account", "Score", "Change", "Tier", "ARR", "Renewal", "Why"):
        table.add_column(col, justify="right" if col in {"Score", "Change", "ARR"} else "left")
    for _, r in items.head(limit).iterrows():
        table.add_row(
            term(r["name"]),
            f"{r['score']:.1f}",
            signed(r["change"]),
            tier_text(r["health_tier"]),
            money(r["arr"]),
            str(r["renewal_date"] or "-"),
            term(r["why"]),
        )
    console.print(table)
    if len(items) > limit:
        console.print(f"... and {len(items) - limit} more (pulse explain NAME for any account)")


def progress_detail(entity: str, records: int, pages: int) -> str:
    """'usage: 1,500,000 records (3 pages)': moves with every page of a long pull."""
    return f"{entity}: {records:,} records ({pages:,} page{'s' if pages != 1 else ''})"


def sync_with_progress(
    console: Console,
    cfg: PulseConfig,
    sources: list[str],
    *,
    full: bool = False,
    dry_run: bool = False,
    **connector_args: Any,
) -> list[SyncReport]:
    """Run each source with a progress line per source; returns the reports."""
    reports = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for name in sources:
            connector = get_connector(name)(cfg, **connector_args)
            task = progress.add_task(name, total=None, detail="starting")
            seen: dict[str, list[int]] = {}  # entity -> [records, pages] so far

            def hook(batch: Batch, result: LoadResult, task: Any = task,
                     seen: dict[str, list[int]] = seen) -> None:
                counts = seen.setdefault(batch.entity, [0, 0])
                counts[0] += result.fetched
                counts[1] += batch.pages
                progress.update(task, detail=progress_detail(batch.entity, *counts))

            report = run_sync(
                cfg.database_url,
                cfg,
                name,
                full=full,
                dry_run=dry_run,
                connector=connector,
                progress=hook,
            )
            done = "; ".join(progress_detail(e, *c) for e, c in seen.items())
            progress.update(task, total=1, completed=1,
                            detail=f"{report.status} - {done}" if done else report.status)
            reports.append(report)
    return reports


def print_sync_report(console: Console, report: SyncReport, max_skipped: int = 20) -> None:
    t = report.totals
    colour = {"ok": "green", "partial": "yellow", "dry-run": "cyan"}.get(report.status, "red")
    unlinked = sum(1 for r in t.skipped if r.imported)
    console.print(
        f"[{colour}]{term(report.source)}: {term(report.status)}[/] - fetched {t.fetched:,}, "
        f"inserted {t.inserted:,}, updated {t.updated:,}, unchanged {t.unchanged:,}, "
        f"skipped {len(t.skipped) - unlinked:,}"
        + (f", stored without a link {unlinked:,}" if unlinked else "")
    )
    for rejection in t.skipped[:max_skipped]:
        what = "stored without a link" if rejection.imported else "skipped"
        console.print(f"  {what} {term(rejection.where)}: {term(rejection.reason)}")
    if len(t.skipped) > max_skipped:
        console.print(f"  ... and {len(t.skipped) - max_skipped} more reported")
    for warning in report.warnings:
        console.print(f"  [yellow]warning:[/] {term(warning)}", highlight=False)
    for error in report.errors:  # one line each, as stored (and "[redacted]" is no markup)
        console.print(f"  error: {plain(error)}", style="red", markup=False, highlight=False,
                      soft_wrap=True)
