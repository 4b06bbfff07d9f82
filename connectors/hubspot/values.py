"""HubSpot property values as Python values.

HubSpot sends every property as a string (datetimes as ISO 8601 or epoch milliseconds); an
empty value (``""`` or None) becomes None, and a value that is not what the property should
hold raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer

from pulse.kernel.clock import from_epoch_ms
from storage.models import Account


def epoch_ms(value: Any) -> int | None:
    """HubSpot datetime (ISO 8601 or epoch ms) as epoch milliseconds."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def as_datetime(value: Any) -> datetime | None:
    ms = epoch_ms(value)
    return None if ms is None else from_epoch_ms(ms)


def as_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-":
        return date.fromisoformat(text)
    moment = as_datetime(text)
    return None if moment is None else moment.date()


def as_float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def as_int(value: Any) -> int | None:
    return None if value in (None, "") else int(float(value))


def as_bool(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    return str(value).strip().lower() in ("true", "1", "yes")


def as_text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def column_converter(column: str) -> Callable[[Any], Any] | None:
    """How a company property value becomes the Account column ``column`` (None: custom)."""
    col = Account.__table__.c.get(column)
    if col is None or column in ("id", "source", "external_id", "updated_at", "custom"):
        return None
    kind = col.type
    if isinstance(kind, Float):
        return as_float
    if isinstance(kind, Integer):
        return as_int
    if isinstance(kind, DateTime):
        return as_datetime
    if isinstance(kind, Date):
        return as_date
    if isinstance(kind, Boolean):
        return as_bool
    return as_text


def deal_kind(dealtype: str | None, pipeline: str | None) -> str:
    text = f"{dealtype or ''} {pipeline or ''}".lower()
    if "renew" in text:
        return "renewal"
    if "expan" in text or "upsell" in text or "cross" in text or dealtype == "existingbusiness":
        return "expansion"
    if dealtype == "newbusiness":
        return "new"
    return "other"
