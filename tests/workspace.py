"""A small hand-made workspace for the service tests.

Two teams: Enterprise (manager Maya; CSMs Olga and Rita, who has no Slack id) and SMB
(manager Nate; CSM Pete), plus Quinn, an account executive with one account.

Read-mostly tests share one scored workspace per module and backend
(:func:`workspace_fixtures`): building and scoring it is most of a test's time, and each
test runs inside a transaction that is rolled back, so tests cannot see each other's
changes. Services never commit, which is what makes this safe. A module using these
fixtures must not also use ``db_url`` (its PostgreSQL truncation would wipe the shared
workspace mid-module).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from factories import truncate_pg, watch_all
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from scoring.engine import run_scoring
from storage.db import get_engine, session_factory
from storage.loader import load_batch
from storage.models import Account, Owner, ScoreSnapshot

D1 = date(2026, 3, 1)


D2 = D1 + timedelta(days=7)


NOW1 = datetime(2026, 3, 1, 8, 0)


NOW2 = datetime(2026, 3, 8, 8, 0)


CFG = PulseConfig()


FEATURES = ("reports", "dashboards", "workflows", "integrations", "login", "search")


OWNERS: list[dict[str, Any]] = [
    {"external_id": "m1", "name": "Maya Manager", "email": "maya@vendor.com",
     "slack_user_id": "UMAYA", "team": "Enterprise", "is_manager": True},
    {"external_id": "o1", "name": "Olga CSM", "email": "Olga@Vendor.com",
     "slack_user_id": "UOLGA", "team": "Enterprise", "manager_external_id": "m1"},
    {"external_id": "o3", "name": "Rita CSM", "email": "rita@vendor.com",
     "team": "Enterprise", "manager_external_id": "m1"},
    {"external_id": "m2", "name": "Nate Manager", "email": "nate@vendor.com",
     "slack_user_id": "UNATE", "team": "SMB", "is_manager": True},
    {"external_id": "o2", "name": "Pete CSM", "email": "pete@vendor.com",
     "slack_user_id": "UPETE", "team": "SMB", "manager_external_id": "m2"},
    {"external_id": "o4", "name": "Quinn AE", "email": "quinn@vendor.com",
     "slack_user_id": "UQUINN"},
]  # fmt: skip


# external id, name, domain, owner, ARR, days to renewal from D1, usage level 0..1
ACCOUNTS: list[tuple[str, str, str, str, float, int | None, float]] = [
    ("a1", "Acme Corp", "acme.com", "o1", 50_000.0, 40, 1.0),
    ("a2", "Acme Labs", "acmelabs.io", "o2", 8_000.0, 200, 0.5),
    ("a3", "Globex", "globex.com", "o2", 20_000.0, 300, 1.0),
    ("a4", "Initech", "initech.com", "o1", 12_000.0, 30, 0.1),
    ("a5", "Hooli", "hooli.com", "m1", 30_000.0, 100, 1.0),
    ("a6", "Umbrella", "umbrella.com", "o4", 15_000.0, None, 1.0),
    ("a7", "Vandelay", "vandelay.com", "o3", 9_000.0, 150, 1.0),
]


def load_people(session: Session, *, watched: bool = True) -> dict[str, int]:
    """Owners and accounts only (no activity): for tests that write snapshots by hand.
    Alert evaluation has watched them for a while, unless ``watched`` is False (a new
    install: the first evaluation takes the baseline).

    Returns database ids by external id (``"o1"``, ``"a1"`` ...).
    """
    load_batch(session, "t", Batch("owners", OWNERS))
    records = [
        {
            "external_id": ext,
            "name": name,
            "domain": domain,
            "owner_external_id": owner,
            "arr": arr,
            "renewal_date": None if days is None else D1 + timedelta(days=days),
            "licensed_seats": 8,
            "contract_start": D1 - timedelta(days=400),
            "lifecycle": "paid",
            "segment": "enterprise" if arr >= 20_000 else "smb",
            "tier": "enterprise" if arr >= 20_000 else "smb",
            "salesforce_id": f"001{ext.upper()}",
            "hubspot_id": f"9{ext[1:]}",
        }
        for ext, name, domain, owner, arr, days, _ in ACCOUNTS
    ]
    load_batch(session, "t", Batch("accounts", records))
    session.flush()
    if watched:
        watch_all(session)  # a workspace Pulse has been watching: conditions raise alerts
    ids = {o.external_id: o.id for o in session.scalars(select(Owner))}
    ids.update({a.external_id: a.id for a in session.scalars(select(Account))})
    return ids


def load_workspace(session: Session) -> dict[str, int]:
    """People plus 60 days of usage and an invoice, scored as of D1 and D2.

    Acme Corp has an invoice 50 days overdue on D1, paid on D1 + 3, so the
    ``invoice_overdue`` flag is present on D1 and cleared on D2. Initech barely uses the
    product and renews within 30 days: at risk and needing attention.
    """
    ids = load_people(session)
    contacts: list[dict[str, Any]] = []
    usage: list[dict[str, Any]] = []
    for ext, name, domain, _, _, _, level in ACCOUNTS:
        active_users = max(1, round(8 * level))
        step = 1 if level >= 0.5 else 3
        first = 0 if level >= 0.5 else 25  # a low-usage account also went quiet lately
        for u in range(8):
            contacts.append(
                {
                    "external_id": f"{ext}u{u}",
                    "account_external_id": ext,
                    "email": f"u{u}@{domain}",
                    "name": f"User {u} of {name}",
                    "role": "owner" if u == 0 else ("power_user" if u == 1 else "member"),
                    "is_main_contact": u == 0,
                    "created_on": D1 - timedelta(days=390),
                }
            )
            if u >= active_users:
                continue
            for back in range(first, 60, step):
                day = D2 - timedelta(days=back)
                for feature in FEATURES[: 2 + (u % 5)]:
                    usage.append(
                        {
                            "account_external_id": ext,
                            "user_external_id": f"{ext}u{u}",
                            "feature": feature,
                            "day": day,
                            "events": 5,
                            "minutes": 10.0,
                        }
                    )
    load_batch(session, "t", Batch("contacts", contacts))
    load_batch(session, "t", Batch("usage", pd.DataFrame(usage)))
    invoice = {
        "external_id": "i1",
        "account_external_id": "a1",
        "amount": 1000.0,
        "status": "paid",
        "issued_on": D1 - timedelta(days=80),
        "due_on": D1 - timedelta(days=50),
        "paid_on": D1 + timedelta(days=3),
    }
    load_batch(session, "t", Batch("invoices", [invoice]))
    for day in (D1, D2):
        run_scoring(session, CFG, day, computed_at=datetime.combine(day, datetime.min.time()))
    session.commit()
    return ids


def flag(
    code: str, severity: str = "warning", detail: str = "something happened"
) -> dict[str, Any]:
    """A flag dict shaped like the ones scoring stores in snapshots."""
    return {
        "code": code,
        "label": code.replace("_", " ").capitalize(),
        "severity": severity,
        "action": f"Do something about {code}.",
        "detail": detail,
    }


def put_snapshot(
    session: Session,
    account_id: int,
    as_of: date,
    tier: str = "healthy",
    flags: Sequence[dict[str, Any]] = (),
    score: float | None = None,
) -> None:
    """A hand-made snapshot (replacing any of that account and day), for alert tests."""
    existing = session.scalars(
        select(ScoreSnapshot).where(
            ScoreSnapshot.account_id == account_id, ScoreSnapshot.as_of == as_of
        )
    ).first()
    if existing is not None:
        session.delete(existing)
        session.flush()
    default = {"healthy": 90.0, "fine": 65.0, "at_risk": 40.0}[tier]
    session.add(
        ScoreSnapshot(
            account_id=account_id,
            as_of=as_of,
            computed_at=datetime.combine(as_of, datetime.min.time()),
            score=default if score is None else score,
            tier=tier,
            components=[],
            expansion_score=0.0,
            renewal_risk="low",
            renewal_risk_score=0.0,
            flags=list(flags),
            reasons=[],
        )
    )
    session.flush()


@dataclass(frozen=True)
class Workspace:
    """A session inside a transaction rolled back after the test, and the ids by external id."""

    session: Session
    ids: dict[str, int]


def workspace_fixtures() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(workspace_db, ws)`` fixtures; assign both at module level of a test module.

    ``workspace_db`` (module scope, once per backend) builds and scores the workspace in a
    fresh database from conftest's migrated SQLite template or private PostgreSQL
    database; ``ws`` hands each test a :class:`Workspace` whose changes are rolled back.
    """

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def workspace_db(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[tuple[str, dict[str, int]]]:
        if request.param == "sqlite":
            template: Path = request.getfixturevalue("sqlite_template")
            path = tmp_path_factory.mktemp("workspace") / "pulse.db"
            shutil.copy(template, path)
            url = f"sqlite:///{path}"
        else:
            url = request.getfixturevalue("pg_database")
            truncate_pg(url)
        with session_factory(url)() as session:
            ids = load_workspace(session)
        yield url, ids
        if request.param == "postgresql":
            truncate_pg(url)
        get_engine(url).dispose()

    @pytest.fixture
    def ws(workspace_db: tuple[str, dict[str, int]]) -> Iterator[Workspace]:
        url, ids = workspace_db
        connection = get_engine(url).connect()
        transaction = connection.begin()
        session = Session(bind=connection, expire_on_commit=False)
        try:
            yield Workspace(session, ids)
        finally:
            session.close()
            transaction.rollback()
            connection.close()

    return workspace_db, ws
