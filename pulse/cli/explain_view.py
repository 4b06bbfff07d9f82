"""`pulse explain`: one account's score, where every point came from, and what changed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.cli.escape import plain, term
from pulse.cli.terminal import money, tier_text
from pulse.kernel.config import ScoringConfig
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
    owner = term(account.owner.name) if account.owner else "no owner"
    renewal = renewal_then(snap) or (
        account.renewal_date.isoformat() if account.renewal_date else "no renewal date"
    )
    console.print(
        Panel.fit(
            f"[bold]{term(account.name)}[/] ({term(account.domain or 'no domain')}) - "
            f"{term(account.tier or 'no tier')}, {term(lifecycle_then(account, snap.as_of))}\n"
            f"Health [bold]{snap.score:.1f}[/] {tier_text(snap.tier)} as of {snap.as_of}  |  "
            f"ARR {money(account.arr or 0)}  |  renews {renewal}  |  CSM {owner}",
            title="pulse explain",
        )
    )
    for line in render_breakdown(snap):
        console.print(plain(line), markup=False, highlight=False)
    prev = previous_snapshot(session, account.id, snap.as_of)
    if prev is None:
        console.print("Change: first snapshot, nothing to compare with yet.")
    else:
        console.print(f"Change since {prev.as_of}:")
        for line in explain_change(prev, snap):
            console.print(f"  {plain(line)}", markup=False, highlight=False)
    return True


def lifecycle_then(account: Account, as_of: date) -> str:
    """The account's lifecycle on ``as_of``: a past snapshot of an account that churned
    later shows it as it was then, not today's "churned"."""
    churned_on = account.churned_on
    if account.lifecycle != "churned" or (churned_on is not None and churned_on <= as_of):
        return str(account.lifecycle)
    later = f"churned on {churned_on}" if churned_on else "churned later"
    return f"customer then ({later}, after this snapshot)"


def renewal_then(snap: ScoreSnapshot) -> str | None:
    """The renewal date the snapshot was scored with (its contract figures), if any."""
    for entry in snap.components or []:
        raw = entry.get("raw") or {} if isinstance(entry, dict) else {}
        days = raw.get("days_to_renewal") if entry.get("key") == "contract" else None
        if days is not None:
            return (snap.as_of + timedelta(days=int(days))).isoformat()
    return None


LEARNED_INPUTS_SHOWN = 8
"""Inputs listed by the learned model's section (the rest are summed in one line)."""


def render_learned(
    console: Console, session: Session, account: Account, doc: dict[str, Any], as_of: date,
    cfg: ScoringConfig,
) -> None:
    """The stored learned model's view of an account whose snapshot on ``as_of`` was
    scored with the rules (before the model was written): its health and each input's
    points, which add up to it."""
    from pulse.services.learn import learned_points
    from scoring.learn.document import held_out

    learned = learned_points(session, cfg, doc, as_of)
    if account.id not in learned.points.index:
        console.print(f"Learned model: {term(account.name)} was not a live account on {as_of}.")
        return
    row = learned.points.loc[account.id]
    bins = learned.bins.loc[account.id]
    health = float(learned.health.loc[account.id])
    training = doc["training"]
    first, last = training["churn_dates"]
    auc = held_out(doc)
    risk = doc["at_risk"]
    at_risk = health < float(risk["below_health"])
    judged = f", held-out AUC {auc:.2f}" if auc is not None else ""
    console.print(
        f"Learned model (pulse-model.yml; this snapshot was scored with the rules, "
        f"`pulse score` scores with the model): health [bold]{health:.1f}"
        f"[/]{' [red]at risk[/]' if at_risk else ''} as of {as_of}; learned from "
        f"{training['churns']} churns between {first} and {last}{judged}. Points:",
        highlight=False,
    )
    ranked = row.sort_values(ascending=False)
    for name, value in ranked.head(LEARNED_INPUTS_SHOWN).items():
        most = learned.most[str(name)]
        console.print(f"  {plain(name)} ({plain(bins[name])}): {value:.1f} of {most:.1f}",
                      highlight=False, markup=False)
    rest = ranked.iloc[LEARNED_INPUTS_SHOWN:]
    if len(rest):
        console.print(f"  {len(rest)} other inputs: {rest.sum():.1f}", highlight=False)
