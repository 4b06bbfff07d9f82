"""Preferences are stored per Slack user, validated, and every change is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from workspace import CFG, NOW1, load_people

from pulse.services import preferences
from pulse.services.access import resolve_viewer
from storage.models import AuditLog


def _audit(session: Session) -> list[tuple[str, str, int | None, dict]]:
    rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    return [(r.actor, r.action, r.account_id, r.detail) for r in rows]


def test_defaults_then_each_change_is_stored_and_audited(session: Session) -> None:
    load_people(session)
    assert preferences.get(session, "UOLGA", NOW1) == preferences.Preferences("UOLGA")
    changed = preferences.update(session, "UOLGA", NOW1, digest_time="07:30",
                                 quiet_days=["sun", "sat", "sat"], min_severity="critical")
    assert changed == ["digest_time", "quiet_days", "min_severity"]
    prefs = preferences.get(session, "UOLGA", NOW1)
    assert (prefs.digest_time, prefs.quiet_days, prefs.min_severity) == (
        "07:30", ("sat", "sun"), "critical")
    assert ("UOLGA", "preference_changed", None,
            {"preference": "quiet_days", "old": [], "new": ["sat", "sun"]}) in _audit(session)
    # saving the same values again changes (and audits) nothing
    again = preferences.update(session, "UOLGA", NOW1, digest_time="07:30",
                               quiet_days=["sat", "sun"], min_severity="critical")
    assert again == [] and len(_audit(session)) == 3
    # someone else's settings are their own
    assert preferences.get(session, "UPETE", NOW1).min_severity is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("digest_time", "25:00", "not a time"), ("quiet_days", ["someday"], "Quiet day"),
     ("min_severity", "info", "Severity")],
)
def test_invalid_values_are_refused_and_nothing_is_stored(
    session: Session, field: str, value: object, message: str
) -> None:
    load_people(session)
    values: dict = {"digest_time": None, "quiet_days": [], "min_severity": None, field: value}
    with pytest.raises(ValueError, match=message):
        preferences.update(session, "UOLGA", NOW1, **values)
    assert _audit(session) == []


def test_mute_follow_and_their_undo_are_audited(session: Session) -> None:
    ids = load_people(session)
    until = preferences.mute(session, "UOLGA", ids["a1"], 7, NOW1)
    assert until == NOW1 + timedelta(days=7)
    assert preferences.get(session, "UOLGA", NOW1).mutes == {ids["a1"]: until}
    assert preferences.get(session, "UOLGA", until).mutes == {}  # over at its end
    assert preferences.follow(session, "UOLGA", ids["a3"], NOW1)
    assert not preferences.follow(session, "UOLGA", ids["a3"], NOW1)  # already
    assert preferences.get(session, "UOLGA", NOW1).follows == {ids["a3"]}
    assert preferences.alert_rules(session, NOW1).followers == {ids["a3"]: ["UOLGA"]}
    assert preferences.unmute(session, "UOLGA", ids["a1"], NOW1)
    assert preferences.follow(session, "UOLGA", ids["a3"], NOW1, on=False)
    assert [(a, acc) for _, a, acc, _ in _audit(session)] == [
        ("account_muted", ids["a1"]), ("account_followed", ids["a3"]),
        ("account_unmuted", ids["a1"]), ("account_unfollowed", ids["a3"])]
    with pytest.raises(ValueError, match="1 to 90 days"):
        preferences.mute(session, "UOLGA", ids["a1"], 365, NOW1)
    with pytest.raises(LookupError):
        preferences.follow(session, "UOLGA", 999_999, NOW1)


def test_mute_from_slack_for_n_days(session: Session) -> None:
    ids = load_people(session)
    olga = resolve_viewer(session, CFG, "UOLGA", None)
    reply = preferences.account_command(session, olga, "mute", "Acme Corp 14 days", NOW1)
    assert reply.startswith("Muted Acme Corp until")
    assert preferences.get(session, "UOLGA", NOW1).mutes == {ids["a1"]: NOW1 + timedelta(days=14)}
    preferences.account_command(session, olga, "mute", "initech for 3d", NOW1)
    assert preferences.get(session, "UOLGA", NOW1).mutes[ids["a4"]] == NOW1 + timedelta(days=3)
    preferences.account_command(session, olga, "mute", "initech", NOW1)  # the default
    assert preferences.get(session, "UOLGA", NOW1).mutes[ids["a4"]] == NOW1 + timedelta(days=7)
    assert preferences.account_command(session, olga, "mute", "Acme Corp 365d", NOW1) == (
        "A mute lasts 1 to 90 days, not 365.")
