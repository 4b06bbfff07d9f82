"""Snapshot components stored as deltas against a keyframe of the same account: every
reader gets exactly the lists written, and whatever deletes or rewrites a keyframe (a
re-run of its date, live rescoring, thinning, an ORM edit, migration 0022's downgrade)
leaves every remaining snapshot readable. Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, aliased

from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from scoring.engine import (
    latest_snapshots,
    persist_snapshots,
    persist_snapshots_for,
    score_accounts,
)
from scoring.explain import render_breakdown
from storage.db import get_engine
from storage.loader import load_batch
from storage.migrate import alembic_config, upgrade
from storage.models import Account, ScoreSnapshot
from storage.models.snapshots import KEYFRAME_DAYS
from storage.snapshot_codec import unpack
from storage.snapshot_thinning import thin_snapshots

START = date(2026, 6, 1)
NOW = datetime(2026, 12, 6, 6, 0)

Written = dict[tuple[int, date], list[Any]]


def _accounts(session: Session, n: int) -> list[int]:
    records = [
        {
            "external_id": f"a{i}",
            "name": f"Account {i}",
            "lifecycle": "paid",
            "arr": 1000.0 * i,
            "licensed_seats": 10,
            "contract_start": START - timedelta(days=400),
            "renewal_date": START + timedelta(days=300 + 30 * i),
        }
        for i in range(1, n + 1)
    ]
    load_batch(session, "t", Batch("accounts", records))
    session.flush()
    return list(session.scalars(select(Account.id).order_by(Account.id)))


def _day_frame(base: pd.DataFrame, k: int) -> pd.DataFrame:
    """``base`` with day ``k``'s figures: one moved, one sentence changed on odd days."""
    frame = base.copy()
    lists = []
    for components in frame["components"]:
        moved = copy.deepcopy(components)
        moved[0]["points"] = round(moved[0]["points"] + k / 10, 1)
        if k % 2:
            moved[0]["detail"] = f"{moved[0]['detail']} (day {k})"
        lists.append(moved)
    frame["components"] = lists
    frame["score"] = frame["score"] + k / 10
    return frame


def _write_days(session: Session, days: int, start: date = START) -> Written:
    """Score once, then write ``days`` consecutive days of varied frames."""
    base = score_accounts(session, PulseConfig(), start)
    written: Written = {}
    for k in range(days):
        day = start + timedelta(days=k)
        frame = _day_frame(base, k)
        persist_snapshots(session, frame, day, NOW)
        for account_id, components in zip(frame["account_id"], frame["components"], strict=True):
            written[(int(account_id), day)] = components
    session.commit()
    return written


def _stored(session: Session) -> dict[tuple[int, date], list[Any]]:
    rows = session.execute(
        select(ScoreSnapshot.account_id, ScoreSnapshot.as_of, ScoreSnapshot.components)
    )
    return {(int(a), d): c for a, d, c in rows}


def _refs(session: Session, since: date) -> dict[tuple[int, date], date | None]:
    rows = session.execute(
        select(ScoreSnapshot.account_id, ScoreSnapshot.as_of, ScoreSnapshot.components_ref).where(
            ScoreSnapshot.as_of >= since
        )
    )
    return {(int(a), d): ref for a, d, ref in rows}


def test_deltas_read_back_exactly_through_every_kind_of_reader(session: Session) -> None:
    ids = _accounts(session, 3)
    written = _write_days(session, KEYFRAME_DAYS + 2)
    refs = dict(
        session.execute(
            select(ScoreSnapshot.as_of, ScoreSnapshot.components_ref).where(
                ScoreSnapshot.account_id == ids[0]
            )
        ).all()
    )
    keyframe_days = sorted(d for d, ref in refs.items() if ref is None)
    assert keyframe_days == [START, START + timedelta(days=KEYFRAME_DAYS)]
    assert all(ref in keyframe_days for ref in refs.values() if ref is not None)
    assert _stored(session) == written

    sizes = dict(
        session.execute(
            text("SELECT as_of, length(components) FROM score_snapshots WHERE account_id = :a"),
            {"a": ids[0]},
        ).all()
    )
    keyframe_size = sizes[START] if START in sizes else sizes[START.isoformat()]
    deltas = [
        size
        for day, size in sizes.items()
        if str(day) != START.isoformat()
        and str(day) != (START + timedelta(days=KEYFRAME_DAYS)).isoformat()
    ]
    assert max(deltas) * 2 < keyframe_size  # a delta is under half a keyframe

    entity = session.scalars(select(ScoreSnapshot)).all()
    assert {(s.account_id, s.as_of): s.components for s in entity} == written
    ranked = select(
        ScoreSnapshot.account_id,
        ScoreSnapshot.as_of,
        ScoreSnapshot.components,
        func.row_number()
        .over(partition_by=ScoreSnapshot.account_id, order_by=ScoreSnapshot.as_of.desc())
        .label("n"),
    ).subquery("ranked")
    rows = session.execute(select(ranked).where(ranked.c.n <= 3)).all()
    assert {(r.account_id, r.as_of): r.components for r in rows} == {
        k: v for k, v in written.items() if k[1] >= START + timedelta(days=KEYFRAME_DAYS - 1)
    }
    prev = aliased(ScoreSnapshot, name="prev")
    joined = session.execute(
        select(ScoreSnapshot.account_id, ScoreSnapshot.as_of, prev.components)
        .join(prev, prev.account_id == ScoreSnapshot.account_id)
        .where(
            ScoreSnapshot.as_of == START + timedelta(days=3),
            prev.as_of == START + timedelta(days=2),
        )
    ).all()
    assert {a: c for a, _, c in joined} == {a: written[(a, START + timedelta(days=2))] for a in ids}
    last = START + timedelta(days=KEYFRAME_DAYS - 1)
    frame = latest_snapshots(session, last)
    assert {int(a): c for a, c in zip(frame["account_id"], frame["components"], strict=True)} == {
        a: written[(a, last)] for a in ids
    }


