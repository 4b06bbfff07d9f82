"""Issue 18: names from the data can never ping, link or format anything in Slack.

Every message builder of :mod:`digests` renders view models whose every free text (account,
owner, contact and CSM names, reasons, alert messages, feature and component names, flags,
scopes, playbook names) is :data:`HOSTILE`; then every mrkdwn text of the payload (block
texts, fields and the top-level ``text`` Slack also parses as mrkdwn) is checked: no
mention, channel link, special mention, URL, formatting or block quote survives from the
data. The builder list is checked against the functions :mod:`digests` exports, so a new
builder cannot be left out of this test.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from digest_samples import AS_OF, NOW, RETENTION, alert, all_mrkdwn, card, line, manager

import digests.text as digests_text
from digests import cards
from digests.cards import (
    account_list,
    alert_bundle,
    alert_card,
    health_card,
    pick_list,
    reason_modal,
)
from digests.digest_blocks import csm_digest, manager_digest
from digests.home import home_view
from digests.note_blocks import NoteReply, note_button, note_modal, note_reply
from digests.override_blocks import (
    ExpiryNotice,
    OverrideLine,
    OverrideReply,
    expiry_notice,
    override_modal,
    override_reply,
    override_text,
)
from digests.pipeline_blocks import pipeline_failure
from digests.playbook_blocks import playbook_message, reminder_message
from digests.preference_blocks import SettingsView, health_card_with_preferences, settings_modal
from digests.text import esc, escape
from digests.trial_blocks import (
    ApprovalRequest,
    ExtensionLine,
    TrialReply,
    approval_request,
    decision_notice,
    not_the_approver,
    trial_reply,
)
from digests.views import (
    AlertBundle,
    BaselineNote,
    CsmDigest,
    HomeView,
    OutcomeRow,
    PickList,
    RenewalRow,
    ScorePart,
)

HOSTILE = (
    "<!channel> <!here> <@U123> <#C1> <!subteam^S1> <http://evil|click> *bold* _it_ ~s~ "
    "`code` x&amp;y\n> quoted"
)
"""Every way a name could become markup in Slack's mrkdwn."""
FORBIDDEN = ("<!channel>", "<!here>", "<@U123>", "<#C1>", "<!subteam", "<http://evil",
             "x&amp;y", "*bold*", "_it_", "~s~", "`code`")
"""What would survive from :data:`HOSTILE` if a builder forgot to escape it."""
LEGIT_USERS = {"U0PRISCILLA", "U0AUTHOR", "U0CSM", "U0MANAGER"}
OWN_TOKEN = re.compile(
    r"<(?:@(?P<user>[UW][A-Z0-9]+)|!date\^[^<>]+|#CCATCHALL|https://crm\.example\.com/[^|<>]+\|[^<>]*)>"
)
"""Markup the builders make themselves: mentions of real user ids, dates, the catch-all
channel, CRM links."""
CODE_SPAN = re.compile(r"`[^`\n]*`")


def _h(i: int = 1, **kw: Any) -> Any:
    return line(i, name=f"{HOSTILE} {i}", domain=HOSTILE, owner_name=HOSTILE, why=HOSTILE,
                renewal_risk=HOSTILE, peer_note=HOSTILE, **kw)


def _hostile_alert(status: str = "open", **kw: Any) -> Any:
    return alert(7, status=status, account_name=HOSTILE, label=HOSTILE, message=HOSTILE,
                 action=HOSTILE, quiet_reason=HOSTILE, reopen_reason=HOSTILE,
                 reasons=(ScorePart(HOSTILE, 1.0, 20.0, HOSTILE),), stale=(HOSTILE,),
                 peer_note=HOSTILE, **kw)


def _override(**kw: Any) -> OverrideLine:
    base: dict[str, Any] = dict(account_id=1, account_name=HOSTILE, kind="sentiment",
                                sentiment="red", score=None, reason=HOSTILE, author="U0AUTHOR",
                                author_name=HOSTILE, expires_on=date(2027, 1, 31))
    base.update(kw)
    return OverrideLine(**base)


def _health() -> dict[str, Any]:
    components = [{"key": "usage", "label": HOSTILE, "weight": 0.5, "effective_weight": 0.5,
                   "value": 0.4, "points": 20.0, "has_data": True, "detail": HOSTILE,
                   "stale": [HOSTILE], "raw": {}},
                  {"key": "nps", "label": HOSTILE, "weight": 0.5, "points": 0.0,
                   "has_data": False, "detail": HOSTILE}]
    flags = [{"code": "x", "label": HOSTILE, "severity": "critical", "detail": HOSTILE,
              "action": HOSTILE}]
    return health_card(card(account=_h(1), account_tier=HOSTILE, lifecycle=HOSTILE,
                            components=components, reasons=[HOSTILE], change_lines=[HOSTILE],
                            flags=flags, alerts=[_hostile_alert(), _hostile_alert()],
                            csm_entry=override_text(_override()), stale=[HOSTILE]))


