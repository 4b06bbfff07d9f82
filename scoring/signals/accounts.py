"""Which accounts are scored on a date, read per date or once for many dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import LINKED_ONLY_SOURCES, Account
from storage.tuning import AnySelect, query_frame


def _account_columns() -> AnySelect:
    """What scoring reads of an account, for every account scored on some date (the
    date's own conditions are :func:`accounts_stmt`'s and :meth:`AccountRoster.alive_on`'s)."""
    return select(
        Account.id.label("account_id"),
        Account.name.label("account_name"),
        Account.owner_id.label("owner_id"),
        Account.segment.label("segment"),
        Account.arr.label("arr"),
        Account.licensed_seats.label("licensed_seats"),
        Account.contract_start.label("contract_start"),
        Account.renewal_date.label("renewal_date"),
        Account.lifecycle.label("lifecycle"),
        Account.churned_on.label("churned_on"),
    ).where(Account.source.not_in(LINKED_ONLY_SOURCES))


def _day_after(as_of: date) -> datetime:
    return datetime.combine(as_of + timedelta(days=1), time())


def accounts_stmt(as_of: date) -> AnySelect:
    """Accounts alive on ``as_of``: not churned (or churned later), already started, and
    not deleted at their source (CRM) on or before that day."""
    return (
        _account_columns()
        .where(
            or_(Account.lifecycle != "churned", Account.churned_on > as_of),
            or_(Account.contract_start.is_(None), Account.contract_start <= as_of),
            or_(Account.deleted_at.is_(None), Account.deleted_at >= _day_after(as_of)),
        )
        .order_by(Account.id)
    )


@dataclass(frozen=True)
class AccountRoster:
    """Every scoreable account, read once for a run that scores many dates (a backtest).

    Reading and converting the 100,000 accounts took 0.7-0.8 s for each date; the
    roster answers :func:`accounts_stmt`'s question for any date from memory, with the
    same rule (:meth:`alive_on`), so a date's frame is the one the query would give.
    """

    frame: pd.DataFrame
    churned: np.ndarray
    """True where ``lifecycle`` is "churned"."""
    churned_on: np.ndarray
    """``datetime64[D]``, NaT when unknown."""
    contract_start: np.ndarray
    """``datetime64[D]``, NaT when unknown."""
    deleted_on: np.ndarray
    """``datetime64[D]``: the day the CRM record was deleted, NaT while it exists."""

    def alive_on(self, as_of: date) -> pd.DataFrame:
        """The accounts :func:`accounts_stmt` selects for ``as_of``, in the same order."""
        day = np.datetime64(as_of, "D")
        with np.errstate(invalid="ignore"):
            alive = (
                (~self.churned | (self.churned_on > day))
                & (np.isnat(self.contract_start) | (self.contract_start <= day))
                & (np.isnat(self.deleted_on) | (self.deleted_on > day))
            )
        return self.frame[alive].reset_index(drop=True)


def account_roster(session: Session) -> AccountRoster:
    """Read every scoreable account once (see :class:`AccountRoster`)."""
    stmt = _account_columns().add_columns(Account.deleted_at.label("deleted_at"))
    frame = query_frame(session, stmt.order_by(Account.id))
    deleted_on = pd.to_datetime(frame.pop("deleted_at")).to_numpy(dtype="datetime64[D]")

    def days(col: str) -> np.ndarray:
        return pd.to_datetime(frame[col]).to_numpy(dtype="datetime64[D]")

    return AccountRoster(
        frame=frame,
        churned=(frame["lifecycle"] == "churned").to_numpy(dtype=bool),
        churned_on=days("churned_on"),
        contract_start=days("contract_start"),
        deleted_on=deleted_on,
    )
