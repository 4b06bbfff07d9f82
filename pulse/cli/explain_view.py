"""`pulse explain`: one account's score, where every point came from, and what changed."""

from __future__ import annotations

from datetime import date

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.cli.terminal import money, tier_text
from scoring.engine import previous_snapshot
from scoring.explain import explain_change, render_breakdown
from storage.models import Account, ScoreSnapshot


def latest_snapshot(
    session: Session, account_id: int, on_or_before: date | None
) -> ScoreSnapshot | None:
    stmt = select(ScoreSnapshot).where(ScoreSnapshot.account_id == account_id)
    if on_or_before is not None:
        stmt = stmt.where(ScoreSnapshot.as_of <= on_or_before)
    return session.scalars(stmt.order_by(ScoreSnapshot.as_of.desc()).limit(1)).first()


def render_explanation(
    console: Console, session: Session, account: Account, on_or_before: date | None = None
) -> bool:
    """Print the explanation; False when the account has no snapshot to explain."""
    snap = latest_snapshot(session, account.id, on_or_before)
    if snap is None:
        return False
    owner = account.owner.name if account.owner else "no owner"
    renewal = account.renewal_date.isoformat() if account.renewal_date else "no renewal date"
    console.print(
        Panel.fit(
            f"[bold]{account.name}[/] ({account.domain or 'no domain'}) - "
            f"{account.tier or 'no tier'}, {account.lifecycle}\n"
            f"Health [bold]{snap.score:.1f}[/] {tier_text(snap.tier)} as of {snap.as_of}  |  "
            f"ARR {money(account.arr or 0)}  |  renews {renewal}  |  CSM {owner}",
            title="pulse explain",
        )
    )
    for line in render_breakdown(snap):
        console.print(line, markup=False, highlight=False)
    prev = previous_snapshot(session, account.id, snap.as_of)
    if prev is None:
        console.print("Change: first snapshot, nothing to compare with yet.")
    else:
        console.print(f"Change since {prev.as_of}:")
        for line in explain_change(prev, snap):
            console.print(f"  {line}", markup=False, highlight=False)
    return True
