"""View models and payload helpers shared by the Block Kit builder tests (tests/digests).

View models are built by hand, including a 500-account portfolio whose names and reasons
are long and full of ``&``, ``<`` and ``>``, so each builder is exercised at the size that
breaks naive Block Kit code.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from digests.views import (
    AccountLine,
    AlertItem,
    HealthCard,
    ManagerDigest,
    RenewalRow,
    RetentionLine,
    ScorePart,
    TierRow,
)

AS_OF = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 10, 0)
NASTY = "Smith & <Sons> > Co <!channel>"


def line(i: int = 1, **kw: Any) -> AccountLine:
    base: dict[str, Any] = dict(
        account_id=i,
        name=f"Evergreen Associates {i}",
        domain="evergreen.co",
        score=49.2,
        health_tier="at_risk",
        change=-9.5,
        arr=10_400.0,
        renewal_date=date(2026, 12, 8),
        days_to_renewal=13,
        owner_name="Priscilla Tan",
        last_activity=date(2026, 11, 20),
        open_alerts=1,
        expansion_score=6.7,
        renewal_risk="high",
        why="Customer admin silent; score -9.5 since last run; at risk, renews in 13 days",
        crm_url=f"https://crm.example.com/accounts/{i}",
    )
    base.update(kw)
    return AccountLine(**base)


def huge_portfolio(n: int = 500) -> list[AccountLine]:
    tiers = ("healthy", "fine", "at_risk")
    return [
        line(
            i,
            name=f"{NASTY} " * 12 + f"#{i}",
            domain=f"<{i}>.example.com",
            owner_name=f"Owner & <{i}>" * 10,
            health_tier=tiers[i % 3],
            change=None if i % 7 == 0 else (i % 41) - 20.0,
            renewal_date=None if i % 5 == 0 else date(2026, 12, 1) + timedelta(days=i),
            days_to_renewal=None if i % 5 == 0 else 6 + i,
            why=f"{NASTY}; " * 60,
            crm_url=None if i % 4 == 0 else f"https://crm.example.com/a/{i}?x=1&y=2",
        )
        for i in range(n)
    ]


COMPONENTS: list[dict[str, Any]] = [
    {
        "key": "usage",
        "label": "Usage",
        "weight": 0.25,
        "effective_weight": 0.2941,
        "value": 0.47,
        "points": 13.8,
        "has_data": True,
        "raw": {"active_users": 3},
        "detail": "users active 4 of 30 days on average; 103 value-weighted actions per active "
        "user a month (workspace median 215), 99 core actions",
    },
    {
        "key": "seats",
        "label": "Seats",
        "weight": 0.2,
        "effective_weight": 0.2353,
        "value": 0.42,
        "points": 9.9,
        "has_data": True,
        "raw": {},
        "detail": "3 of 6 seats active (50%)",
    },
    {
        "key": "engagement",
        "label": "Engagement",
        "weight": 0.15,
        "effective_weight": 0.0,
        "value": None,
        "points": 0.0,
        "has_data": False,
        "raw": {},
        "detail": "no NPS on file; weight renormalised",
    },
    {
        "key": "contract",
        "label": "Contract",
        "weight": 0.15,
        "effective_weight": 0.1765,
        "value": 0.91,
        "points": 16.1,
        "has_data": True,
        "raw": {},
        "detail": "renewal in 13 days; no overdue invoices; paid",
    },
    {
        "key": "breadth",
        "label": "Feature breadth",
        "weight": 0.1,
        "effective_weight": 0.1176,
        "value": 0.53,
        "points": 6.2,
        "has_data": True,
        "raw": {},
        "detail": "6 of 12 features used, 2 of 5 core (value-weighted 42%)",
    },
    {
        "key": "trend",
        "label": "Trend",
        "weight": 0.15,
        "effective_weight": 0.1765,
        "value": 0.04,
        "points": 3.2,
        "has_data": True,
        "raw": {},
        "detail": "value-weighted activity down 48% vs previous 30 days (593 -> 309)",
    },
]


def alert(i: int = 7, status: str = "open", **kw: Any) -> AlertItem:
    base: dict[str, Any] = dict(
        id=i,
        account_id=1,
        account_name="Evergreen Associates 1",
        rule="invoice_overdue",
        label="Invoice overdue",
        severity="critical",
        status=status,
        message="Invoice INV-123 is 45 days overdue",
        action="Check with finance, then raise the overdue invoice with the billing contact.",
        opened_at=datetime(2026, 11, 20, 9, 0),
        crm_url="https://crm.example.com/accounts/1",
        owner_slack_id="U0PRISCILLA",
        arr=48_000.0,
        score=49.2,
        tier="at_risk",
        prev_score=58.7,
        prev_tier="fine",
        renewal_date=AS_OF + timedelta(days=13),
        days_to_renewal=13,
        reasons=(
            ScorePart("Usage", 3.9, 23.5, "users active 4 of 30 days on average"),
            ScorePart("Trend", 3.2, 17.6, "value-weighted activity down 48%"),
        ),
        data_as_of=datetime(2026, 11, 25, 6, 0),
        stale=("support data 3 days old",),
        peer_note="Seats: bottom 8% of Enterprise, 50-199 seats peers",
    )
    base.update(kw)
    return AlertItem(**base)


def card(**kw: Any) -> HealthCard:
    base: dict[str, Any] = dict(
        account=line(1),
        account_tier="mid-market",
        lifecycle="paid",
        as_of=AS_OF,
        components=COMPONENTS,
        reasons=[
            "Customer admin silent: Leo Haddad has had no activity in the last 60 days",
            "Trend: value-weighted activity down 48% vs previous 30 days (593 -> 309)",
        ],
        change_lines=[
            "58.7 -> 49.2: activity trend -22% -> -48% (-6.3), seats (-3.2)",
            "Tier: fine -> at_risk",
        ],
        trend=[(AS_OF - timedelta(days=28 - 7 * k), s) for k, s in enumerate([61, 60, 58.7, 49.2])],
        flags=[
            {
                "code": "owner_silent",
                "label": "Customer admin silent",
                "severity": "critical",
                "action": "Book a check-in with the customer's account owner.",
                "detail": "Leo Haddad has had no activity in the last 60 days",
            }
        ],
        alerts=[alert(7)],
        can_act=True,
    )
    base.update(kw)
    return HealthCard(**base)


def manager(drops: list[AccountLine], rises: list[AccountLine]) -> ManagerDigest:
    return ManagerDigest(
        scope="Enterprise CS",
        as_of=AS_OF,
        prev_as_of=date(2026, 11, 18),
        accounts_total=475,
        average_score=76.4,
        average_change=-0.3,
        distribution=[
            TierRow("healthy", 251, 11, 4.49e6),
            TierRow("fine", 156, -4, 2.21e6),
            TierRow("at_risk", 68, 0, 1.79e6),
        ],
        at_risk_arr=1.79e6,
        at_risk_arr_renewing=392e3,
        total_arr=8.49e6,
        drops=drops,
        rises=rises,
        renewals=[
            RenewalRow("high", 25, 392e3),
            RenewalRow("medium", 15, 132e3),
            RenewalRow("low", 100, 1.4e6),
        ],
    )


RETENTION = RetentionLine(
    start=date(2025, 11, 26), end=AS_OF, months=12, accounts_start=412, arr_start=4.5e6,
    kept_arr=4.1e6, arr_end_cohort=4.68e6, churned_accounts=21, grr=4.1 / 4.5, nrr=4.68 / 4.5,
    logo_churn_rate=21 / 412, expansion_forecast=120e3, expansion_opportunities=14,
    expansion_amount=310e3,
)


# ---------------------------------------------------------------------------------------
# Helpers over payloads


def texts(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (type, text) of every text object in the payload, recursively."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"mrkdwn", "plain_text"} and isinstance(node.get("text"), str):
                out.append((node["type"], node["text"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(payload.get("blocks", []))
    return out


def all_mrkdwn(payload: dict[str, Any]) -> str:
    return "\n".join(t for kind, t in texts(payload) if kind == "mrkdwn")


def elements(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in payload["blocks"]:
        if block["type"] == "actions":
            out.extend(block["elements"])
        if "accessory" in block:
            out.append(block["accessory"])
    return out


def by_action(payload: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [e for e in elements(payload) if e.get("action_id") == action_id]


# Strip the markup we generate ourselves; whatever '<' or '>' remains came unescaped.
OWN_TOKENS = re.compile(r"<(?:https?://[^|>]+\|[^>]*|@U[A-Z0-9]+|!date\^[^>]+)>")


def assert_escaped(payload: dict[str, Any]) -> None:
    for source in (all_mrkdwn(payload), payload.get("text", "")):
        rest = OWN_TOKENS.sub("", source)
        assert "<" not in rest and ">" not in rest, rest[:300]
        assert "<!channel>" not in source
        assert not re.search(r"&(?!amp;|lt;|gt;)", rest), rest[:300]
