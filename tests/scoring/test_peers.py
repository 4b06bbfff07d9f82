"""Peer percentiles: hand-computed ranks, small groups left out, and the card's words."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from digests.cards import component_line
from pulse.kernel.config import PulseConfig
from scoring.engine import score_signals
from scoring.peers import (
    peer_groups,
    peer_phrase,
    peer_values,
    percentiles,
    percentiles_among,
    size_band,
)
from scoring.signals import make_signals

CFG = PulseConfig()


def test_percentiles_against_hand_computed_mid_ranks() -> None:
    values = pd.Series([0.1, 0.5, 0.3, 0.3, 0.9, np.nan, 0.2, 0.4, 0.6])
    groups = pd.Series(["A"] * 6 + ["B"] * 3)
    out = percentiles(values, groups, min_peers=5)
    # Group A has 5 valued accounts: 0.1 0.3 0.3 0.5 0.9 -> ranks 1, 2.5, 2.5, 4, 5;
    # (rank - 0.5) / 5 * 100 = 10, 40, 40, 70, 90. The NaN account has no percentile.
    assert out["peer_pct"].iloc[:5].tolist() == pytest.approx([10.0, 70.0, 40.0, 40.0, 90.0])
    assert math.isnan(out["peer_pct"].iloc[5]) and out["peers"].iloc[0] == 5
    # Group B has 3 accounts: too few to rank.
    assert out["peer_pct"].iloc[6:].isna().all() and out["peers"].iloc[6:].tolist() == [3] * 3


def test_groups_and_phrases() -> None:
    seats = pd.Series([3, 10, 49, 50, 250, np.nan])
    assert size_band(seats).tolist() == [
        "1-9 seats",
        "10-49 seats",
        "10-49 seats",
        "50-199 seats",
        "200+ seats",
        "seats unknown",
    ]
    groups = peer_groups(pd.Series(["Enterprise", None, "", "SMB", "SMB", "SMB"]), seats)
    assert groups.tolist()[:3] == ["Enterprise, 1-9 seats", "All, 10-49 seats", "All, 10-49 seats"]
    assert peer_phrase(15.2, "Enterprise, 50-199 seats") == (
        "bottom 15% of Enterprise, 50-199 seats peers"
    )
    assert peer_phrase(92.0, "SMB, 1-9 seats") == "top 8% of SMB, 1-9 seats peers"
    assert peer_phrase(float("nan"), "x") is None


def test_the_card_says_where_an_account_stands_among_its_peers() -> None:
    """Six Enterprise accounts of 100 seats with 20..70 active users: the one with 20 is
    the lowest of six, (1 - 0.5) / 6 = bottom 8%."""
    records = [
        {
            "account_id": i + 1,
            "account_name": f"Acct {i + 1}",
            "segment": "Enterprise",
            "licensed_seats": 100,
            "active_users": active,
            "features_used": 6,
            "weighted_events": active * 150.0,
            "weighted_events_prev": active * 150.0,
            "contract_start": date(2024, 1, 1),
            "lifecycle": "paid",
        }
        for i, active in enumerate([20, 30, 40, 50, 60, 70])
    ]
    scored = score_signals(make_signals(records, date(2026, 3, 1), CFG.scoring), CFG)
    seats = next(c for c in scored.iloc[0]["components"] if c["key"] == "seats")
    assert seats["raw"]["peer_pct"] == 8.0 and seats["raw"]["peers"] == 6
    line = component_line(seats)
    assert "20 of 100 seats active (20%)" in line
    assert line.endswith("bottom 8% of Enterprise, 50-199 seats peers")


def test_ranked_among_stored_peers_as_among_each_other() -> None:
    """Values ranked among a run's stored peer values get that run's percentiles when
    they are among them; another value takes the place of one (the group keeps its size)."""
    values = pd.Series([0.1, 0.5, 0.3, 0.3, 0.9, np.nan, 0.2, 0.4, 0.6])
    groups = pd.Series(["A"] * 6 + ["B"] * 3)
    stored = peer_values(values, groups)
    assert stored["A"].tolist() == [0.1, 0.3, 0.3, 0.5, 0.9] and len(stored["B"]) == 3
    pd.testing.assert_frame_equal(
        percentiles_among(values, groups, stored, min_peers=3),
        percentiles(values, groups, min_peers=3),
    )
    # two accounts of group A alone, one changed to 0.4 (three stored values below it:
    # (3 + 0.5) / 5 = 70%), and one of a group the run did not have
    out = percentiles_among(pd.Series([0.4, 0.9, 0.4]), pd.Series(["A", "A", "C"]), stored)
    assert out["peer_pct"].iloc[:2].tolist() == [70.0, 90.0] and out["peers"].tolist() == [5, 5, 0]
    assert math.isnan(out["peer_pct"].iloc[2])