def _csm() -> dict[str, Any]:
    return csm_digest(CsmDigest(
        csm_name=HOSTILE, as_of=AS_OF, accounts_total=3, attention=[_h(1), _h(2)],
        expansion=[_h(3)], open_alerts=2, held_back=[(HOSTILE, HOSTILE, HOSTILE)] * 2,
        stale=[HOSTILE], following=[_h(4)]))


def _manager() -> dict[str, Any]:
    base = manager([_h(1, change=-9.0)], [_h(2, change=4.0)])
    d = base.__class__(**{
        **base.__dict__, "scope": HOSTILE, "retention": RETENTION, "stale": [HOSTILE],
        "renewals": [RenewalRow(HOSTILE, 2, 1e3)], "unreachable": [HOSTILE] * 6,
        "csm_entries": [(f"*{esc(HOSTILE)}*: {override_text(_override())}", HOSTILE)],
        "catch_all_alerts": 3, "catch_all_channel": "CCATCHALL",
        "outcomes": [OutcomeRow(HOSTILE, 3, 2, 1, 1, 1, 1)]})
    return manager_digest(d)


def _trial_replies() -> list[dict[str, Any]]:
    kinds = ("extended", "needs_justification", "approval_requested", "pending",
             "not_possible", "failed")
    return [trial_reply(TrialReply(kind=k, account_name=HOSTILE, detail=HOSTILE, step=3, days=7,  # type: ignore[arg-type]
                                   previous_end=AS_OF, new_end=AS_OF + timedelta(days=7),
                                   approver="U0MANAGER")) for k in kinds]


def _approvals() -> list[ApprovalRequest]:
    history = [ExtensionLine(step=1, days=7, status="granted", requested_by="U0CSM", at=AS_OF,
                             justification=HOSTILE, decided_by="U0MANAGER")]
    base = dict(extension_id=5, account_name=HOSTILE, owner_name=HOSTILE, requested_by="U0CSM",
                justification=HOSTILE, step=3, days=14, trial_end=AS_OF, history=history)
    return [ApprovalRequest(**base),  # type: ignore[arg-type]
            *(ApprovalRequest(**base, decision=d, decided_by="U0MANAGER",  # type: ignore[arg-type]
                              new_end=AS_OF, error=HOSTILE)
              for d in ("approved", "declined", "failed"))]


STEPS = [{"name": HOSTILE, "status": "failed", "attempts": 2, "seconds": 1.5, "detail": HOSTILE},
         {"name": HOSTILE, "status": "ok", "attempts": 1, "seconds": 0.1, "detail": None}]

