"""The daily pipeline from the terminal: `pulse run` (once, now), `pulse runs` (past
runs), `pulse playbooks` (the automation it applies) and `pulse audit` (what it did)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pulse.cli.common import (
    account_or_exit,
    console,
    exit_run_in_progress,
    load_settings,
    optional_slack,
    require_schema,
    warn_playbook_problems,
)
from pulse.cli.escape import term

if TYPE_CHECKING:
    from pulse.kernel.config import PlaybookAction

AUDIT_DETAIL_CHARS = 160
"""`pulse audit` cuts each entry's detail to this many characters to keep rows readable."""


def _print_steps(steps: list[dict[str, object]]) -> None:
    table = Table(show_edge=False)
    for col in ("Step", "Status", "Tries", "Seconds", "Detail"):
        table.add_column(col)
    colour = {"ok": "green", "failed": "red", "skipped": "yellow"}
    for step in steps:
        status = str(step.get("status"))
        seconds = step.get("seconds") or 0
        table.add_row(term(step.get("name")), f"[{colour.get(status, 'white')}]{term(status)}[/]",
                      str(step.get("attempts")), f"{float(seconds):.1f}",  # type: ignore[arg-type]
                      term(step.get("detail")))
    console.print(table)


def run_command(
    force: Annotated[
        bool, typer.Option(help="Send digests again to people who already had today's.")
    ] = False,
) -> None:
    """Run the daily pipeline once now: sync, score, alerts, writeback, digests, retention.

    Each person gets one digest a day: people who already had today's are skipped (the
    digests step says how many) unless --force. One run at a time: while another (`pulse
    run`, `pulse alerts`, `pulse digest` or the scheduled one) is going, it says so and
    exits 1, having done nothing."""
    from pulse.jobs.locks import RunInProgress
    from pulse.jobs.pipeline import admin_reporter, run_pipeline

    cfg = load_settings()
    require_schema(cfg.database_url)
    slack = optional_slack()
    try:
        run = run_pipeline(cfg, kind="manual", delivery=slack,
                           on_failure=admin_reporter(cfg, slack), force=force)
    except RunInProgress as busy:
        raise exit_run_in_progress(busy) from None
    assert run is not None  # manual runs are never refused
    _print_steps(run.steps)
    console.print(f"Run {run.id} of {run.run_date}: {run.status}.")
    if run.status != "ok":
        raise typer.Exit(1)


def runs_command(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs.")] = 20,
    steps: Annotated[bool, typer.Option(help="Show each run's steps.")] = False,
) -> None:
    """List past pipeline runs (scheduled and manual) with each step's outcome and timing."""
    cfg = load_settings()
    require_schema(cfg.database_url)

    # The table alone, not pulse.jobs.pipeline: that loads every service (and pandas).
    from sqlalchemy import select

    from storage.db import session_factory
    from storage.models import RUN_RUNNING, PipelineRun

    with session_factory(cfg.database_url)() as session:
        runs = list(session.scalars(
            select(PipelineRun).order_by(PipelineRun.started_at.desc(), PipelineRun.id.desc())
            .limit(limit)))
    if not runs:
        console.print("No pipeline runs yet: `pulse run` runs one now; `pulse serve` schedules "
                      f"one every day at {cfg.schedule.time} ({cfg.workspace.timezone}).")
        return
    table = Table(show_edge=False)
    for col in ("Run", "Day", "Kind", "Started (UTC)", "Took", "Status", "Steps"):
        table.add_column(col)
    for run in runs:
        took = "-"
        if run.finished_at:
            took = f"{(run.finished_at - run.started_at).total_seconds():.0f}s"
        done = " ".join(f"{s['name']}:{s['status']}" for s in run.steps)
        summary = term(done or ("(running)" if run.status == RUN_RUNNING else "(none recorded)"))
        table.add_row(str(run.id), str(run.run_date), run.kind, str(run.started_at), took,
                      run.status, summary)
    console.print(table)
    if steps:
        for run in runs:
            console.print(f"[bold]Run {run.id}[/] ({term(run.kind)}, {run.run_date}, "
                          f"{term(run.host)})")
            _print_steps(run.steps)


def playbooks_command() -> None:
    """List the playbooks in pulse.yml: trigger, conditions, actions, cooldown; then a
    warning line for each problem (a webhook's secret not set or host unreachable, a
    crm_task without a CRM) that would make an action fail."""
    cfg = load_settings()
    if not cfg.playbooks:
        console.print(f"No playbooks in {cfg.source_label} (key 'playbooks'; see "
                      "docs/scheduling.md).")
        return
    table = Table(show_edge=False)
    for col in ("Playbook", "Trigger", "When", "Actions", "Cooldown"):
        table.add_column(col)
    for playbook in cfg.playbooks:
        trigger = playbook.trigger.model_dump(exclude_none=True)
        kind = trigger.pop("type")
        when = "; ".join(
            f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in playbook.when.model_dump(exclude_defaults=True).items()
        ) or "any account"
        actions = ", ".join(_action_text(action) for action in playbook.actions)
        params = " ".join(f"{k}={v}" for k, v in trigger.items())
        table.add_row(term(playbook.name), term(f"{kind} {params}".strip()), term(when),
                      term(actions),
                      f"{playbook.cooldown_days}d")
    console.print(table)
    warn_playbook_problems(cfg)


def _action_text(action: PlaybookAction) -> str:
    """ "notify_channel C0123": the action's type and where it goes."""
    target = action.channel or action.user or action.url
    return " ".join(str(part) for part in (action.type, target) if part)


def audit_command(
    account: Annotated[str | None, typer.Option(help="Only this account (name or domain).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="How many entries.")] = 50,
) -> None:
    """Every automated action and every button click, newest first."""
    cfg = load_settings()
    require_schema(cfg.database_url)

    from sqlalchemy import select

    from storage.db import session_factory
    from storage.models import Account, AuditLog

    with session_factory(cfg.database_url)() as session:
        stmt = select(AuditLog, Account.name).outerjoin(Account, Account.id == AuditLog.account_id)
        if account:
            stmt = stmt.where(AuditLog.account_id == account_or_exit(session, account).id)
        newest = stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)
        rows = session.execute(newest).all()
    if not rows:
        console.print("No audit entries" + (f" for {term(account)}." if account else "."))
        return
    table = Table(show_edge=False)
    for col in ("When (UTC)", "Who", "Action", "Account", "Outcome", "Detail"):
        table.add_column(col)
    for entry, name in rows:
        detail = ", ".join(f"{k}={v}" for k, v in (entry.detail or {}).items())
        table.add_row(str(entry.at), term(entry.actor), term(entry.action), term(name or "-"),
                      term(entry.outcome), term(detail[:AUDIT_DETAIL_CHARS]))
    console.print(table)
