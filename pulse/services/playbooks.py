"""Playbooks: rule-based workflows from ``pulse.yml`` (trigger, conditions, actions).

Evaluation is pure (:func:`due_firings` over :class:`AccountFacts`), so every trigger
and condition tests without Slack or a database. :func:`due_now` loads the facts and
applies the alert-fatigue rules; :func:`act` runs an action, or for a Slack action
returns the message to post (``pulse.jobs.playbooks.run_playbooks`` posts it):

* each account x playbook fires at most once per ``cooldown_days``; an action that
  failed does not count: the next time the playbook is due within the cooldown, only its
  failed actions run again (a webhook whose secret was missing goes out once it is set;
  the owner's DM that did go out is not sent twice);
* a CSM gets at most ``automation.daily_cap_per_csm`` firings a day; the rest are kept
  as ``deferred`` and listed in their next morning digest instead of a flood of messages;
* a do-not-contact account gets no outward action (webhooks, which may reach the
  customer through other systems); the staff are still told;
* every firing and action outcome is stored (``playbook_firings``) and audited.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.crm import crm_problem, crm_system
from digests.playbook_blocks import playbook_message
from pulse.kernel.collector import collector_paused
from pulse.kernel.config import (
    Playbook,
    PlaybookAction,
    PlaybookConditions,
    PlaybookTrigger,
    PulseConfig,
)
from pulse.kernel.errors import one_line
from pulse.kernel.tiers import tier_label
from pulse.services.outbox import Message
from storage.models import (
    Account,
    Alert,
    AuditLog,
    Owner,
    PlaybookFiring,
    Reminder,
    ScoreSnapshot,
)

log = logging.getLogger("pulse.services.playbooks")

OUTWARD = frozenset({"webhook"})
PLAYBOOK_DETAIL_CHARS = 300
"""A failed action's stored detail (its one error line) is cut to this many characters."""


@dataclass(frozen=True)
class AccountFacts:
    """What the triggers and conditions of one account are judged on."""

    account_id: int
    name: str
    owner_id: int | None
    tier: str | None  # health tier of the latest snapshot
    previous_tier: str | None  # of the snapshot before it
    score: float | None
    history: tuple[tuple[date, float], ...] = ()  # (as_of, score), oldest first
    flags: frozenset[str] = frozenset()
    previous_flags: frozenset[str] = frozenset()
    renewal_date: date | None = None
    oldest_open_alert: datetime | None = None  # not acknowledged, not snoozed
    account_tier: str | None = None
    segment: str | None = None
    region: str | None = None
    lifecycle: str = "paid"
    arr: float | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    do_not_contact: bool = False
    salesforce_id: str | None = None
    hubspot_id: str | None = None
    usage: dict[str, float] = field(default_factory=dict)  # latest snapshot's usage figures
    previous_usage: dict[str, float] | None = None  # None: no earlier snapshot


def _score_on_or_before(history: Sequence[tuple[date, float]], day: date) -> float | None:
    before = [score for as_of, score in history if as_of <= day]
    return before[-1] if before else None


def trigger_reason(trigger: PlaybookTrigger, facts: AccountFacts, today: date,
                   now: datetime) -> str | None:
    """Why ``trigger`` fires for this account today, in words, or None."""
    if trigger.type == "tier_crossed":
        if facts.tier == trigger.tier and facts.previous_tier not in (None, trigger.tier):
            return (f"moved from {tier_label(facts.previous_tier)}"
                    f" to {tier_label(facts.tier)}")
        return None
    if trigger.type == "score_drop":
        assert trigger.days is not None and trigger.points is not None
        then = _score_on_or_before(facts.history, today - timedelta(days=trigger.days))
        if facts.score is None or then is None or then - facts.score < trigger.points:
            return None
        return (f"score down {then - facts.score:.0f} points in {trigger.days} days "
                f"({then:.0f} -> {facts.score:.0f})")
    if trigger.type == "flag_raised":
        new = facts.flags - facts.previous_flags
        if trigger.flag is not None:
            new &= {trigger.flag}
        return f"churn flag raised: {', '.join(sorted(new))}" if new else None
    if trigger.type == "renewal_within":
        assert trigger.days is not None
        if facts.renewal_date is None:
            return None
        days = (facts.renewal_date - today).days
        if 0 <= days <= trigger.days:
            return f"renews in {days} days ({facts.renewal_date.isoformat()})"
        return None
    if trigger.type == "alert_unacknowledged":
        assert trigger.hours is not None
        opened = facts.oldest_open_alert
        if opened is None:
            return None
        hours = (now - opened).total_seconds() / 3600
        return f"alert unacknowledged for {hours:.0f} hours" if hours >= trigger.hours else None
    if trigger.type == "usage_milestone":
        return _milestone(trigger, facts)
    raise ValueError(f"unknown trigger '{trigger.type}'")


