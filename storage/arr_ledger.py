"""Keeping the ARR ledger (``arr_changes``) in step with each account's current ARR.

Sources give an account's ARR as it is now; retention metrics need it as it was. So at
the end of every sync :func:`record_arr_ledger` compares each account's current ARR with
its ledger and appends a change when they differ. That makes the ledger complete from
Pulse's first sync on, whatever the CRM; history from before comes from a source's
``arr_history`` (the sample workspace, ``arr_history.csv``).

Rules (docs/metrics.md, "The ARR ledger"):

* current ARR is 0 for churned and trial accounts, else ``Account.arr`` (0 when empty);
* an account without ledger rows gets its first row on ``contract_start`` when known
  (even a future one: scoring, too, counts an account from its start), else on ``today``
  labelled ``observed``: Pulse saw the ARR, not the day the customer started. A churned
  account seen for the first time gets its last ARR from ``contract_start`` and 0 from
  ``churned_on`` when both are known, so churn that happened before the first sync
  still counts;
* a later difference is recorded on ``today`` (a churn on ``churned_on`` when that is
  later than the latest row, even ahead of today: the ARR holds until the churn date),
  never before the latest row; a difference on the latest row's own day replaces that
  row's value (the ledger has one value per day);
* rows loaded from a source are labelled from the sequence (their source knows amounts,
  not reasons), so their labels follow when earlier history is imported later.

Running it twice changes nothing the second time. Accounts of linked-only sources (Stripe
customers, Zendesk organisations) are left out, as scoring leaves them out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from pulse.kernel.clock import utcnow
from storage.models import LINKED_ONLY_SOURCES, Account, ArrChange, table_of

LEDGER_SOURCE = "pulse"
"""``source`` of the rows the catch-up writes (loaded rows carry their source's name)."""
TOLERANCE = 0.005
"""Below half a cent two ARR values are the same (float round trips through drivers)."""

AddRow = Callable[[int, date, float, str], None]


@dataclass(frozen=True)
class LedgerReport:
    """What one catch-up did: the line ``pulse sync`` and the daily pipeline print."""

    added: int = 0
    replaced: int = 0
    labelled: int = 0
    accounts: int = 0

    def __str__(self) -> str:
        if not (self.added or self.replaced or self.labelled):
            return f"ARR ledger: up to date ({self.accounts:,} accounts)"
        parts = [f"{self.added:,} change(s) recorded"] if self.added else []
        if self.replaced:
            parts.append(f"{self.replaced:,} replaced")
        if self.labelled:
            parts.append(f"{self.labelled:,} imported change(s) labelled")
        return "ARR ledger: " + ", ".join(parts)


def current_arr(lifecycle: str | None, arr: float | None) -> float:
    """The ARR an account pays now: trials and churned accounts pay nothing."""
    if lifecycle in ("churned", "trial") or arr is None or math.isnan(arr):
        return 0.0
    return max(float(arr), 0.0)


def change_reason(previous: float | None, arr: float) -> str:
    """The label of a move from ``previous`` (None: no earlier row) to ``arr``."""
    if previous is None:
        return "new" if arr > TOLERANCE else "churn"
    if arr <= TOLERANCE:
        return "churn" if previous > TOLERANCE else "observed"
    if previous <= TOLERANCE:
        return "reactivation"
    if arr > previous + TOLERANCE:
        return "expansion"
    if arr < previous - TOLERANCE:
        return "contraction"
    return "observed"


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE


def _as_date(value: object) -> date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _labels(ledger: pd.DataFrame) -> list[dict[str, object]]:
    """Loaded rows whose stored label differs from the one their sequence gives."""
    changes: list[dict[str, object]] = []
    previous: dict[int, float] = {}
    for row in ledger.itertuples(index=False):
        prev = previous.get(row.account_id)
        previous[row.account_id] = float(row.arr)
        if row.source == LEDGER_SOURCE:
            continue
        wanted = change_reason(prev, float(row.arr))
        if row.reason != wanted:
            changes.append({"row_id": int(row.id), "reason": wanted})
    return changes


def record_arr_ledger(session: Session, today: date, now: datetime | None = None) -> LedgerReport:
    """Append a ledger row for every account whose current ARR differs from its ledger.

    The caller commits. ``today`` is the day a change seen now is recorded on (the
    workspace's local date); ``now`` stamps ``recorded_at``.
    """
    now = now or utcnow()
    accounts = session.execute(
        select(Account.id, Account.arr, Account.lifecycle, Account.contract_start,
               Account.churned_on)
        .where(Account.source.not_in(LINKED_ONLY_SOURCES))
        .order_by(Account.id)
    ).all()
    ledger = _read_ledger(session)
    relabel = _labels(ledger)
    latest = _latest_rows(ledger)

    inserts: list[dict[str, object]] = []
    replaces: list[dict[str, object]] = []

    def add(account_id: int, day: date, arr: float, reason: str) -> None:
        inserts.append({"account_id": account_id, "effective_on": day, "arr": arr,
                        "reason": reason, "source": LEDGER_SOURCE, "recorded_at": now})

    for account_id, arr, lifecycle, start, churned_on in accounts:
        now_arr = current_arr(lifecycle, arr)
        start = _as_date(start)
        churned_on = _as_date(churned_on)
        if account_id not in latest:
            _first_rows(add, account_id, arr, now_arr, lifecycle, start, churned_on, today)
            continue
        last_id, last_arr, last_day, before = latest[account_id]
        assert last_day is not None
        if _same(now_arr, last_arr):
            continue
        day = today
        if now_arr <= TOLERANCE and churned_on is not None and churned_on > last_day:
            day = churned_on  # may be ahead of today: the ARR holds until the churn date
        if day <= last_day:
            # one value per day: what is true now is the latest day's value
            replaces.append({"row_id": last_id, "arr": now_arr,
                             "reason": change_reason(before, now_arr),
                             "source": LEDGER_SOURCE, "recorded_at": now})
            continue
        add(account_id, day, now_arr, change_reason(last_arr, now_arr))

    labelled = _write(session, inserts, replaces, relabel)
    return LedgerReport(added=len(inserts), replaced=len(replaces), labelled=labelled,
                        accounts=len(accounts))


def _read_ledger(session: Session) -> pd.DataFrame:
    return pd.DataFrame(
        session.execute(
            select(ArrChange.id, ArrChange.account_id, ArrChange.effective_on, ArrChange.arr,
                   ArrChange.reason, ArrChange.source)
            .order_by(ArrChange.account_id, ArrChange.effective_on)
        ).all(),
        columns=["id", "account_id", "effective_on", "arr", "reason", "source"],
    )


def _latest_rows(ledger: pd.DataFrame) -> dict[int, tuple[int, float, date | None, float | None]]:
    """Each account's latest ledger row: (row id, ARR, effective day, the ARR before it)."""
    before = ledger.groupby("account_id")["arr"].shift()
    ledger = ledger.assign(before=before)
    return {
        int(r.account_id): (int(r.id), float(r.arr), _as_date(r.effective_on),
                            None if pd.isna(r.before) else float(r.before))
        for r in ledger.groupby("account_id").tail(1).itertuples(index=False)
    }


def _write(
    session: Session,
    inserts: list[dict[str, object]],
    replaces: list[dict[str, object]],
    relabel: list[dict[str, object]],
) -> int:
    """Store the catch-up's rows; the number of loaded rows relabelled (a row replaced
    gets its label with its value)."""
    if inserts:
        session.execute(insert(ArrChange), inserts)
    table = table_of(ArrChange)
    if replaces:
        session.execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values(arr=bindparam("arr"), reason=bindparam("reason"),
                    source=bindparam("source"), recorded_at=bindparam("recorded_at")),
            replaces,
        )
    replaced = {r["row_id"] for r in replaces}
    relabel = [r for r in relabel if r["row_id"] not in replaced]
    if relabel:
        session.execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values(reason=bindparam("reason")),
            relabel,
        )
    session.flush()
    return len(relabel)


def _first_rows(add: AddRow, account_id: int, arr: float | None, now_arr: float,
                lifecycle: str | None, start: date | None, churned_on: date | None,
                today: date) -> None:
    """The first ledger rows of an account Pulse has no history for."""
    if now_arr > TOLERANCE:
        if start is not None:  # a contract starting later pays from then, as scoring sees it
            add(account_id, start, now_arr, "new")
        else:
            add(account_id, today, now_arr, "observed")
        return
    last_paid = current_arr("paid", arr)
    if (lifecycle == "churned" and last_paid > TOLERANCE and start is not None
            and churned_on is not None and start < churned_on):
        add(account_id, start, last_paid, "new")
        add(account_id, churned_on, 0.0, "churn")
