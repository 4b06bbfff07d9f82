"""Trial extensions: the handbook's three branches, end to end.

Slash commands and button clicks are signed as Slack signs them and served by the real
Bolt app; Slack is the fake Slack API and billing the fake Stripe API, both on
127.0.0.1, reached through the real ``slack_sdk`` and ``stripe`` clients (STRIPE_API_BASE
points at the fake). Assertions are on what each fake received and on the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fakes.harness import NOW, SECRET, TOKEN, BotHarness
from fakes.harness import start_bot as start_harness
from fakes.slack_api import FakeSlack
from fakes.stripe_api import FakeStripe
from slack_signing import SlackSender
from sqlalchemy import select

from bot.trials import USAGE, parse_extend
from connectors.stripe_billing import StripeTrials
from digests.limits import validate_message
from digests.trial_blocks import (
    ApprovalRequest,
    ExtensionLine,
    TrialReply,
    approval_request,
    decision_notice,
    trial_reply,
)
from pulse.kernel.config import parse_config
from pulse.services import trials
from pulse.services.access import resolve_viewer
from storage.db import session_factory, session_scope
from storage.models import Account, AuditLog, Owner, Subscription, TrialExtension

CONFIG = parse_config({"access": {"admins": ["admin@trial.example"]}})
MAYA = "U0MGR0001"  # CS manager
DANA = "U0CSM0001"  # CSM who owns the trial account, reports to Maya
KEN = "U0CSM0002"  # another CSM of Maya's team
SUB = "sub_1TRIALHOOLI"
TRIAL_END = datetime.combine(NOW.date() + timedelta(days=3), time(15, 30), tzinfo=UTC)
DAY = 86400


def _ts(d: datetime) -> int:
    return int(d.timestamp())


def _workspace(url: str) -> None:
    """A manager, two CSMs, and one account in a Stripe trial owned by Dana."""
    with session_scope(url) as s:
        maya = Owner(
            source="crm",
            external_id="o-maya",
            name="Maya Manager",
            email="maya@trial.example",
            slack_user_id=MAYA,
            is_manager=True,
            team="Growth CS",
        )
        s.add(maya)
        s.flush()
        dana = Owner(
            source="crm",
            external_id="o-dana",
            name="Dana CSM",
            email="dana@trial.example",
            slack_user_id=DANA,
            team="Growth CS",
            manager_id=maya.id,
        )
        ken = Owner(
            source="crm",
            external_id="o-ken",
            name="Ken CSM",
            email="ken@trial.example",
            slack_user_id=KEN,
            team="Growth CS",
            manager_id=maya.id,
        )
        s.add_all([dana, ken])
        s.flush()
        hooli = Account(
            source="crm",
            external_id="a-hooli",
            name="Hooli Labs",
            domain="hoolilabs.io",
            owner_id=dana.id,
            lifecycle="trial",
        )
        paid = Account(source="crm", external_id="a-paid", name="Paid Co", owner_id=dana.id)
        s.add_all([hooli, paid])
        s.flush()
        s.add(
            Subscription(
                source="stripe",
                external_id=SUB,
                account_id=hooli.id,
                status="trialing",
                trial_end=TRIAL_END.date(),
                mrr=0.0,
            )
        )
        s.add(
            Subscription(
                source="stripe",
                external_id="sub_paid",
                account_id=paid.id,
                status="active",
                mrr=900.0,
            )
        )


def _stripe_subscription(status: str = "trialing") -> dict[str, Any]:
    return {
        "id": SUB,
        "object": "subscription",
        "status": status,
        "customer": "cus_HOOLI",
        "created": _ts(TRIAL_END) - 30 * DAY,
        "trial_end": _ts(TRIAL_END),
        "items": {"object": "list", "data": []},
    }


@pytest.fixture
def stripe_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    fake = FakeStripe(now=lambda: NOW.replace(tzinfo=UTC).timestamp())
    fake.objects["subscriptions"] = [_stripe_subscription()]
    with fake:
        monkeypatch.setenv("STRIPE_API_KEY", fake.api_key)
        monkeypatch.setenv("STRIPE_API_BASE", fake.base_url)
        yield fake


@pytest.fixture
def bot(db_url: str, stripe_fake: FakeStripe) -> Iterator[BotHarness]:
    _workspace(db_url)
    fake = FakeSlack(token=TOKEN).start()
    harness = start_harness(db_url, CONFIG, fake=fake)
    yield harness
    harness.close()


def _updates(stripe: FakeStripe) -> list[dict[str, str]]:
    return [r.query for r in stripe.requests if r.method == "POST" and r.status == 200]


def _trial_end(stripe: FakeStripe) -> int:
    return int(stripe.objects["subscriptions"][0]["trial_end"])


def _text(payload: dict[str, Any]) -> str:
    return json.dumps(payload.get("blocks", []), ensure_ascii=False) + payload.get("text", "")


def _ask(bot: BotHarness, slack: SlackSender, user: str, text: str, key: str) -> dict[str, Any]:
    assert slack.command(text, user_id=user, response_url=bot.fake.response_url(key)).ok
    return bot.wait_response(key).args


def _click(
    bot: BotHarness, slack: SlackSender, user: str, action_id: str, value: str, key: str
) -> None:
    resp = slack.action(
        {
            "action_id": action_id,
            "type": "button",
            "value": value,
            "block_id": f"trial_ext_{value}",
        },
        user_id=user,
        response_url=bot.fake.response_url(key),
        channel_id="D0MAYA",
    )
    assert resp.status_code == 200


def _rows(url: str) -> list[tuple[int, str, int]]:
    with session_factory(url)() as s:
        rows = s.scalars(select(TrialExtension).order_by(TrialExtension.id)).all()
        return [(r.step, r.status, r.days) for r in rows]


def _audit(url: str) -> list[tuple[str, str]]:
    with session_factory(url)() as s:
        rows = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(a.action, a.actor) for a in rows if a.action.startswith("trial_extension")]


# ---------------------------------------------------------------------------------------
# Parsing and rendering (pure)


def test_parse_extend_takes_the_quoted_reason_and_names_with_spaces() -> None:
    assert parse_extend("extend-trial acme") == ("acme", None)
    assert parse_extend('extend-trial acme corp "IT review takes two weeks"') == (
        "acme corp",
        "IT review takes two weeks",
    )
    assert parse_extend("Extend-Trial  hooli   “legal is slow”") == ("hooli", "legal is slow")
    with pytest.raises(ValueError, match="Usage"):
        parse_extend("extend-trial")
    assert "extend-trial" in USAGE


def test_every_trial_message_passes_slack_limits() -> None:
    history = [
        ExtensionLine(1, 7, "granted", DANA, date(2026, 2, 1)),
        ExtensionLine(2, 14, "granted", DANA, date(2026, 2, 8), "x" * 5000),
    ]
    request = ApprovalRequest(
        7, "Hooli " * 100, "Dana", DANA, "why " * 2000, 3, 14, date(2026, 3, 5), history
    )
    payloads = [
        trial_reply(
            TrialReply(
                kind=k,
                account_name="Hooli Labs",
                detail="d" * 4000,
                step=2,
                days=14,
                previous_end=date(2026, 3, 1),
                new_end=date(2026, 3, 15),
                approver=MAYA,
            )
        )
        for k in (
            "extended",
            "needs_justification",
            "approval_requested",
            "pending",
            "not_possible",
            "failed",
        )
    ]
    payloads += [approval_request(request)]
    for decision in ("approved", "declined", "failed"):
        decided = ApprovalRequest(
            **{
                **request.__dict__,
                "decision": decision,
                "decided_by": MAYA,
                "new_end": date(2026, 3, 19),
                "error": "e" * 3000,
            }
        )
        payloads += [approval_request(decided), decision_notice(decided)]
    for payload in payloads:
        assert validate_message(payload) == []
    buttons = [b for b in approval_request(request)["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons[0]["elements"]] == ["trial_approve", "trial_decline"]


# ---------------------------------------------------------------------------------------
# The policy's three branches through Slack and Stripe


def test_trial_extension_policy_end_to_end(bot: BotHarness, stripe_fake: FakeStripe) -> None:
    slack = SlackSender(bot.events_url, SECRET)
    start = _trial_end(stripe_fake)

    # 1. The first extension is automatic: 7 days, end date only.
    reply = _ask(bot, slack, DANA, "extend-trial hooli", "first")
    assert "extended by 7 days" in _text(reply) and "12 Mar 2026" in _text(reply)
    assert _updates(stripe_fake) == [
        {"trial_end": str(start + 7 * DAY), "proration_behavior": "none"}
    ]
    assert _trial_end(stripe_fake) == start + 7 * DAY

    # 2. The second needs a written reason; without one nothing is sent to Stripe.
    reply = _ask(bot, slack, DANA, "extend-trial hooli", "no-reason")
    assert "needs a written reason" in _text(reply)
    assert len(_updates(stripe_fake)) == 1
    reply = _ask(
        bot, slack, DANA, 'extend-trial hooli "security review ends on the 20th"', "second"
    )
    assert "extended by 14 days" in _text(reply)
    assert _trial_end(stripe_fake) == start + 21 * DAY

    # 3. A third goes to the manager, with buttons, and changes nothing yet.
    reply = _ask(bot, slack, DANA, 'extend-trial hooli "board meeting moved"', "third")
    assert f"<@{MAYA}> has been asked" in _text(reply)
    dm = bot.fake.wait_for("chat.postMessage")[-1].args
    assert validate_message(dm) == []
    assert "board meeting moved" in _text(dm) and "Approve" in _text(dm)
    assert "security review ends on the 20th" in _text(dm)  # the history shows step 2's reason
    assert _trial_end(stripe_fake) == start + 21 * DAY
    assert _rows(bot.url) == [(1, "granted", 7), (2, "granted", 14), (3, "pending", 14)]
    with session_factory(bot.url)() as s:
        request_id = s.scalars(
            select(TrialExtension.id).where(TrialExtension.status == "pending")
        ).one()

    # Asking again while it waits does not ask twice.
    reply = _ask(bot, slack, DANA, 'extend-trial hooli "please"', "again")
    assert "already waiting" in _text(reply)
    assert len(bot.fake.calls_to("chat.postMessage")) == 1

    # Another CSM cannot decide; the manager approves; a second click changes nothing.
    _click(bot, slack, KEN, "trial_approve", str(request_id), "ken")
    assert f"Only <@{MAYA}>" in _text(bot.wait_response("ken").args)
    assert _rows(bot.url)[-1] == (3, "pending", 14)
    _click(bot, slack, MAYA, "trial_approve", str(request_id), "maya")
    updated = bot.wait_response("maya").args
    assert updated.get("replace_original") is True and "Approved by" in _text(updated)
    assert "Approve" not in json.dumps([b for b in updated["blocks"] if b["type"] == "actions"])
    assert _trial_end(stripe_fake) == start + 35 * DAY
    notice = bot.fake.wait_for("chat.postMessage", 2)[-1].args
    assert "approved extension 3" in _text(notice)
    _click(bot, slack, MAYA, "trial_approve", str(request_id), "maya-again")
    assert "Already approved" in _text(bot.wait_response("maya-again").args)
    assert len(_updates(stripe_fake)) == 3  # 7 + 14 + 14 days, each sent once
    assert all(set(u) == {"trial_end", "proration_behavior"} for u in _updates(stripe_fake))

    assert _rows(bot.url) == [(1, "granted", 7), (2, "granted", 14), (3, "granted", 14)]
    assert _audit(bot.url) == [
        ("trial_extension_granted", DANA),
        ("trial_extension_granted", DANA),
        ("trial_extension_requested", DANA),
        ("trial_extension_approved", MAYA),
    ]
    with session_factory(bot.url)() as s:
        sub = s.scalars(select(Subscription).where(Subscription.external_id == SUB)).one()
        assert sub.trial_end == (TRIAL_END + timedelta(days=35)).date()


# ---------------------------------------------------------------------------------------
# Service-level branches: decline, refusals, Stripe saying no


def _viewer(session: Any, slack_id: str, email: str) -> Any:
    return resolve_viewer(session, CONFIG, slack_id, email)


def _extend(url: str, who: str, email: str, query: str, why: str | None = None) -> Any:
    with session_scope(url) as s:
        return trials.request_extension(
            s, CONFIG, _viewer(s, who, email), query, why, NOW, StripeTrials(sleep=lambda _: None)
        )


def test_declined_request_changes_nothing_and_can_be_asked_again(
    db_url: str, stripe_fake: FakeStripe
) -> None:
    _workspace(db_url)
    _extend(db_url, DANA, "dana@trial.example", "hooli")
    _extend(db_url, DANA, "dana@trial.example", "hooli", "reason two")
    asked = _extend(db_url, DANA, "dana@trial.example", "hooli", "reason three")
    assert isinstance(asked, trials.Requested) and asked.approver == MAYA
    before = _trial_end(stripe_fake)
    with session_scope(db_url) as s:
        decided = trials.decide(
            s,
            CONFIG,
            _viewer(s, MAYA, "maya@trial.example"),
            asked.request.extension_id,
            False,
            NOW,
            StripeTrials(),
        )
    assert decided.changed and decided.request.decision == "declined"
    assert "declined extension 3" in _text(decision_notice(decided.request))
    assert _trial_end(stripe_fake) == before
    again = _extend(db_url, DANA, "dana@trial.example", "hooli", "new facts")
    assert isinstance(again, trials.Requested) and again.reply.step == 3
    assert _rows(db_url)[-2:] == [(3, "declined", 14), (3, "pending", 14)]


def test_refusals_name_the_problem(db_url: str, stripe_fake: FakeStripe) -> None:
    _workspace(db_url)
    not_trial = _extend(db_url, DANA, "dana@trial.example", "paid co")
    assert not_trial.kind == "not_possible" and "no running trial" in not_trial.detail
    unknown = _extend(db_url, DANA, "dana@trial.example", "globex")
    assert unknown.kind == "not_possible" and "no account of yours" in unknown.detail
    with session_scope(db_url) as s, pytest.raises(PermissionError):
        stranger = resolve_viewer(s, CONFIG, "U0NOBODY", "nobody@elsewhere.example")
        trials.request_extension(s, CONFIG, stranger, "hooli", None, NOW, StripeTrials())
    assert _updates(stripe_fake) == [] and _rows(db_url) == []


def test_stripe_refusal_grants_nothing(db_url: str, stripe_fake: FakeStripe) -> None:
    """The local copy says trialing, Stripe says canceled: nothing is extended, the CSM
    reads Stripe's reason, and the step stays available."""
    _workspace(db_url)
    stripe_fake.objects["subscriptions"] = [_stripe_subscription(status="canceled")]
    failed = _extend(db_url, DANA, "dana@trial.example", "hooli")
    assert failed.kind == "failed" and "canceled in Stripe" in failed.detail
    assert _updates(stripe_fake) == []
    assert _rows(db_url) == [(1, "failed", 7)]
    assert ("trial_extension_failed", DANA) in _audit(db_url)
    stripe_fake.objects["subscriptions"] = [_stripe_subscription()]
    stripe_fake.fail("subscriptions/" + SUB, 503, times=1)  # retried by the shared policy
    ok = _extend(db_url, DANA, "dana@trial.example", "hooli")
    assert ok.kind == "extended" and ok.step == 1
    assert _rows(db_url) == [(1, "failed", 7), (1, "granted", 7)]
