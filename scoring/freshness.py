"""How old the data behind each signal is, and which parts are stale.

A score built on last week's support tickets looks as confident as one built on this
morning's; CSMs stop trusting both once they are burned by the first. So every component
says which kind of data it rests on (:data:`COMPONENT_DOMAINS`), every kind says which
configured sources feed it (:data:`SOURCE_DOMAINS`), and a source that has not synced
successfully within ``freshness.max_age_hours`` (per source: ``freshness.sources``)
makes its kinds stale. Snapshots record it per component at scoring time
(:func:`annotate`), and the card, the digests and ``pulse sources`` recompute it at
reading time (:func:`freshness`), since data keeps ageing after the score was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig
from storage.models import SyncState

if TYPE_CHECKING:
    import pandas as pd

SOURCE_DOMAINS: dict[str, tuple[str, ...]] = {
    "sample": ("crm", "usage", "billing", "support"),
    "files": ("crm", "usage", "billing", "support"),
    "salesforce": ("crm",),
    "hubspot": ("crm",),
    "stripe": ("billing",),
    "zendesk": ("support",),
    "warehouse": ("usage",),
}
DOMAIN_LABELS: dict[str, str] = {
    "usage": "usage",
    "support": "support",
    "billing": "billing",
    "crm": "CRM",
}
COMPONENT_DOMAINS: dict[str, tuple[str, ...]] = {
    "usage": ("usage",),
    "breadth": ("usage",),
    "seats": ("usage", "crm"),
    "trend": ("usage",),
    "engagement": ("support",),
    "contract": ("billing", "crm"),
}


@dataclass(frozen=True)
class DomainFreshness:
    """One kind of data: when it was last brought in, from which sources, is it stale."""

    domain: str
    last_success: datetime | None  # the oldest last success among its sources
    sources: tuple[str, ...]
    stale_sources: tuple[str, ...]
    now: datetime

    @property
    def stale(self) -> bool:
        return bool(self.stale_sources)

    def age_text(self) -> str:
        """ "support data 3 days old" / "usage data 5 hours old" / "... never synced"."""
        label = f"{DOMAIN_LABELS.get(self.domain, self.domain)} data"
        if self.last_success is None:
            return f"{label} never synced successfully"
        return f"{label} {age_words(self.now - self.last_success)}"


def age_words(age: timedelta) -> str:
    """ "3 days old" / "5 hours old"; hours up to two days ("30 hours" says more than
    "1 day")."""
    age = max(age, timedelta(0))
    if age >= timedelta(days=2):
        n, unit = age.days, "day"
    else:
        n, unit = int(age.total_seconds() // 3600), "hour"
    return f"{n} {unit}{'s' if n != 1 else ''} old"


def _max_age(config: PulseConfig, source: str) -> timedelta:
    hours = config.freshness.sources.get(source, config.freshness.max_age_hours)
    return timedelta(hours=hours)


def freshness(session: Session, config: PulseConfig, now: datetime) -> dict[str, DomainFreshness]:
    """Every kind of data fed by a configured source, as of ``now`` (naive UTC)."""
    states = {s.source: s for s in session.scalars(select(SyncState))}
    by_domain: dict[str, list[tuple[str, datetime | None]]] = {}
    for source in config.synced_sources:
        state = states.get(source)
        if state is None:
            # Never run by Pulse: whatever is stored came another way (a direct import, a
            # test), so its age cannot be judged. A source that ran and never succeeded
            # has a row with no last success, and that is stale.
            continue
        last = state.last_success_at
        for domain in SOURCE_DOMAINS.get(source, ()):
            by_domain.setdefault(domain, []).append((source, last))
    out: dict[str, DomainFreshness] = {}
    for domain, entries in by_domain.items():
        stale = tuple(
            src for src, last in entries if last is None or now - last > _max_age(config, src)
        )
        lasts = [last for _, last in entries]
        oldest = None if any(v is None for v in lasts) else min(v for v in lasts if v)
        out[domain] = DomainFreshness(
            domain=domain,
            last_success=oldest,
            sources=tuple(src for src, _ in entries),
            stale_sources=stale,
            now=now,
        )
    return out


def source_status(
    config: PulseConfig, source: str, last_success: datetime | None, now: datetime
) -> str:
    """``pulse sources``' freshness column: "fresh, 5 hours old" or "STALE, 3 days old
    (limit 36 h): usage, CRM" naming what it feeds."""
    feeds = ", ".join(DOMAIN_LABELS[d] for d in SOURCE_DOMAINS.get(source, ()))
    limit = _max_age(config, source)
    if last_success is None:
        return f"STALE, never synced: {feeds}" if feeds else "never synced"
    age = age_words(now - last_success)
    if now - last_success > limit:
        return f"STALE, {age} (limit {limit.total_seconds() / 3600:.0f} h): {feeds}"
    return f"fresh, {age}"


def stale_parts(fresh: Mapping[str, DomainFreshness]) -> list[str]:
    """ "support data 3 days old (zendesk)" for each stale kind, oldest first."""
    stale = [f for f in fresh.values() if f.stale]
    stale.sort(key=lambda f: f.last_success or datetime.min)
    return [f"{f.age_text()} ({', '.join(f.stale_sources)})" for f in stale]


def component_status(
    key: str, fresh: Mapping[str, DomainFreshness]
) -> tuple[datetime | None, list[str]]:
    """(time of the data behind ``key``, the stale kinds it rests on)."""
    domains = [fresh[d] for d in COMPONENT_DOMAINS.get(key, ()) if d in fresh]
    if not domains:
        return None, []
    times = [d.last_success for d in domains]
    data_as_of = None if any(t is None for t in times) else min(t for t in times if t)
    return data_as_of, [d.age_text() for d in domains if d.stale]


def annotate(scored: pd.DataFrame, fresh: Mapping[str, DomainFreshness]) -> pd.DataFrame:
    """Give each stored component its ``data_as_of`` and ``stale`` parts, and put one
    "Stale data" reason first when any scored part is stale, naming the components."""
    if scored.empty or not fresh:
        return scored
    status = {key: component_status(key, fresh) for key in COMPONENT_DOMAINS}

    def mark(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for c in components:
            when, stale = status.get(c["key"], (None, []))
            out.append(
                {
                    **c,
                    "data_as_of": when.isoformat(timespec="minutes") if when else None,
                    "stale": stale,
                }
            )
        return out

    def reasons(components: list[dict[str, Any]], current: list[str]) -> list[str]:
        hit = [c for c in components if c.get("has_data") and c.get("stale")]
        if not hit:
            return current
        parts = sorted({p for c in hit for p in c["stale"]})
        names = ", ".join(c["label"] for c in hit)
        return [f"Stale data: {'; '.join(parts)} ({names})", *current]

    scored = scored.copy()
    scored["components"] = [mark(list(c)) for c in scored["components"]]
    scored["reasons"] = [
        reasons(c, list(r)) for c, r in zip(scored["components"], scored["reasons"], strict=True)
    ]
    return scored
