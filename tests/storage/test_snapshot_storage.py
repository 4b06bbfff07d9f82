"""Score snapshots on disk: packed lists read back exactly, migrations 0019 and 0023
convert every row both ways, and thinning keeps daily, weekly and monthly snapshots as
configured.
Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from factories import add_snapshot
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from scoring.engine import persist_snapshots, score_accounts
from storage.db import get_engine, session_factory
from storage.loader import load_batch
from storage.migrate import alembic_config, upgrade
from storage.models import Account, ScoreSnapshot
from storage.snapshot_thinning import thin_snapshots

TODAY = date(2026, 12, 6)  # a Sunday
NOW = datetime(2026, 12, 6, 6, 0)


def _accounts(session: Session, n: int) -> list[int]:
    records = [
        {"external_id": f"a{i}", "name": f"Account {i}", "lifecycle": "paid", "arr": 1000.0 * i,
         "licensed_seats": 10, "contract_start": TODAY - timedelta(days=400),
         "renewal_date": TODAY + timedelta(days=30 * i)}
        for i in range(1, n + 1)
    ]
    load_batch(session, "t", Batch("accounts", records))
    session.flush()
    return list(session.scalars(select(Account.id).order_by(Account.id)))


def test_snapshot_lists_read_back_exactly_and_small(session: Session) -> None:
    ids = _accounts(session, 3)
    invoice = {"external_id": "i1", "account_external_id": "a1", "amount": 900.0,
               "status": "open", "issued_on": TODAY - timedelta(days=70),
               "due_on": TODAY - timedelta(days=40)}
    load_batch(session, "t", Batch("invoices", [invoice]))
    scored = score_accounts(session, PulseConfig(), TODAY)
    assert persist_snapshots(session, scored, TODAY, NOW) == 3
    session.commit()
    rows = session.execute(
        select(ScoreSnapshot.account_id, ScoreSnapshot.components, ScoreSnapshot.flags,
               ScoreSnapshot.reasons)
    ).all()
    written = scored.set_index("account_id")
    for account_id, components, flags, reasons in rows:
        assert components == written.at[account_id, "components"]
        assert flags == written.at[account_id, "flags"]
        assert reasons == written.at[account_id, "reasons"]
    assert any(f["code"] == "invoice_overdue" for _, _, flags, _ in rows for f in flags)
    stored = session.execute(text(
        "SELECT account_id, length(components) + length(flags) FROM score_snapshots")).all()
    for account_id, size in stored:
        as_json = sum(len(json.dumps(written.at[account_id, c])) for c in
                      ("components", "flags", "reasons"))
        assert size * 4 < as_json  # at least four times smaller than the JSON
    assert {r[0] for r in rows} == set(ids)


OLD_ROW = (
    "INSERT INTO score_snapshots (account_id, as_of, computed_at, score, tier, components, "
    "expansion_score, renewal_risk, renewal_risk_score, flags, reasons) VALUES "
    "(1, :as_of, '2026-11-01 06:00:00', 61.5, 'fine', :components, 12.0, 'low', 10.0, "
    ":flags, :reasons)"
)
COMPONENTS: list[Any] = [
    {"key": "seats", "label": "Seats", "weight": 20.0, "effective_weight": 0.2353,
     "value": 0.5, "points": 11.8, "has_data": True,
     "raw": {"active_users": 4, "licensed_seats": 8, "ratio": 0.5, "peer_pct": None},
     "detail": "4 of 8 seats active (50%)"},
]
FLAGS: list[Any] = [{"code": "invoice_overdue", "label": "Invoice overdue", "severity":
                     "critical", "action": "Call them.", "detail": "1 invoice 40 days late"}]
REASONS = ["Seats: 4 of 8 seats active (50%)"]


def _explanations(url: str) -> list[tuple[Any, ...]]:
    with session_factory(url)() as session:
        rows = session.execute(
            select(ScoreSnapshot.as_of, ScoreSnapshot.score, ScoreSnapshot.components,
                   ScoreSnapshot.flags, ScoreSnapshot.reasons).order_by(ScoreSnapshot.as_of)
        ).all()
    return [tuple(r) for r in rows]


def test_0019_converts_json_snapshots_and_back(empty_db_url: str) -> None:
    from alembic import command

    upgrade(empty_db_url, "0017")
    engine = get_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO accounts (id, source, external_id, name, lifecycle, do_not_contact, "
            "custom) VALUES (1, 'files', 'A1', 'Acme', 'paid', false, '{}')"))
        for day, flags in ((date(2026, 11, 1), FLAGS), (date(2026, 11, 2), [])):
            conn.execute(text(OLD_ROW), {"as_of": day, "components": json.dumps(COMPONENTS),
                                         "flags": json.dumps(flags),
                                         "reasons": json.dumps(REASONS)})
    upgrade(empty_db_url)
    expected = [(date(2026, 11, 1), 61.5, COMPONENTS, FLAGS, REASONS),
                (date(2026, 11, 2), 61.5, COMPONENTS, [], REASONS)]
    assert _explanations(empty_db_url) == expected
    engine.dispose()
    command.downgrade(alembic_config(empty_db_url), "0017")
    with get_engine(empty_db_url).connect() as conn:
        rows = conn.execute(text(
            "SELECT flags, components FROM score_snapshots ORDER BY as_of")).all()
    as_lists = [[v if isinstance(v, list) else json.loads(v) for v in r] for r in rows]
    assert as_lists == [[FLAGS, COMPONENTS], [[], COMPONENTS]]


ROW_0022 = (
    "INSERT INTO score_snapshots (account_id, as_of, computed_at, score, tier, components, "
    "expansion_score, renewal_risk, renewal_risk_score, flags, reasons, components_ref) "
    "VALUES (1, :as_of, '2026-11-01 06:00:00', 61.5, 'fine', :components, 12.0, 'low', "
    "10.0, :flags, :reasons, :ref)"
)


def test_0023_packs_components_and_reasons_together_keeping_the_deltas(
    empty_db_url: str,
) -> None:
    """0022's rows (a keyframe and a delta of the components against it, reasons and flags
    apart) read the same after 0023 and after its downgrade; the delta stays a delta."""
    from alembic import command
    from sqlalchemy import LargeBinary, bindparam

    from storage.snapshot_codec import pack, pack_against, reference_text, unpack

    first, second = date(2026, 11, 1), date(2026, 11, 2)
    moved = [{**COMPONENTS[0], "value": 0.625, "points": 14.7}]
    upgrade(empty_db_url, "0022")
    engine = get_engine(empty_db_url)
    insert = text(ROW_0022).bindparams(
        *(bindparam(c, type_=LargeBinary) for c in ("components", "flags", "reasons")))
    keyframe = pack(COMPONENTS)
    assert keyframe is not None
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO accounts (id, source, external_id, name, lifecycle, do_not_contact, "
            "custom) VALUES (1, 'files', 'A1', 'Acme', 'paid', false, '{}')"))
        conn.execute(insert, {"as_of": first, "components": keyframe, "flags": pack(FLAGS),
                              "reasons": pack(REASONS), "ref": None})
        conn.execute(insert, {"as_of": second, "ref": first, "flags": None, "reasons": None,
                              "components": pack_against(moved, reference_text(keyframe))})
    engine.dispose()
    upgrade(empty_db_url)
    expected = [(first, 61.5, COMPONENTS, FLAGS, REASONS), (second, 61.5, moved, [], [])]
    assert _explanations(empty_db_url) == expected
    with get_engine(empty_db_url).connect() as conn:
        refs = conn.execute(text(
            "SELECT components_ref, flags FROM score_snapshots ORDER BY as_of")).all()
    assert [(r[0] and str(r[0]), bytes(r[1])) for r in refs] == [
        (None, pack(FLAGS)), (str(first), b"")]
    get_engine(empty_db_url).dispose()
    command.downgrade(alembic_config(empty_db_url), "0022")
    with get_engine(empty_db_url).connect() as conn:
        rows = conn.execute(text(
            "SELECT d.components, k.components, d.flags, d.reasons FROM score_snapshots d "
            "LEFT JOIN score_snapshots k ON k.account_id = d.account_id "
            "AND k.as_of = d.components_ref ORDER BY d.as_of")).all()
    assert [[unpack(bytes(c) + bytes(k or b"")), unpack(f), unpack(r)]
            for c, k, f, r in rows] == [[COMPONENTS, FLAGS, REASONS], [moved, [], []]]


def test_thinning_keeps_daily_then_weekly_then_monthly(session: Session) -> None:
    ids = _accounts(session, 2)
    steady, stopped = ids
    stopped_on = TODAY - timedelta(days=200)  # a Wednesday: its week goes on without it
    days = [TODAY - timedelta(days=back) for back in range(800)]
    for day in days:
        for account_id in ids:
            if account_id == stopped and day > stopped_on:
                continue
            add_snapshot(session, account_id, day, 60.0, computed_at=NOW, flush=False)
    session.flush()
    retention = PulseConfig().retention
    thinned = thin_snapshots(session, TODAY, retention.snapshot_daily_days,
                             retention.snapshot_weekly_days)
    session.commit()

    def kept(account_id: int) -> list[date]:
        stmt = select(ScoreSnapshot.as_of).where(ScoreSnapshot.account_id == account_id)
        return sorted(session.scalars(stmt))

    weekly_from, monthly_from = TODAY - timedelta(days=90), TODAY - timedelta(days=730)
    dates = kept(steady)
    assert [d for d in dates if d >= weekly_from] == sorted(d for d in days if d >= weekly_from)
    weekly = [d for d in dates if monthly_from <= d < weekly_from]
    assert all(d.weekday() == 6 for d in weekly)  # each week's Sunday
    assert [b - a for a, b in zip(weekly, weekly[1:], strict=False)] == [timedelta(7)] * (
        len(weekly) - 1)
    monthly = [d for d in dates if d < monthly_from]
    assert len({(d.year, d.month) for d in monthly}) == len(monthly)  # one a month
    assert stopped_on in kept(stopped)  # its last snapshot stays
    total = session.scalar(select(func.count()).select_from(ScoreSnapshot))
    assert thinned.removed == 800 + 600 - total
    again = thin_snapshots(session, TODAY, retention.snapshot_daily_days,
                           retention.snapshot_weekly_days)
    assert again.removed == 0


def test_packed_lists_take_numpy_numbers_and_read_back_as_python_ones() -> None:
    from storage.snapshot_codec import pack, pack_against, reference_text, unpack

    value = [{"points": np.float64(11.8), "users": np.int64(4), "label": "Sièges"}]
    assert unpack(pack(value)) == [{"points": 11.8, "users": 4, "label": "Sièges"}]
    keyframe = pack(COMPONENTS)
    assert keyframe is not None
    delta = pack_against(value, reference_text(keyframe))
    assert delta is not None
    assert unpack(delta + keyframe) == [{"points": 11.8, "users": 4, "label": "Sièges"}]


def test_a_delta_read_without_its_keyframe_fails_rather_than_reading_empty() -> None:
    import pytest

    from storage.snapshot_codec import pack, pack_against, reference_text, unpack

    keyframe = pack(COMPONENTS)
    assert keyframe is not None
    with pytest.raises(ValueError, match="without its reference"):
        unpack(pack_against(REASONS, reference_text(keyframe)))


def test_snapshots_pack_and_read_in_many_threads_at_once() -> None:
    """`pulse serve` packs and reads snapshots from several threads at once (scheduler,
    live worker, requests); one shared zstd compressor crashed the interpreter there."""
    from concurrent.futures import ThreadPoolExecutor

    from storage.snapshot_codec import pack, unpack

    def round_trip(i: int) -> bool:
        value = [{**COMPONENTS[0], "points": float(i)}, *FLAGS]
        return all(unpack(pack(value)) == value for _ in range(300))

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(round_trip, range(16)))


def test_each_read_of_an_explanation_gets_lists_of_its_own(session: Session) -> None:
    """A row's components and reasons are decoded once (they are packed together); a
    second read of the same row still gets its own lists, so a caller changing what it
    read changes nothing for the next reader."""
    ids = _accounts(session, 2)
    for account_id in ids:  # the same explanation, byte for byte, on both rows
        session.add(ScoreSnapshot(
            account_id=account_id, as_of=TODAY, computed_at=NOW, score=70.0, tier="fine",
            components=COMPONENTS, reasons=REASONS, flags=[], expansion_score=12.0,
            renewal_risk="low", renewal_risk_score=10.0))
    session.commit()
    session.expunge_all()
    stmt = select(ScoreSnapshot.components, ScoreSnapshot.reasons).order_by(
        ScoreSnapshot.account_id)
    first = session.execute(stmt).all()
    assert [tuple(r) for r in first] == [(COMPONENTS, REASONS)] * 2
    first[0].components[0]["points"] = 0.0
    first[0].reasons.append("changed by a caller")
    assert first[1].components == COMPONENTS and first[1].reasons == REASONS
    again = session.execute(stmt).all()
    assert [tuple(r) for r in again] == [(COMPONENTS, REASONS)] * 2
