"""The reasons given for an expansion candidate name its signals, not its score."""

from __future__ import annotations

from scoring.outlook import expansion_signals


def _entry(key: str, value: float, detail: str, **raw: float) -> dict[str, object]:
    return {"key": key, "label": key.capitalize(), "value": value, "has_data": True,
            "raw": raw, "detail": detail}


def test_seats_near_the_cap_and_rising_activity_are_named() -> None:
    comps = [
        _entry("seats", 0.9, "45 of 50 seats active (90%)", ratio=0.9),
        _entry("trend", 0.95, "activity up", change_pct=31.6),
    ]
    assert expansion_signals(comps, 0.85) == [
        "45 of 50 seats active (90%): near the licence cap",
        "activity up 32% on the previous window",
    ]


def test_without_seat_or_growth_signal_the_strongest_components_are_named() -> None:
    comps = [
        _entry("seats", 0.3, "10 of 50 seats active (20%)", ratio=0.2),
        _entry("usage", 0.95, "users active 20 of 30 days"),
        _entry("contract", 0.85, "paid, renewal in 200 days"),
        _entry("support", 0.1, "3 open tickets"),
    ]
    assert expansion_signals(comps, 0.85) == [
        "strong usage: users active 20 of 30 days",
        "strong contract: paid, renewal in 200 days",
    ]
    assert expansion_signals([], 0.85) == []