BUILDERS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "alert_card": lambda: [alert_card(_hostile_alert(s, acknowledged_by="U0CSM",
                                                     snoozed_by="U0CSM"), NOW)
                           for s in ("open", "acknowledged", "snoozed", "resolved")],
    "reason_modal": lambda: [reason_modal(_hostile_alert("acknowledged"), "7:C1:1.2")],
    "health_card": lambda: [_health()],
    "pick_list": lambda: [pick_list(PickList(HOSTILE, candidates=[_h(1), _h(2)])),
                          pick_list(PickList(HOSTILE, closest=[HOSTILE] * 3))],
    "account_list": lambda: [account_list(HOSTILE, [_h(1), _h(2)], HOSTILE, 10),
                             account_list(HOSTILE, [], HOSTILE, 10)],
    "help_message": lambda: [cards.help_message()],
    "not_scored": lambda: [cards.not_scored()],
    "refusal": lambda: [cards.refusal(HOSTILE)],
    "csm_digest": lambda: [_csm()],
    "manager_digest": lambda: [_manager()],
    "home_view": lambda: [home_view(HomeView(HOSTILE, HOSTILE, AS_OF, [_h(1), _h(2)], 1))],
    "override_reply": lambda: [
        override_reply(OverrideReply("set", HOSTILE, line=_override(), previous=_override(),
                                     disagreement=HOSTILE)),
        override_reply(OverrideReply("cleared", HOSTILE, previous=_override())),
        override_reply(OverrideReply("refused", HOSTILE, detail=HOSTILE))],
    "expiry_notice": lambda: [expiry_notice(ExpiryNotice(_override(), 3))],
    "override_modal": lambda: [override_modal(HOSTILE, 1, AS_OF, _override())],
    "note_button": lambda: [{"blocks": [{"type": "actions", "elements": [note_button(1)]}]}],
    "note_modal": lambda: [note_modal(HOSTILE, 1, "salesforce"), note_modal(HOSTILE, 1, HOSTILE)],
    "note_reply": lambda: [
        note_reply(NoteReply("logged", HOSTILE, "hubspot", HOSTILE,
                             crm_url="https://crm.example.com/a/1")),
        note_reply(NoteReply("logged", HOSTILE, "salesforce", HOSTILE, crm_url="javascript:x")),
        note_reply(NoteReply("failed", HOSTILE, "salesforce", HOSTILE, detail=HOSTILE))],
    "trial_reply": _trial_replies,
    "approval_request": lambda: [approval_request(r) for r in _approvals()],
    "decision_notice": lambda: [decision_notice(r) for r in _approvals()[1:]],
    "not_the_approver": lambda: [not_the_approver(HOSTILE), not_the_approver("U0MANAGER")],
    "playbook_message": lambda: [playbook_message(HOSTILE, HOSTILE, HOSTILE, "at_risk", 40.0,
                                                  "U0CSM", escalation=True)],
    "reminder_message": lambda: [reminder_message(HOSTILE, HOSTILE, HOSTILE)],
    "pipeline_failure": lambda: [pipeline_failure(AS_OF, "manual", STEPS, HOSTILE)],
    "health_card_with_preferences": lambda: [
        health_card_with_preferences(card(account=_h(1), reasons=[HOSTILE]), muted=m,
                                     following=f) for m, f in ((False, False), (True, True))],
    "settings_modal": lambda: [settings_modal(SettingsView(
        None, "warning", ["sat"], None, "06:00", HOSTILE, [(HOSTILE, AS_OF)] * 12,
        [HOSTILE] * 3))],
    "alert_bundle": lambda: [alert_bundle(AlertBundle(
        [_hostile_alert(s, acknowledged_by="U0CSM") for s in ("open", "acknowledged")],
        held=2, baseline=BaselineNote(3, 1)))],
}


def _exported_builders() -> set[str]:
    """Every public function of :mod:`digests` that returns a payload (the Block Kit
    primitives of :mod:`digests.blocks` and the row buttons aside)."""
    names = set()
    # the package's folder from one of its modules: ``tests/digests`` (on the test path)
    # can shadow ``digests.__path__`` as a namespace package
    root = str(Path(digests_text.__file__).parent)
    for info in pkgutil.walk_packages([root], "digests."):
        if info.name in {"digests.blocks", "digests.rows"}:
            continue
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_") \
                    and inspect.signature(fn).return_annotation == "dict[str, Any]":
                names.add(name)
    return names


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    """Every text Slack parses as mrkdwn: mrkdwn objects and the top-level ``text``."""
    return [t for t in (all_mrkdwn(payload), payload.get("text")) if t]


def assert_inert(text: str) -> None:
    for token in FORBIDDEN:
        assert token not in text, f"{token!r} survived in {text[:300]!r}"
    for match in OWN_TOKEN.finditer(text):
        assert match["user"] is None or match["user"] in LEGIT_USERS, match[0]
    rest = OWN_TOKEN.sub("", text)
    assert "<" not in rest and ">" not in rest, rest[:300]
    outside_code = CODE_SPAN.sub("", rest)
    assert "`" not in outside_code, f"a backtick from the data opens code in {rest[:300]!r}"
    assert not re.search(r"(^|\n)\s*&gt;", rest), f"a block quote from the data in {rest[:300]!r}"


def test_every_builder_is_checked() -> None:
    assert _exported_builders() == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_hostile_names_stay_text(name: str) -> None:
    payloads = BUILDERS[name]()
    assert payloads
    for payload in payloads:
        for text in mrkdwn_texts(payload):
            assert_inert(text)


def test_hostile_names_are_still_readable() -> None:
    """Escaped, not dropped: the reader still sees the name, formatting characters as
    look-alikes and Slack's control characters as themselves."""
    payload = playbook_message("Renewal", "Acme *Corp* <!channel>", "renews soon", None, None,
                               None)
    assert "Acme ∗Corp∗ &lt;!channel&gt;" in payload["text"]
    assert escape("a_b", code=True) == "a_b"
    assert escape("a`b", code=True) == "aˋb"