def _milestone(trigger: PlaybookTrigger, facts: AccountFacts) -> str | None:
    """A usage figure crossed its mark since the previous snapshot (never on the first
    snapshot of an account: everything would "cross" on the first scoring run)."""
    if facts.previous_usage is None:
        return None
    key = {"first_core_action": "core_features_used", "active_users": "active_users",
           "seat_use_over": "seat_ratio"}[trigger.milestone or ""]
    now, before = facts.usage.get(key), facts.previous_usage.get(key)
    mark = 0.0 if trigger.milestone == "first_core_action" else float(trigger.value or 0)
    if now is None:
        return None
    crossed = now > mark and (before is None or before <= mark)
    if trigger.milestone == "active_users":
        crossed = now >= mark and (before is None or before < mark)
    if not crossed:
        return None
    if trigger.milestone == "first_core_action":
        return "first core feature used"
    if trigger.milestone == "active_users":
        return f"{now:.0f} active users (reached {mark:.0f})"
    return f"seat use {now:.0%} (over {mark:.0%})"


USAGE_FIGURES = {  # (component key, raw figure) -> fact name
    ("breadth", "core_features_used"): "core_features_used",
    ("seats", "active_users"): "active_users",
    ("seats", "ratio"): "seat_ratio",
}


def usage_figures(components: Any) -> dict[str, float]:
    """The milestone figures out of a snapshot's stored components."""
    out: dict[str, float] = {}
    for entry in components or []:
        if not isinstance(entry, dict):
            continue
        for (key, figure), name in USAGE_FIGURES.items():
            raw = entry.get("raw") or {}
            if entry.get("key") == key and raw.get(figure) is not None:
                out[name] = float(raw[figure])
    return out


def _one_of(value: str | None, allowed: Sequence[str]) -> bool:
    if not allowed:
        return True
    return value is not None and value.lower() in {a.lower() for a in allowed}


def conditions_hold(when: PlaybookConditions, facts: AccountFacts) -> bool:
    if not (_one_of(facts.account_tier, when.tier) and _one_of(facts.segment, when.segment)
            and _one_of(facts.region, when.region) and _one_of(facts.lifecycle, when.lifecycle)
            and _one_of(_text(facts.custom.get("product_line")), when.product_line)):
        return False
    if when.arr_min is not None and (facts.arr is None or facts.arr < when.arr_min):
        return False
    if when.arr_max is not None and (facts.arr is None or facts.arr > when.arr_max):
        return False
    return all(_text(facts.custom.get(k)) == v for k, v in when.custom.items())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def due_firings(playbooks: Sequence[Playbook], facts: Sequence[AccountFacts], today: date,
                now: datetime) -> list[tuple[Playbook, AccountFacts, str]]:
    """Every (playbook, account, reason) whose trigger fires and conditions hold."""
    due = []
    for playbook in playbooks:
        for f in facts:
            reason = trigger_reason(playbook.trigger, f, today, now)
            if reason and conditions_hold(playbook.when, f):
                due.append((playbook, f, reason))
    return due


# --- facts from storage ------------------------------------------------------------------