def test_rerunning_a_keyframe_day_keeps_its_dependents_readable(session: Session) -> None:
    _accounts(session, 3)
    written = _write_days(session, 5)
    base = score_accounts(session, PulseConfig(), START)
    rerun = _day_frame(base, 40)
    persist_snapshots(session, rerun, START, NOW)
    session.commit()
    for account_id, components in zip(rerun["account_id"], rerun["components"], strict=True):
        written[(int(account_id), START)] = components
    assert _stored(session) == written


def test_live_rescoring_dropping_a_keyframe_keeps_the_account_readable(
    session: Session,
) -> None:
    ids = _accounts(session, 3)
    written = _write_days(session, 5)
    churned = ids[1]
    base = score_accounts(session, PulseConfig(), START)
    frame = _day_frame(base, 0)
    frame.loc[frame["account_id"] == churned, "score"] = float("nan")
    assert persist_snapshots_for(session, frame, START, NOW, [churned]) == 0
    session.commit()
    del written[(churned, START)]
    assert _stored(session) == written


def test_thinning_keeps_every_kept_snapshot_readable_and_explained_the_same(
    session: Session,
) -> None:
    _accounts(session, 2)
    written = _write_days(session, 60)
    before = {
        (s.account_id, s.as_of): render_breakdown(s) for s in session.scalars(select(ScoreSnapshot))
    }
    refs_before = _refs(session, START + timedelta(days=47))
    thinned = thin_snapshots(session, START + timedelta(days=59), daily_days=12, weekly_days=30)
    session.commit()
    assert thinned.removed > 0
    kept = _stored(session)
    assert kept == {k: v for k, v in written.items() if k in kept}
    assert len(kept) < len(written)
    # the keyframe of day 42 has deltas on days 47 and 48, still daily: it stays, and they
    # stay deltas rather than each be packed alone
    assert _refs(session, thinned.weekly_before) == refs_before
    for snap in session.scalars(select(ScoreSnapshot)):
        assert render_breakdown(snap) == before[(snap.account_id, snap.as_of)]


def test_editing_a_keyframe_through_the_orm_keeps_its_dependents_readable(
    session: Session,
) -> None:
    ids = _accounts(session, 1)
    written = _write_days(session, 3)
    keyframe = session.get(ScoreSnapshot, (ids[0], START))
    assert keyframe is not None
    keyframe.components = [{"key": "seats", "points": 1.0}]
    session.commit()
    written[(ids[0], START)] = [{"key": "seats", "points": 1.0}]
    session.expire_all()
    assert _stored(session) == written


def test_0022_downgrade_packs_every_delta_alone(empty_db_url: str) -> None:
    from alembic import command

    from storage.db import session_factory

    upgrade(empty_db_url)
    with session_factory(empty_db_url)() as session:
        _accounts(session, 2)
        written = _write_days(session, 4)
    get_engine(empty_db_url).dispose()
    command.downgrade(alembic_config(empty_db_url), "0021")
    with get_engine(empty_db_url).connect() as conn:
        rows = conn.execute(text("SELECT account_id, as_of, components FROM score_snapshots")).all()
    as_date = [(a, d if isinstance(d, date) else date.fromisoformat(d), c) for a, d, c in rows]
    assert {(a, d): unpack(c) for a, d, c in as_date} == written
    get_engine(empty_db_url).dispose()
    upgrade(empty_db_url)
    with session_factory(empty_db_url)() as session:
        assert _stored(session) == written
