"""What each Slack user chose about what reaches them (``/health settings``): their
preferences, the accounts they muted for a while and the accounts they follow.

Keyed by Slack user id, the id alerts and digests are addressed to. Every change is also
written to the audit log by :mod:`pulse.services.preferences`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class UserPreference(Base):
    """One Slack user's settings; a missing row or a None value means the workspace default."""

    __tablename__ = "user_preferences"

    slack_user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    digest_time: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", local time
    quiet_days: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ["sat", "sun"]
    min_severity: Mapped[str | None] = mapped_column(String(20))  # critical | warning
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class AccountMute(Base):
    """A user does not want DMs about an account until ``until`` (naive UTC)."""

    __tablename__ = "account_mutes"
    __table_args__ = (UniqueConstraint("slack_user_id", "account_id", name="uq_account_mutes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    until: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AccountFollow(Base):
    """A user receives an account's new alerts although they do not own it."""

    __tablename__ = "account_follows"
    __table_args__ = (UniqueConstraint("slack_user_id", "account_id", name="uq_account_follows"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
