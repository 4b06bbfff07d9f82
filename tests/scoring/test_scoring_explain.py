"""explain_change must attribute score changes exactly; render_breakdown must be readable."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from factories import AS_OF, healthy_record
from workspace import CFG

from pulse.kernel.tiers import tier_label
from scoring.engine import score_signals
from scoring.explain import explain_change, render_breakdown
from scoring.signals import make_signals

DELTA = re.compile(r"\(([+-]\d+\.\d)\)")


def snapshot(rec: dict[str, Any], as_of: date = AS_OF, **meta: Any) -> dict[str, Any]:
    row = score_signals(make_signals([rec], as_of, CFG.scoring, **meta), CFG).iloc[0]
    return {**row.to_dict(), "as_of": as_of}


def deltas(line: str) -> list[float]:
    return [float(x) for x in DELTA.findall(line)]


def assert_adds_up(prev: dict[str, Any], curr: dict[str, Any]) -> list[str]:
    lines = explain_change(prev, curr)
    head = lines[0]
    assert head.startswith(f"{prev['score']:.1f} -> {curr['score']:.1f}")
    total = round(sum(deltas(head)), 1)
    assert total == pytest.approx(round(curr["score"] - prev["score"], 1), abs=1e-9), head
    return lines


def test_change_names_components_and_adds_up() -> None:
    prev = snapshot(healthy_record(active_users=41))
    curr = snapshot(healthy_record(active_users=26, open_urgent_high=3, tickets_90d=3))
    lines = assert_adds_up(prev, curr)
    head = lines[0]
    assert "active seats 82% -> 52%" in head
    assert "3 new open urgent/high tickets" in head
    assert curr["score"] < prev["score"]


def test_no_change() -> None:
    snap = snapshot(healthy_record())
    assert explain_change(snap, snap)[0] == f"{snap['score']:.1f} -> {snap['score']:.1f}: no change"


def test_gaining_data_renormalises_weights_and_says_so() -> None:
    prev = snapshot(healthy_record(), has_usage=False)
    curr = snapshot(healthy_record())
    lines = assert_adds_up(prev, curr)
    assert "usage now has data" in lines[0]
    assert "weights renormalised" in lines[0]
    assert any(line.startswith("Usage gained data") for line in lines[1:])
    # Unchanged components still moved because their share of the weight changed.
    assert "weight 50% -> 15%" in lines[0]


def test_losing_data_renormalises_weights_and_says_so() -> None:
    prev = snapshot(healthy_record())
    curr = snapshot(healthy_record(licensed_seats=None))
    lines = assert_adds_up(prev, curr)
    assert "seats lost its data (no licensed seat count on file" in lines[0]
    assert any("Seats has no data now" in line for line in lines)


def test_flags_and_tier_changes_are_listed() -> None:
    prev = snapshot(healthy_record())
    curr = snapshot(
        healthy_record(
            active_users=10, negative_sentiment_flag=2, negative_sentiment_90d=2, tickets_90d=2
        )
    )
    lines = assert_adds_up(prev, curr)
    assert f"Tier: {tier_label(prev['tier'])} -> {tier_label(curr['tier'])}" in lines
    assert not any("at_risk" in line for line in lines)
    assert any(line.startswith("New flag: Negative support sentiment") for line in lines)
    back = explain_change(curr, prev)
    assert "Flag cleared: Negative support sentiment" in back


def test_random_changes_always_add_up() -> None:
    """Property check over many random pairs, including data appearing and vanishing."""
    rng = np.random.default_rng(3)
    n = 300

    def random_records() -> list[dict[str, Any]]:
        recs = []
        for i in range(n):
            recs.append(
                healthy_record(
                    account_id=i + 1,
                    active_users=int(rng.integers(0, 60)),
                    user_days=int(rng.integers(0, 600)),
                    weighted_events=float(rng.uniform(0, 9000)),
                    weighted_events_prev=float(rng.uniform(0, 9000)),
                    features_used=int(rng.integers(0, 8)),
                    licensed_seats=None if rng.random() < 0.2 else 50,
                    nps_latest=None if rng.random() < 0.5 else int(rng.integers(0, 11)),
                    csat_avg=None if rng.random() < 0.5 else float(rng.uniform(1, 5)),
                    open_urgent_high=int(rng.integers(0, 3)),
                    renewal_date=None if rng.random() < 0.2 else date(2025, 9, 1),
                )
            )
        return recs

    a = score_signals(make_signals(random_records(), AS_OF, CFG.scoring), CFG)
    b = score_signals(make_signals(random_records(), AS_OF, CFG.scoring), CFG)
    for (_, pa), (_, pb) in zip(a.iterrows(), b.iterrows(), strict=True):
        assert_adds_up(pa.to_dict(), pb.to_dict())


def test_render_breakdown_lines() -> None:
    snap = snapshot(healthy_record(licensed_seats=None))
    lines = render_breakdown(snap)
    assert lines[0] == (
        f"Score {snap['score']:.1f}/100 ({tier_label(snap['tier'])}) as of {AS_OF.isoformat()}"
    )
    seats = next(line for line in lines if line.startswith("Seats"))
    assert "n/a" in seats and "no data:" in seats and "weight renormalised" in seats
    usage = next(line for line in lines if line.startswith("Usage"))
    assert "users active 14 of 30 days on average" in usage
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[-1] == f"{snap['score']:.1f}"
    assert any(re.match(r"Expansion score [\d.]+/100$", line) for line in lines)
    assert any(re.match(r"Renewal risk \w+ \(\d+/100\)$", line) for line in lines)


def test_render_breakdown_accepts_orm_snapshot_like_objects() -> None:
    snap = snapshot(healthy_record())
    obj = SimpleNamespace(**snap)  # attribute access like an ORM row
    assert render_breakdown(obj)[0].startswith("Score")
