"""The ARR ledger: loaded from a source's ``arr_history`` and kept current by the catch-up
at the end of every sync (``storage.arr_ledger.record_arr_ledger``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.kernel.records import Batch
from storage.arr_ledger import change_reason, current_arr, record_arr_ledger
from storage.loader import load_batch
from storage.models import Account, ArrChange

TODAY = date(2026, 3, 8)
NOW = datetime(2026, 3, 8, 6, 0)


def account(ext: str, arr: float | None, **kw: Any) -> dict[str, Any]:
    return {"external_id": ext, "name": f"Account {ext}", "arr": arr, **kw}


def ledger(session: Session) -> dict[str, list[tuple[date, float, str | None, str]]]:
    rows = session.execute(
        select(Account.external_id, ArrChange.effective_on, ArrChange.arr, ArrChange.reason,
               ArrChange.source)
        .join(Account, Account.id == ArrChange.account_id)
        .order_by(Account.external_id, ArrChange.effective_on)
    ).all()
    out: dict[str, list[tuple[date, float, str | None, str]]] = {}
    for ext, day, arr, reason, source in rows:
        out.setdefault(ext, []).append((day, arr, reason, source))
    return out


def set_account(session: Session, ext: str, **values: Any) -> None:
    session.execute(update(Account).where(Account.external_id == ext).values(**values))


def test_change_labels_and_current_arr() -> None:
    assert [change_reason(None, 10), change_reason(10, 12), change_reason(12, 8),
            change_reason(8, 0), change_reason(0, 5), change_reason(5, 5)] == [
        "new", "expansion", "contraction", "churn", "reactivation", "observed"]
    assert current_arr("paid", 1200.0) == 1200.0
    assert current_arr("churned", 1200.0) == current_arr("trial", 300.0) == 0.0
    assert current_arr("paid", None) == 0.0


def test_catch_up_starts_the_history_then_records_each_change_once(session: Session) -> None:
    load_batch(session, "files", Batch("accounts", [
        account("A", 50_000.0, contract_start=date(2024, 5, 1)),
        account("B", 8_000.0),  # no contract start: first seen today
        account("C", 20_000.0, contract_start=date(2024, 1, 1), lifecycle="churned",
                churned_on=date(2026, 1, 31)),  # churned before Pulse's first sync
        account("T", 3_000.0, contract_start=date(2026, 2, 20), lifecycle="trial"),
        account("F", 1_000.0, contract_start=date(2027, 1, 1)),  # starts next year
    ]))
    load_batch(session, "stripe", Batch("accounts", [account("cus_1", 99_000.0)]))

    first = record_arr_ledger(session, TODAY, NOW)
    assert (first.added, first.replaced, first.labelled) == (5, 0, 0)
    assert ledger(session) == {
        "A": [(date(2024, 5, 1), 50_000.0, "new", "pulse")],
        "B": [(TODAY, 8_000.0, "observed", "pulse")],
        "C": [(date(2024, 1, 1), 20_000.0, "new", "pulse"),
              (date(2026, 1, 31), 0.0, "churn", "pulse")],
        "F": [(date(2027, 1, 1), 1_000.0, "new", "pulse")],
    }  # no trial, no Stripe customer
    assert str(first) == "ARR ledger: 5 change(s) recorded"

    again = record_arr_ledger(session, TODAY, NOW)
    assert (again.added, again.replaced, again.labelled) == (0, 0, 0)
    assert str(again) == "ARR ledger: up to date (5 accounts)"

    # a week later: A churns (effective on its churn date), B expands, the trial converts
    later = date(2026, 3, 15)
    set_account(session, "A", lifecycle="churned", churned_on=date(2026, 3, 12))
    set_account(session, "B", arr=10_000.0)
    set_account(session, "T", lifecycle="paid")
    report = record_arr_ledger(session, later, NOW)
    assert report.added == 3
    got = ledger(session)
    assert got["A"][-1] == (date(2026, 3, 12), 0.0, "churn", "pulse")
    assert got["B"][-1] == (later, 10_000.0, "expansion", "pulse")
    assert got["T"] == [(date(2026, 2, 20), 3_000.0, "new", "pulse")]
    assert record_arr_ledger(session, later, NOW).added == 0

    # a second change the same day replaces that day's value (one value per day)
    set_account(session, "B", arr=9_000.0)
    same_day = record_arr_ledger(session, later, NOW)
    assert (same_day.added, same_day.replaced) == (0, 1)
    assert ledger(session)["B"] == [(TODAY, 8_000.0, "observed", "pulse"),
                                    (later, 9_000.0, "expansion", "pulse")]

    # a customer who comes back after churning
    set_account(session, "A", lifecycle="paid", churned_on=None, arr=40_000.0)
    record_arr_ledger(session, date(2026, 4, 1), NOW)
    assert ledger(session)["A"][-1] == (date(2026, 4, 1), 40_000.0, "reactivation", "pulse")


def test_history_loads_as_facts_and_is_labelled_from_its_sequence(session: Session) -> None:
    load_batch(session, "files", Batch("accounts", [
        account("A", 130_000.0, contract_start=date(2024, 1, 1)),
        account("C", 20_000.0, lifecycle="churned", churned_on=date(2025, 9, 15)),
    ]))
    history = pd.DataFrame({
        "account_external_id": ["A", "A", "C", "C", "X"],
        "effective_on": [date(2024, 1, 1), date(2025, 6, 1), date(2024, 2, 1),
                         date(2025, 9, 15), date(2025, 1, 1)],
        "arr": [100_000.0, 130_000.0, 20_000.0, 0.0, 5.0],
    })
    result = load_batch(session, "files", Batch("arr_history", history))
    assert (result.inserted, result.updated) == (4, 0)
    assert [r.reason for r in result.skipped] == ["unknown account 'X'"]
    assert all(reason is None for rows in ledger(session).values() for _, _, reason, _ in rows)

    report = record_arr_ledger(session, TODAY, NOW)
    assert (report.added, report.labelled) == (0, 4)  # the history ends at today's ARR
    assert ledger(session) == {
        "A": [(date(2024, 1, 1), 100_000.0, "new", "files"),
              (date(2025, 6, 1), 130_000.0, "expansion", "files")],
        "C": [(date(2024, 2, 1), 20_000.0, "new", "files"),
              (date(2025, 9, 15), 0.0, "churn", "files")],
    }
    assert record_arr_ledger(session, TODAY, NOW).labelled == 0

    # loading it again changes nothing; a corrected amount updates the row and its label
    same = load_batch(session, "files", Batch("arr_history", history.iloc[:4]))
    assert (same.inserted, same.updated, same.unchanged) == (0, 0, 4)
    fixed = history.iloc[:4].copy()
    fixed.loc[1, "arr"] = 90_000.0  # it was a downgrade
    assert load_batch(session, "files", Batch("arr_history", fixed)).updated == 1
    report = record_arr_ledger(session, TODAY, NOW)
    # A's current ARR (130k) now differs from its history's last value: recorded today
    assert (report.added, report.labelled) == (1, 1)
    assert [r[1:3] for r in ledger(session)["A"]] == [
        (100_000.0, "new"), (90_000.0, "contraction"), (130_000.0, "expansion")]
