"""Every Block Kit builder, small and huge, stays inside Slack's limits.

Each builder's output for ordinary and oversized view models (see ``digest_samples``) goes
through the independent validator, is checked for unescaped user text, and its fallback
text for markup. What each builder shows is tested next to its module (``test_cards``,
``test_digest_blocks``, ``test_home``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from digest_samples import (
    AS_OF,
    COMPONENTS,
    NASTY,
    NOW,
    RETENTION,
    alert,
    assert_escaped,
    card,
    huge_portfolio,
    manager,
)

from digests.cards import (
    account_list,
    alert_card,
    health_card,
    help_message,
    pick_list,
    refusal,
)
from digests.digest_blocks import csm_digest, manager_digest
from digests.limits import validate_message
from digests.views import CsmDigest, PickList


def all_payloads() -> dict[str, dict[str, Any]]:
    big = huge_portfolio()
    long_alert = alert(
        9,
        account_name=NASTY * 10,
        label=NASTY * 10,
        message=NASTY * 200,
        action=NASTY * 200,
        crm_url="https://e.com/" + "a" * 4000,
    )
    return {
        "card": health_card(card()),
        "card_huge": health_card(
            card(
                account=big[3],
                components=[{**c, "detail": NASTY * 100} for c in COMPONENTS] * 3,
                reasons=[NASTY * 50] * 40,
                change_lines=[NASTY * 60] * 40,
                flags=[
                    {
                        "code": "x",
                        "label": NASTY * 9,
                        "severity": "warning",
                        "action": NASTY * 40,
                        "detail": NASTY * 40,
                    }
                ]
                * 30,
                alerts=[alert(i, message=NASTY * 30) for i in range(400)],
                trend=[(AS_OF - timedelta(days=k), 50 + k % 9) for k in range(400)],
            )
        ),
        "card_first_snapshot": health_card(card(change_lines=[], trend=[], alerts=[], flags=[])),
        "pick": pick_list(PickList("acme", candidates=big[:3])),
        "pick_huge": pick_list(PickList(NASTY * 40, candidates=big)),
        "pick_none": pick_list(PickList(NASTY * 40, closest=[NASTY * 10] * 50)),
        "refusal": refusal(NASTY),
        "help": help_message(),
        "list": account_list("Your accounts", big[:4], "Nothing here", 10),
        "list_huge": account_list(NASTY * 20, big, NASTY * 100, 500),
        "list_empty": account_list(
            "At-risk accounts", [], "None of your accounts are at risk.", 10
        ),
        "alert_open": alert_card(alert(), NOW),
        "alert_huge": alert_card(long_alert, NOW),
        "alert_ack": alert_card(
            alert(
                status="acknowledged",
                acknowledged_by="U0DANA",
                acknowledged_at=datetime(2026, 11, 25, 9, 30),
            ),
            NOW,
        ),
        "csm": csm_digest(CsmDigest("Priscilla Tan", AS_OF, 120, big[:12], big[12:15], 4)),
        "csm_huge": csm_digest(
            CsmDigest(NASTY * 20, AS_OF, 500, big, big, 300,
                      held_back=[(NASTY * 9, NASTY * 4, NASTY * 30)] * 40),
            limit=500, expansion_limit=500,
        ),
        "csm_empty": csm_digest(CsmDigest("Priscilla Tan", AS_OF, 40, [], [], 0)),
        "manager": manager_digest(manager(big[:5], big[5:10])),
        "manager_huge": manager_digest(manager(big, big), limit=500),
        "manager_retention": manager_digest(replace(manager(big, big), retention=RETENTION),
                                            limit=500),
    }


PAYLOADS = all_payloads()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_every_message_is_within_slacks_limits(name: str) -> None:
    payload = PAYLOADS[name]
    assert validate_message(payload) == []
    assert payload["text"].strip()


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_user_text_is_escaped_everywhere(name: str) -> None:
    assert_escaped(PAYLOADS[name])


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_fallback_text_is_plain_words(name: str) -> None:
    text = PAYLOADS[name]["text"]
    assert "\n|" not in text and "|---" not in text  # no markdown tables
    assert "*" not in text  # no bold markup in notifications
