"""Hand-computed portfolio metrics fixtures: frames for scoring.metrics, and the same
workspace stored for pulse.services.metrics and `pulse metrics`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from factories import add_snapshot
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.records import Batch
from scoring.metrics import (
    Period,
)
from storage.loader import load_batch
from storage.models import Account, Alert

PERIOD = Period(date(2025, 1, 1), date(2025, 12, 31))


END = PERIOD.end


D = date.fromisoformat


ACCOUNTS = pd.DataFrame(
    [
        # id, name, segment, region, tier, csm, lifecycle, contract_start, renewal_date
        (1, "Acme", "Enterprise", "EMEA", "enterprise", "Olga", "paid", D("2024-01-01"),
         D("2026-03-31")),
        (2, "Globex", "Enterprise", "NA", "enterprise", "Olga", "paid", D("2023-05-01"),
         D("2026-02-15")),
        (3, "Initech", "SMB", "NA", "smb", "Pete", "churned", D("2024-02-01"),
         D("2025-09-15")),
        (4, "Hooli", "SMB", "EMEA", "smb", "Pete", "paid", D("2025-04-01"), D("2026-04-01")),
        (5, "Umbrella", "Mid-Market", "APAC", "mid-market", "Pete", "paid", D("2022-01-01"),
         D("2026-06-01")),
        (7, "Stark", "Mid-Market", "NA", "mid-market", "Olga", "paid", D("2024-12-31"),
         D("2026-01-10")),
        (8, "Dunder", "SMB", "NA", "smb", "Pete", "churned", D("2023-01-01"), D("2024-06-30")),
        (6, "Vandelay", "SMB", "NA", "smb", "Pete", "trial", D("2025-11-01"), None),
        (9, "Soylent", "SMB", "APAC", "smb", None, "trial", D("2025-12-20"), None),
    ],
    columns=["account_id", "name", "segment", "region", "tier", "csm", "lifecycle",
             "contract_start", "renewal_date"],
)


LEDGER = pd.DataFrame(
    [
        (1, D("2024-01-01"), 100_000.0), (1, D("2025-06-01"), 130_000.0),
        (1, D("2026-01-01"), 200_000.0),  # after the period: ignored
        (2, D("2023-05-01"), 50_000.0), (2, D("2025-03-01"), 40_000.0),
        (3, D("2024-02-01"), 20_000.0), (3, D("2025-09-15"), 0.0),
        (4, D("2025-04-01"), 15_000.0),
        (5, D("2022-01-01"), 30_000.0),
        (7, D("2024-12-31"), 10_000.0), (7, D("2025-01-01"), 12_000.0),
        (8, D("2023-01-01"), 5_000.0), (8, D("2024-06-30"), 0.0),
    ],
    columns=["account_id", "effective_on", "arr"],
)


SNAPSHOTS = pd.DataFrame(
    [
        # id, as_of, health tier, renewal risk
        (1, D("2024-12-20"), "healthy", "low"), (1, D("2025-12-30"), "healthy", "low"),
        (2, D("2024-12-20"), "fine", "medium"), (2, D("2025-03-01"), "at_risk", "high"),
        (2, D("2025-04-15"), "fine", "medium"), (2, D("2025-12-28"), "at_risk", "high"),
        (3, D("2024-12-20"), "at_risk", "high"), (3, D("2025-09-01"), "at_risk", "high"),
        (4, D("2025-12-30"), "fine", "medium"),
        (5, D("2024-11-01"), "fine", "low"), (5, D("2025-06-01"), "fine", "low"),
        (5, D("2025-08-01"), "healthy", "low"), (5, D("2025-12-31"), "at_risk", "medium"),
    ],
    columns=["account_id", "as_of", "tier", "renewal_risk"],
)


def frame_of(rows: list[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def acknowledged_alerts() -> pd.DataFrame:
    return frame_of(
        [
            (1, 2, D("2025-03-10")),  # B at risk (2025-03-01), fine on 2025-04-15: improved
            (2, 5, D("2025-05-01")),  # E fine; healthy only on 2025-08-01, 92 days on: not
            (3, 1, D("2025-02-01")),  # A healthy: not eligible
            (4, 2, D("2025-12-01")),  # B fine; window ends 2026-01-30, after the period
            (5, 3, D("2024-12-01")),  # acknowledged before the period: left out
            (6, 4, D("2025-07-01")),  # D has no snapshot before: unscored, not eligible
        ],
        ["alert_id", "account_id", "acknowledged_on"],
    )


PROBABILITIES = {"Discovery": 0.1, "Proposal": 0.4, "Negotiation": 0.7, "Committed": 0.9}


def opportunities() -> pd.DataFrame:
    return frame_of(
        [
            (1, "expansion", "Proposal", 50_000.0, D("2026-02-01"), False),  # 0.4 -> 20,000
            (4, "expansion", " discovery ", 10_000.0, D("2026-03-01"), False),  # 0.1 -> 1,000
            (7, "expansion", "Pilot", 8_000.0, D("2026-01-15"), False),  # unknown 0.1 -> 800
            (5, "expansion", "Negotiation", 30_000.0, D("2025-12-01"), True),  # closed
            (2, "expansion", "Committed", None, D("2026-01-31"), False),  # no amount: 0
            (2, "renewal", "Negotiation", 40_000.0, D("2026-02-15"), False),
            (1, "renewal", "Negotiation", 130_000.0, D("2026-03-31"), True),  # closed
            (5, "renewal", "Proposal", 30_000.0, D("2026-06-01"), False),  # after the window
        ],
        ["account_id", "kind", "stage", "amount", "close_date", "is_closed"],
    )


COMPUTED = datetime(2026, 1, 1, 6, 0)


# account name -> days with core-feature use (``reports``) in the 30 days to 2025-12-31
CORE_DAYS = {"Acme": 10, "Globex": 4, "Initech": 8, "Hooli": 3, "Stark": 5}


def _name(account_id: int) -> str:
    return str(ACCOUNTS.set_index("account_id").loc[account_id, "name"])


def _usage(name: str, feature: str, day: date) -> dict[str, Any]:
    return {"account_external_id": name, "user_external_id": f"{name}-u1", "feature": feature,
            "day": day, "events": 3, "minutes": 2.0}


def load_metrics_fixture(session: Session) -> dict[str, int]:
    """The test_metrics fixture in storage; returns account ids by name. Commits."""
    load_batch(session, "files", Batch("owners", [
        {"external_id": "olga", "name": "Olga"}, {"external_id": "pete", "name": "Pete"}]))
    accounts = [
        {"external_id": a.name, "name": a.name, "segment": a.segment, "region": a.region,
         "tier": a.tier, "owner_external_id": a.csm.lower() if isinstance(a.csm, str) else None,
         "lifecycle": a.lifecycle,
         "contract_start": a.contract_start, "renewal_date": a.renewal_date}
        for a in ACCOUNTS.itertuples()
    ]
    load_batch(session, "files", Batch("accounts", accounts))
    history = LEDGER.assign(account_external_id=LEDGER["account_id"].map(_name))
    result = load_batch(session, "files", Batch("arr_history", history.drop(columns="account_id")))
    assert result.inserted == len(LEDGER) and not result.skipped
    load_batch(session, "files", Batch("contacts", [
        {"external_id": f"{a.name}-u1", "account_external_id": a.name,
         "email": f"u1@{a.name.lower()}.example"} for a in ACCOUNTS.itertuples()]))
    usage = [_usage(name, "reports", END_DAY - timedelta(days=k))
             for name, n in CORE_DAYS.items() for k in range(n)]
    usage += [
        _usage("Acme", "reports", D("2025-12-01")),  # a day before the adoption window
        _usage("Globex", "login", D("2025-12-20")),  # not a core feature
        _usage("Hooli", "reports", D("2025-03-20")),  # before its contract start
        _usage("Hooli", "dashboards", D("2025-04-11")),  # its first core use: 10 days in
        _usage("Vandelay", "login", D("2025-11-02")),
        _usage("Vandelay", "api", D("2025-11-05")),  # 4 days in
        _usage("Umbrella", "login", D("2024-12-01")),  # the first stored usage day
    ]
    load_batch(session, "files", Batch("usage", pd.DataFrame(usage)))
    opps = opportunities().assign(account_external_id=lambda f: f["account_id"].map(_name))
    load_batch(session, "files", Batch("opportunities", [
        {"external_id": f"opp-{i}", **{k: v for k, v in row.items() if k != "account_id"}}
        for i, row in enumerate(opps.to_dict("records"))
    ]))
    ids = {a.name: a.id for a in session.scalars(select(Account))}
    for snap in SNAPSHOTS.itertuples():
        add_snapshot(session, ids[_name(snap.account_id)], snap.as_of, 70.0,
                     computed_at=COMPUTED, tier=snap.tier, renewal_risk=snap.renewal_risk)
    for alert in acknowledged_alerts().itertuples():
        acked = datetime.combine(alert.acknowledged_on, time(15, 30))
        session.add(Alert(account_id=ids[_name(alert.account_id)], rule=f"rule_{alert.alert_id}",
                          severity="warning", status="acknowledged", message="dropped",
                          opened_at=acked - timedelta(days=1), acknowledged_by="UOLGA",
                          acknowledged_at=acked))
    session.commit()
    return ids


END_DAY = PERIOD.end