def load_facts(session: Session, playbooks: Sequence[Playbook], today: date) -> list[AccountFacts]:
    """Latest and previous snapshot, the score history the triggers look back over, open
    alerts and the account's attributes, for every account scored on or before ``today``."""
    lookback = max([p.trigger.days or 0 for p in playbooks if p.trigger.type == "score_drop"],
                   default=0)
    since = today - timedelta(days=max(lookback, 1) + 31)
    milestones = any(p.trigger.type == "usage_milestone" for p in playbooks)
    columns = [ScoreSnapshot.account_id, ScoreSnapshot.as_of, ScoreSnapshot.score,
               ScoreSnapshot.tier, ScoreSnapshot.flags]
    if milestones:  # the components JSON is large: read it only when a playbook needs it
        columns.append(ScoreSnapshot.components)
    with collector_paused():  # each row's flags (and components): many small containers
        rows = session.execute(
            select(*columns)
            .where(ScoreSnapshot.as_of <= today, ScoreSnapshot.as_of >= since)
            .order_by(ScoreSnapshot.account_id, ScoreSnapshot.as_of)
        ).all()
    snaps: dict[int, list[Any]] = {}
    for row in rows:
        snaps.setdefault(int(row.account_id), []).append(row)
    alerts = dict(session.execute(
        select(Alert.account_id, func.min(Alert.opened_at))
        .where(Alert.status == "open").group_by(Alert.account_id)).all())
    # an account deleted in the CRM gets no playbook (its tasks would land on no record)
    scored = select(Account).where(Account.id.in_(list(snaps)), Account.deleted_at.is_(None))
    accounts = {a.id: a for a in session.scalars(scored)}
    out = []
    for account_id, history in snaps.items():
        account = accounts.get(account_id)
        if account is None:
            continue
        last, prev = history[-1], (history[-2] if len(history) > 1 else None)
        out.append(AccountFacts(
            account_id=account_id, name=account.name, owner_id=account.owner_id,
            tier=last.tier, previous_tier=prev.tier if prev else None, score=float(last.score),
            history=tuple((r.as_of, float(r.score)) for r in history),
            flags=frozenset(_codes(last.flags)),
            previous_flags=frozenset(_codes(prev.flags)) if prev else frozenset(),
            renewal_date=account.renewal_date, oldest_open_alert=alerts.get(account_id),
            account_tier=account.tier, segment=account.segment, region=account.region,
            lifecycle=account.lifecycle, arr=account.arr, custom=dict(account.custom or {}),
            do_not_contact=bool(account.do_not_contact),
            salesforce_id=account.salesforce_id, hubspot_id=account.hubspot_id,
            usage=usage_figures(last.components) if milestones else {},
            previous_usage=(usage_figures(prev.components) if milestones and prev else None),
        ))
    return out


def _codes(flags: Any) -> list[str]:
    return [str(f.get("code")) for f in flags or [] if isinstance(f, dict) and f.get("code")]


# --- running them --------------------------------------------------------------------------


@dataclass
class PlaybookReport:
    fired: int = 0
    deferred: int = 0
    cooling: int = 0  # due again but within the cooldown
    actions_ok: int = 0
    actions_failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{self.fired} fired, {self.deferred} deferred to the digest (daily cap), "
                f"{self.cooling} in cooldown, {self.actions_ok} action(s) done")
        if self.actions_failed:
            text += f", {len(self.actions_failed)} failed"
        return text


Sleep = Callable[[float], None]
Outcome = dict[str, Any]
"""One action's outcome as stored with its firing: type, status (ok, failed, skipped,
held) and a detail."""


@dataclass(frozen=True)
class Firing:
    """A playbook firing for one account now, with the owners its actions may address."""

    playbook: Playbook
    facts: AccountFacts
    reason: str
    owners: dict[int, Owner]
    pending: tuple[int, ...]  # positions of the actions to run (not done in the cooldown)

    @property
    def actions(self) -> list[PlaybookAction]:
        """The actions to run now, in the playbook's order."""
        return [self.playbook.actions[i] for i in self.pending]

    @property
    def owner(self) -> Owner | None:
        return self.owners.get(self.facts.owner_id) if self.facts.owner_id is not None else None


