"""Database-level scoring tests, run on SQLite and PostgreSQL (``db_url`` fixture).

They pin the SQL aggregation to exact figures on a small hand-built workspace, so both
backends must compute identical signals, and check the no-leakage rule, persistence and
the snapshot helpers.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from scoring.engine import (
    latest_snapshots,
    previous_snapshot,
    run_scoring,
    score_accounts,
)
from scoring.explain import explain_change, render_breakdown
from scoring.signals import load_signals
from storage.models import (
    Account,
    Contact,
    IntegrationDaily,
    Invoice,
    ScoreSnapshot,
    SurveyResponse,
    Ticket,
    UsageDaily,
)

AS_OF = date(2025, 6, 30)
CFG = PulseConfig()


def _day(n: int) -> date:
    """``n`` days before AS_OF."""
    return AS_OF - timedelta(days=n)


def _at(n: int, hour: int = 10) -> datetime:
    return datetime.combine(_day(n), datetime.min.time()) + timedelta(hours=hour)


def build_workspace(session: Session) -> dict[str, int]:
    """Four accounts with known figures; returns name -> account id."""
    accounts = {
        "core": Account(
            source="t",
            external_id="core",
            name="Core Co",
            licensed_seats=4,
            contract_start=date(2024, 1, 1),
            renewal_date=_day(-45),
            lifecycle="paid",
        ),
        "logins": Account(
            source="t",
            external_id="logins",
            name="Login Ltd",
            licensed_seats=4,
            contract_start=date(2024, 1, 1),
            renewal_date=_day(-200),
            lifecycle="paid",
        ),
        "churned": Account(
            source="t",
            external_id="churned",
            name="Gone Inc",
            licensed_seats=4,
            contract_start=date(2024, 1, 1),
            lifecycle="churned",
            churned_on=_day(10),
        ),
        "future": Account(
            source="t",
            external_id="future",
            name="Later Corp",
            licensed_seats=4,
            contract_start=_day(-5),
            lifecycle="trial",
        ),
    }
    session.add_all(accounts.values())
    session.flush()
    ids = {k: a.id for k, a in accounts.items()}
    people = {
        "ana": Contact(
            source="t",
            external_id="ana",
            account_id=ids["core"],
            name="Ana",
            role="owner",
            department="Ops",
            is_main_contact=True,
            created_on=date(2024, 1, 1),
        ),
        "bo": Contact(
            source="t",
            external_id="bo",
            account_id=ids["core"],
            name="Bo",
            role="power_user",
            department="Finance",
            created_on=date(2024, 1, 1),
            deactivated_at=_at(3),
        ),
        "cy": Contact(
            source="t",
            external_id="cy",
            account_id=ids["core"],
            name="Cy",
            role="member",
            department="Sales",
            created_on=date(2024, 1, 1),
        ),
        "lu": Contact(
            source="t",
            external_id="lu",
            account_id=ids["logins"],
            name="Lu",
            role="owner",
            department="Ops",
            is_main_contact=True,
            created_on=date(2024, 1, 1),
            last_seen_at=_at(-3),
        ),
    }
    session.add_all(people.values())
    session.flush()
    uid = {k: c.id for k, c in people.items()}

    def use(acc: str, user: str, feature: str, n: int, events: int) -> UsageDaily:
        return UsageDaily(
            source="t",
            account_id=ids[acc],
            user_id=uid[user],
            feature=feature,
            day=_day(n),
            events=events,
            minutes=1.0,
        )

    session.add_all(
        [
            # Core Co: 30 core actions over 3 days by Ana and Bo, a login by Cy long ago
            use("core", "ana", "reports", 1, 10),
            use("core", "ana", "dashboards", 2, 10),
            use("core", "bo", "reports", 5, 10),
            use("core", "ana", "reports", 40, 10),  # previous window
            use("core", "cy", "login", 45, 1),  # previous window only
            # Login Ltd: 100 logins over 10 days by Lu, last one 9 days ago
            *[use("logins", "lu", "login", 9 + k, 10) for k in range(10)],
            use("logins", "lu", "login", 35, 50),
            # After AS_OF: must be ignored
            use("logins", "lu", "reports", -1, 500),
        ]
    )
    session.add_all(
        [
            Ticket(
                source="t",
                external_id="t1",
                account_id=ids["core"],
                priority="urgent",
                status="solved",
                created_at=_at(20),
                solved_at=_at(-2),  # open on AS_OF
                sentiment="negative",
            ),
            Ticket(
                source="t",
                external_id="t2",
                account_id=ids["core"],
                priority="low",
                status="solved",
                created_at=_at(60),
                solved_at=_at(59),
                satisfaction="bad",
                sentiment="negative",
            ),
            Ticket(
                source="t",
                external_id="t3",
                account_id=ids["core"],
                priority="urgent",
                status="open",
                created_at=_at(-1),
                sentiment="negative",
            ),  # future
            SurveyResponse(
                source="t",
                external_id="n1",
                account_id=ids["core"],
                kind="nps",
                score=9,
                responded_at=_at(100),
            ),
            SurveyResponse(
                source="t",
                external_id="n2",
                account_id=ids["core"],
                kind="nps",
                score=4,
                responded_at=_at(30),
            ),
            SurveyResponse(
                source="t",
                external_id="n3",
                account_id=ids["core"],
                kind="nps",
                score=10,
                responded_at=_at(-1),
            ),  # future
            SurveyResponse(
                source="t",
                external_id="c1",
                account_id=ids["logins"],
                kind="csat",
                score=5,
                responded_at=_at(10),
            ),
            Invoice(
                source="t",
                external_id="i1",
                account_id=ids["logins"],
                amount=500.0,
                status="paid",
                issued_on=_day(70),
                due_on=_day(40),
                paid_on=_day(-3),
            ),
            Invoice(
                source="t",
                external_id="i2",
                account_id=ids["logins"],
                amount=100.0,
                status="open",
                issued_on=_day(20),
                due_on=_day(-10),
            ),  # not yet due
            Invoice(
                source="t",
                external_id="i3",
                account_id=ids["core"],
                amount=900.0,
                status="void",
                issued_on=_day(90),
                due_on=_day(60),
            ),
            IntegrationDaily(
                source="t",
                account_id=ids["core"],
                integration="crm-sync",
                day=_day(2),
                runs=10,
                failures=3,
            ),
            IntegrationDaily(
                source="t",
                account_id=ids["core"],
                integration="crm-sync",
                day=_day(40),
                runs=10,
                failures=10,
            ),  # outside the window
        ]
    )
    session.commit()
    return ids


def test_signals_are_exact_and_identical_on_every_backend(session: Session) -> None:
    ids = build_workspace(session)
    sig = load_signals(session, CFG.scoring, AS_OF)
    frame = sig.frame
    assert set(frame.index) == {ids["core"], ids["logins"]}  # churned and not-started out
    core = frame.loc[ids["core"]]
    logins = frame.loc[ids["logins"]]
    assert sig.meta.catalogue == ("dashboards", "login", "reports")
    assert core["active_users"] == 2 and core["user_days"] == 3
    assert core["weighted_events"] == pytest.approx(90.0)  # 30 core actions x 3
    assert core["weighted_events_prev"] == pytest.approx(30.2)  # 10 reports + 1 login
    assert core["core_events"] == 30
    assert core["features_used"] == 2 and core["core_features_used"] == 2
    assert core["weighted_features_used"] == pytest.approx(6.0)
    assert core["departments_active"] == 2 and core["departments_active_prev"] == 2
    assert core["stakeholders_active"] == 2
    assert core["main_last_day"] == pd_ts(_day(1))
    assert core["power_users_deactivated"] == 1 and core["power_users_active"] == 0
    assert core["power_user_deactivated_name"] == "Bo"
    assert core["open_urgent_high"] == 1  # solved after AS_OF: still open then
    assert core["tickets_90d"] == 2 and core["bad_satisfaction_90d"] == 1
    assert core["negative_sentiment_flag"] == 2
    assert core["nps_latest"] == 4 and core["nps_responses"] == 2
    assert core["overdue_invoices"] == 0  # the void one does not count
    assert core["integration_runs"] == 10 and core["integration_failures"] == 3
    assert logins["weighted_events"] == pytest.approx(20.0)  # 100 logins x 0.2
    assert logins["user_days"] == 10
    assert logins["main_last_day"] == pd_ts(_day(9))
    assert pd_isna(logins["main_last_seen_at"])  # seen after AS_OF: ignored
    assert logins["overdue_invoices"] == 1 and logins["overdue_amount"] == 500.0
    assert logins["oldest_overdue_due_on"] == pd_ts(_day(40))
    assert logins["csat_avg"] == 5.0


def pd_ts(d: date) -> object:
    import pandas as pd

    return pd.Timestamp(d)


def pd_isna(x: object) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def test_scores_flags_and_value_weighting(session: Session) -> None:
    ids = build_workspace(session)
    df = score_accounts(session, CFG, AS_OF).set_index("account_id")
    core, logins = df.loc[ids["core"]], df.loc[ids["logins"]]
    # 30 core actions by two users beat 100 logins by one: depth is value-weighted
    core_usage = next(c for c in core["components"] if c["key"] == "usage")["raw"]
    login_usage = next(c for c in logins["components"] if c["key"] == "usage")["raw"]
    assert core_usage["weighted_per_active_user_30d"] == 45
    assert login_usage["weighted_per_active_user_30d"] == 20
    assert core_usage["depth_score"] > login_usage["depth_score"]
    assert set(core["flag_codes"]) >= {
        "power_user_deactivated",
        "negative_sentiment",
        "integration_failing",
    }
    assert set(logins["flag_codes"]) >= {"main_contact_silent", "invoice_overdue"}
    silent = next(f for f in logins["flags"] if f["code"] == "main_contact_silent")
    assert silent["detail"] == "Lu has had no activity for 9 days"
    assert (
        "no NPS on file"
        in next(c for c in logins["components"] if c["key"] == "engagement")["detail"]
    )
    assert core["tier"] in {"healthy", "fine", "at_risk"}
    assert core["score"] == pytest.approx(sum(c["points"] for c in core["components"]))


def test_nothing_after_as_of_is_read(session: Session) -> None:
    build_workspace(session)
    before = score_accounts(session, CFG, AS_OF)
    acc = session.scalar(select(Account).where(Account.external_id == "core"))
    assert acc is not None
    user = session.scalar(select(Contact).where(Contact.external_id == "cy"))
    assert user is not None
    session.add_all(
        [
            UsageDaily(
                source="t",
                account_id=acc.id,
                user_id=user.id,
                feature="api",
                day=_day(-1),
                events=999,
            ),
            Ticket(
                source="t",
                external_id="late",
                account_id=acc.id,
                priority="urgent",
                status="open",
                created_at=_at(-1),
                sentiment="negative",
            ),
            Invoice(
                source="t",
                external_id="late",
                account_id=acc.id,
                amount=1.0,
                status="open",
                issued_on=_day(-1),
                due_on=_day(-1),
            ),
            IntegrationDaily(
                source="t", account_id=acc.id, integration="x", day=_day(-1), runs=100, failures=100
            ),
        ]
    )
    user.last_seen_at = _at(-2)
    session.commit()
    after = score_accounts(session, CFG, AS_OF)
    cols = ["account_id", "score", "tier", "components", "flags", "reasons", "expansion_score"]
    assert before[cols].to_dict("records") == after[cols].to_dict("records")


def test_run_scoring_persists_idempotently(session: Session) -> None:
    ids = build_workspace(session)
    first = run_scoring(session, CFG, AS_OF, computed_at=datetime(2025, 7, 1, 6, 0))
    session.commit()
    second = run_scoring(session, CFG, AS_OF, computed_at=datetime(2025, 7, 1, 7, 0))
    session.commit()
    assert first.accounts == second.accounts == 2
    assert sum(first.tiers.values()) == 2
    assert first.flags_raised == second.flags_raised > 0
    count = session.scalar(select(func.count()).select_from(ScoreSnapshot))
    assert count == 2
    snap = session.scalar(select(ScoreSnapshot).where(ScoreSnapshot.account_id == ids["core"]))
    assert snap is not None
    assert snap.computed_at == datetime(2025, 7, 1, 7, 0)
    assert snap.as_of == AS_OF
    assert isinstance(snap.components, list) and len(snap.components) == 6
    assert snap.score == pytest.approx(sum(c["points"] for c in snap.components))
    assert {f["code"] for f in snap.flags} >= {"power_user_deactivated"}
    assert all(isinstance(r, str) for r in snap.reasons)
    assert render_breakdown(snap)[0].startswith(f"Score {snap.score:.1f}")


def test_snapshot_helpers_and_explain_change(session: Session) -> None:
    ids = build_workspace(session)
    for n in (14, 7, 0):
        run_scoring(session, CFG, _day(n))
    session.commit()
    latest = latest_snapshots(session).set_index("account_id")
    # The churned account was last scored before it churned, and stays at that snapshot.
    assert latest["as_of"].to_dict() == {
        ids["core"]: AS_OF,
        ids["logins"]: AS_OF,
        ids["churned"]: _day(14),
    }
    week_ago = latest_snapshots(session, as_of=_day(3)).set_index("account_id")
    assert week_ago["as_of"].to_dict() == {
        ids["core"]: _day(7),
        ids["logins"]: _day(7),
        ids["churned"]: _day(14),
    }
    curr = session.scalar(
        select(ScoreSnapshot).where(
            ScoreSnapshot.account_id == ids["logins"], ScoreSnapshot.as_of == AS_OF
        )
    )
    prev = previous_snapshot(session, ids["logins"], AS_OF)
    assert curr is not None and prev is not None and prev.as_of == _day(7)
    assert previous_snapshot(session, ids["logins"], _day(14)) is None
    head = explain_change(prev, curr)[0]
    deltas = [float(x) for x in re.findall(r"\(([+-]\d+\.\d)\)", head)]
    assert round(sum(deltas), 1) == round(curr.score - prev.score, 1)


def test_empty_workspace(session: Session) -> None:
    summary = run_scoring(session, CFG, AS_OF)
    assert summary.accounts == 0 and summary.flags_raised == 0
    assert latest_snapshots(session).empty


def test_parallel_and_serial_loading_agree(session: Session) -> None:
    """Extra connections (used for big workspaces) must see and compute the same."""
    build_workspace(session)
    serial = load_signals(session, CFG.scoring, AS_OF, parallel=False).frame
    threaded = load_signals(session, CFG.scoring, AS_OF, parallel=True).frame
    assert serial.sort_index().equals(threaded.sort_index())


def test_a_catalogue_wider_than_one_bitmask_counts_features_the_same_on_every_backend(
    session: Session,
) -> None:
    """65 features need two 60-bit masks; a configured weight and a core feature in the
    second one still count (PostgreSQL reads them off a joined feature table, SQLite off
    CASE expressions)."""
    account = Account(source="t", external_id="wide", name="Wide Co", licensed_seats=2,
                      contract_start=date(2024, 1, 1), lifecycle="paid")
    session.add(account)
    session.flush()
    users = [Contact(source="t", external_id=f"u{n}", account_id=account.id, name=f"U{n}",
                     created_on=date(2024, 1, 1)) for n in (1, 2)]
    session.add_all(users)
    session.flush()
    names = [f"f{n:02d}" for n in range(65)]
    rows = [UsageDaily(source="t", account_id=account.id, user_id=users[0].id, day=_day(70),
                       feature="f00", events=1)]  # before both windows: not read at all
    rows += [UsageDaily(source="t", account_id=account.id, user_id=users[0].id, day=_day(40),
                        feature=f, events=1) for f in names]  # previous window only
    rows += [
        UsageDaily(source="t", account_id=account.id, user_id=users[1].id, day=_day(d),
                   feature=f, events=2)
        for d, f in ((1, "f00"), (2, "f61"), (2, "f64"), (3, "f64"))
    ]
    session.add_all(rows)
    session.commit()
    cfg = CFG.scoring.model_copy(update={"core_features": ["f64"],
                                         "feature_weights": {"f61": 5.0}})

    wide = load_signals(session, cfg, AS_OF).frame.loc[account.id]

    assert (wide["active_users"], wide["active_users_prev"], wide["user_days"]) == (1, 1, 3)
    assert wide["features_used"] == 3 and wide["core_features_used"] == 1
    assert wide["weighted_features_used"] == pytest.approx(1 + 5 + 3)
    assert wide["weighted_events"] == pytest.approx(2 + 2 * 5 + 2 * 3 + 2 * 3)
    assert wide["weighted_events_prev"] == pytest.approx(63 + 5 + 3)
    assert wide["core_events"] == 4
    assert wide["first_core_day"] == pd_ts(_day(40))
