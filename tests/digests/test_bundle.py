"""One person's new alerts of a run in one message: a line per account with its buttons,
what waits for the digest, the baseline once; inside Slack's limits whatever the data."""

from __future__ import annotations

from digest_samples import AS_OF, NASTY, alert, all_mrkdwn, assert_escaped, by_action, line

from digests.cards import alert_bundle
from digests.home import home_view
from digests.limits import validate_home, validate_message
from digests.views import AlertBundle, BaselineNote, HomeView


def test_each_open_alert_gets_a_line_and_its_buttons() -> None:
    bundle = AlertBundle(
        [alert(3, account_id=30, arr=120_000.0), alert(9, account_id=90, arr=8_000.0,
                                                        severity="warning")],
        held=6,
    )
    payload = alert_bundle(bundle)
    assert validate_message(payload) == []
    body = all_mrkdwn(payload)
    assert "$120k ARR" in body and "$8k ARR" in body
    assert body.index("$120k") < body.index("$8k")  # in the order given: largest ARR first
    assert [e["value"] for e in by_action(payload, "alert_ack")] == ["3", "9"]
    snooze = by_action(payload, "alert_snooze")[0]
    assert [o["value"] for o in snooze["options"]] == ["3:1d", "3:7d", "3:30d", "3:renewal"]
    assert [e["value"] for e in by_action(payload, "health_pick")] == ["30", "90"]  # full card
    block_ids = [b.get("block_id") for b in payload["blocks"] if b["type"] == "actions"]
    assert block_ids == ["bundle_3", "bundle_9"]  # never alert_<id>: a click re-renders it all
    assert "+6 more in your morning digest" in body
    assert payload["text"].startswith("2 new alerts: Evergreen Associates 1 (Invoice overdue)")
    assert "+6 more in your morning digest" in payload["text"]


def test_a_handled_alert_keeps_its_line_without_buttons() -> None:
    payload = alert_bundle(AlertBundle([
        alert(1, status="acknowledged", acknowledged_by="U0PRISCILLA"),
        alert(2, status="resolved"),
        alert(3, reopen_reason="score fell a further 12.0 points since Pulse started watching"),
    ]))
    body = all_mrkdwn(payload)
    assert "Acknowledged by <@U0PRISCILLA>" in body and "Resolved" in body
    assert "_Reopened:_ score fell a further 12.0 points" in body
    assert [e["value"] for e in by_action(payload, "alert_ack")] == ["3"]
    assert len(by_action(payload, "health_pick")) == 3
    assert validate_message(payload) == []


def test_the_baseline_is_one_line_even_alone() -> None:
    payload = alert_bundle(AlertBundle([], baseline=BaselineNote(30, 12)))
    assert validate_message(payload) == []
    body = all_mrkdwn(payload)
    assert (
        "12 of your accounts were already at risk when Pulse started watching "
        "(30 with open conditions in all): they alert again only if they get worse. "
        "See Pulse's Home tab."
    ) in body
    team = all_mrkdwn(alert_bundle(AlertBundle([], baseline=BaselineNote(4, 0, team=True))))
    assert "4 of your team's accounts already had open conditions" in team


def test_a_huge_bundle_with_nasty_data_fits_one_message() -> None:
    many = [
        alert(i, account_id=i, account_name=f"{NASTY} {i}" * 10, label=NASTY * 10,
              message=NASTY * 200, arr=1e9, reopen_reason=NASTY * 50)
        for i in range(1, 40)
    ]
    payload = alert_bundle(AlertBundle(many, held=3, baseline=BaselineNote(10**6, 10**5)))
    assert validate_message(payload) == []
    assert len(payload["blocks"]) <= 50
    assert_escaped(payload)
    shown = len(by_action(payload, "alert_ack"))
    assert shown == 23  # what fits in 50 blocks; the rest are counted with the held ones
    assert f"+{3 + 39 - shown} more in your morning digest" in all_mrkdwn(payload)


def test_the_home_tab_explains_the_baseline() -> None:
    view = home_view(HomeView("Priscilla Tan", "csm", AS_OF, [line(1)], 0,
                              baseline=BaselineNote(12, 5)))
    assert validate_home(view) == []
    assert "5 of your accounts were already at risk when Pulse started watching" in all_mrkdwn(
        view)