def due_now(session: Session, config: PulseConfig, report: PlaybookReport, now: datetime,
            today: date) -> Iterator[Firing]:
    """The firings to act on now, one at a time, within cooldowns and caps.

    Those cooling down are counted in ``report``; those over the owner's daily cap are
    recorded as ``deferred`` (for the next digest) and counted. The caller acts on each
    firing it gets and records it with :func:`record_fired` before asking for the next.
    """
    if not config.playbooks:
        return
    facts = load_facts(session, config.playbooks, today)
    day_start = datetime.combine(today, datetime.min.time())
    per_owner = dict(session.execute(
        select(PlaybookFiring.owner_id, func.count())
        .where(PlaybookFiring.fired_at >= day_start, PlaybookFiring.status != "deferred")
        .group_by(PlaybookFiring.owner_id)).all())
    owners = {o.id: o for o in session.scalars(select(Owner))}
    for playbook, f, reason in due_firings(config.playbooks, facts, today, now):
        done = _done_in_cooldown(session, playbook, f.account_id, now)
        pending = tuple(i for i in range(len(playbook.actions)) if i not in done)
        if not pending:
            report.cooling += 1
            continue
        count = per_owner.get(f.owner_id, 0)
        if f.owner_id is not None and count >= config.automation.daily_cap_per_csm:
            _record(session, playbook, f, now, reason, "deferred", [])
            report.deferred += 1
            continue
        per_owner[f.owner_id] = count + 1
        yield Firing(playbook, f, reason, owners, pending)


def record_fired(session: Session, report: PlaybookReport, firing: Firing,
                 outcomes: list[Outcome], now: datetime) -> None:
    """Store a firing with its actions' outcomes, one per action of ``firing.actions``,
    each with its position in the playbook (and audit it); count it in ``report``."""
    outcomes = [{**result, "action": index}
                for index, result in zip(firing.pending, outcomes, strict=True)]
    for result in outcomes:
        if result["status"] == "ok":
            report.actions_ok += 1
        elif result["status"] == "failed":
            report.actions_failed.append(
                f"{firing.playbook.name}/{firing.facts.name}: {result['detail']}")
    failures = sum(o["status"] == "failed" for o in outcomes)
    status = "held" if firing.facts.do_not_contact and any(
        o["status"] == "held" for o in outcomes) else (
        "failed" if failures == len(outcomes) else "partial" if failures else "done")
    _record(session, firing.playbook, firing.facts, now, firing.reason, status, outcomes)
    report.fired += 1


def _done_in_cooldown(session: Session, playbook: Playbook, account_id: int,
                      now: datetime) -> set[int]:
    """Positions of the playbook's actions that ran (did not fail) for this account within
    its cooldown: those do not run again until it is over. A failed action starts no
    cooldown. Outcomes stored without a position are matched by their order."""
    since = now - timedelta(days=playbook.cooldown_days)
    stored = session.scalars(
        select(PlaybookFiring.actions).where(
            PlaybookFiring.playbook == playbook.name, PlaybookFiring.account_id == account_id,
            PlaybookFiring.status != "deferred", PlaybookFiring.fired_at > since))
    return {int(result.get("action", position))
            for actions in stored for position, result in enumerate(actions or [])
            if result.get("status") != "failed"}


def _record(session: Session, playbook: Playbook, f: AccountFacts, now: datetime, reason: str,
            status: str, outcomes: list[Outcome]) -> None:
    session.add(PlaybookFiring(playbook=playbook.name, account_id=f.account_id,
                               owner_id=f.owner_id, fired_at=now, reason=reason, status=status,
                               actions=outcomes))
    session.add(AuditLog(at=now, actor=f"playbook {playbook.name}", action="playbook.fire",
                         account_id=f.account_id, outcome=status,
                         detail={"reason": reason, "actions": outcomes}))


def outcome(action: PlaybookAction, status: str, detail: str) -> Outcome:
    return {"type": action.type, "status": status, "detail": detail}


def failed(action: PlaybookAction, firing: Firing, exc: Exception) -> Outcome:
    """A failed action's outcome (logged): one action failing must not stop the others."""
    line = one_line(exc)
    log.warning("playbook %s action %s for %s failed: %s", firing.playbook.name, action.type,
                firing.facts.name, line)
    return outcome(action, "failed", line[:PLAYBOOK_DETAIL_CHARS])


def act(session: Session, config: PulseConfig, firing: Firing, action: PlaybookAction,
        now: datetime, sleep: Sleep, *, can_post: bool) -> Outcome | Message:
    """Run one action: its outcome, or for a Slack action the message to post.

    The caller posts the message and records ``outcome(action, "ok", f"posted to
    {message.destination}")`` or :func:`failed`. ``can_post`` is False when there is no
    Slack to post to (the action is then skipped, saying so).
    """
    f, playbook, reason = firing.facts, firing.playbook, firing.reason
    if action.type in OUTWARD and f.do_not_contact:
        return outcome(action, "held", "do-not-contact account: no outward action")
    owner = firing.owner
    try:
        if action.type == "webhook":
            return outcome(action, "ok", _webhook(action, playbook, f, reason, owner, now, sleep))
        if action.type == "crm_task":
            return _crm_task(action, playbook, f, reason, owner, now, sleep, config)
        if action.type == "reminder":
            due = now + timedelta(days=action.due_days)
            text = action.text.format(playbook=playbook.name, account=f.name, reason=reason)
            session.add(Reminder(account_id=f.account_id, owner_id=f.owner_id,
                                 playbook=playbook.name, text=text, created_at=now, due_at=due))
            return outcome(action, "ok", f"reminder for {due:%Y-%m-%d %H:%M} UTC")
        target, escalation = _slack_target(action, owner, firing.owners)
    except Exception as exc:  # noqa: BLE001 - one action failing must not stop the others
        return failed(action, firing, exc)
    if target is None:
        return outcome(action, "skipped", f"no Slack recipient for {action.type}")
    if not can_post:
        return outcome(action, "skipped", "SLACK_BOT_TOKEN not set")
    payload = playbook_message(playbook.name, f.name, reason, f.tier, f.score,
                               owner.slack_user_id if owner else None, escalation=escalation)
    return Message(target, payload, f"playbook {playbook.name} message to {target}")


def _crm_task(action: PlaybookAction, playbook: Playbook, f: AccountFacts, reason: str,
              owner: Owner | None, now: datetime, sleep: Sleep, config: PulseConfig) -> Outcome:
    """A task for the owner in the account's CRM (Salesforce first, then HubSpot)."""
    subject = action.subject.format(playbook=playbook.name, account=f.name, reason=reason)
    description = (f"{reason}\n\nRaised by the Pulse playbook '{playbook.name}' on "
                   f"{now:%Y-%m-%d}. Health {f.score:.0f}/100, {tier_label(f.tier)}.")
    due = now + timedelta(days=action.due_days)
    for system, record in (("salesforce", f.salesforce_id), ("hubspot", f.hubspot_id)):
        if not record:
            continue
        problem = crm_problem(config, system)
        if problem:
            return outcome(action, "skipped", problem)
        # the owner's CRM user id only means something in the CRM the owner came from
        crm_owner = owner.crm_owner_id if owner and owner.source == system else None
        task = crm_system(system).create_task(config, subject=subject, description=description,
                                              due=due, owner_id=crm_owner, record_id=record,
                                              sleep=sleep)
        return outcome(action, "ok", f"{system} task {task}")
    return outcome(action, "skipped", "the account has no Salesforce or HubSpot record")



def _slack_target(action: PlaybookAction, owner: Owner | None,
                  owners: dict[int, Owner]) -> tuple[str | None, bool]:
    if action.type == "notify_channel":
        return action.channel, False
    if action.type == "notify_user":
        return action.user, False
    if action.type == "dm_owner":
        return (owner.slack_user_id if owner else None), False
    if action.type == "escalate_to_manager":
        manager = owners.get(owner.manager_id) if owner and owner.manager_id else None
        return (manager.slack_user_id if manager else None), True
    raise ValueError(f"unknown action '{action.type}'")


def _webhook(action: PlaybookAction, playbook: Playbook, f: AccountFacts, reason: str,
             owner: Owner | None, now: datetime, sleep: Sleep) -> str:
    from connectors.signed_webhook import post_signed

    secret = os.environ.get(action.secret_env, "")
    if not secret:
        raise RuntimeError(f"{action.secret_env} is not set (the webhook signing key)")
    assert action.url is not None
    status = post_signed(action.url, {
        "playbook": playbook.name, "account": {"id": f.account_id, "name": f.name},
        "reason": reason, "tier": f.tier, "score": f.score,
        "owner": owner.email if owner else None, "fired_at": now.isoformat() + "Z",
    }, secret, sleep=sleep)
    return f"POST {action.url}: HTTP {status}"
