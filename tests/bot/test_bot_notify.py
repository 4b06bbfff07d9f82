"""Delivery through the Web API: alert cards, digests with charts, rate limits, the CLI.

``pulse.services.notify`` (what to send), ``pulse.jobs.deliver`` (sending it through
``bot.delivery``) and the `pulse alerts` / `pulse digest` commands run against
the sample workspace and the fake Slack API; assertions are on the recorded API calls
(what would have reached Slack) and on the database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.harness import NOW, TOKEN, load_sample_workspace, owners, prepare_database
from fakes.slack_api import FakeSlack
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.delivery import SlackDelivery, web_client
from digests.limits import validate_message
from pulse.cli.main import app as cli
from pulse.jobs.deliver import post_alert_cards, send_digests
from pulse.kernel.config import PulseConfig, parse_config
from pulse.services.alerts import AlertChanges, alert_item, evaluate_alerts
from pulse.services.notify import payload_as_text
from storage.db import get_engine, session_factory, session_scope
from storage.models import Alert, AuditLog, ScoreSnapshot, WatchedAccount

CONFIG = PulseConfig()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("bot_notify"))
    load_sample_workspace(url, CONFIG)
    yield url
    if request.param == "sqlite":
        get_engine(url).dispose()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as f:
        yield f


def _payloads(fake: FakeSlack, method: str) -> list[dict[str, object]]:
    return [
        {"blocks": c.args.get("blocks"), "text": c.args.get("text")} for c in fake.calls_to(method)
    ]


def _alert_count(url: str) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(Alert)) or 0


# ---------------------------------------------------------------------------------------
# The CLI (first: they need a database without alerts yet)


@pytest.fixture
def cli_env(loaded: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> str:
    monkeypatch.chdir(tmp_path)  # no stray pulse.yml
    monkeypatch.delenv("PULSE_CONFIG", raising=False)
    for var in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABASE_URL", loaded)
    return loaded


def test_digest_dry_run_prints_text_or_json_without_slack(cli_env: str) -> None:
    who = ["--user", "BEN.GOLDBERG@pulse-demo.example"]
    result = CliRunner().invoke(cli, ["digest", "--dry-run", *who])
    assert result.exit_code == 0, result.output
    assert "Good morning, Ben" in result.output  # as it reads
    assert '"blocks"' not in result.output and "&amp;" not in result.output
    assert "<!date" not in result.output and "|" not in result.output.split("Good morning")[1]
    assert "1 digest(s) built, nothing sent" in result.output
    result = CliRunner().invoke(cli, ["digest", "--dry-run", "--json", *who])
    assert result.exit_code == 0, result.output
    assert '"blocks": [' in result.output and '"type": "header"' in result.output


def test_digest_dry_run_for_a_manager_includes_the_chart(cli_env: str) -> None:
    result = CliRunner().invoke(cli, ["digest", "--dry-run", "--user", "U0CSM0001"])
    assert result.exit_code == 0, result.output
    assert "manager digest -> U0CSM0001" in result.output
    assert "bytes PNG" in result.output


def test_digest_for_an_unknown_user_fails(cli_env: str) -> None:
    result = CliRunner().invoke(cli, ["digest", "--dry-run", "--user", "nobody@x.example"])
    assert result.exit_code == 1
    assert "No CSM or manager matches" in result.output


def test_commands_needing_slack_name_the_missing_variable(cli_env: str) -> None:
    runner = CliRunner()
    for args, var in (
        (["digest"], "SLACK_BOT_TOKEN"),
        (["alerts"], "SLACK_BOT_TOKEN"),
        (["serve"], "SLACK_BOT_TOKEN"),
        (["serve", "--socket"], "SLACK_APP_TOKEN"),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert var in result.output, (args, result.output)


def test_serve_needs_the_signing_secret(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2 and "SLACK_SIGNING_SECRET" in result.output


def test_alerts_dry_run_prints_cards_and_stores_nothing(cli_env: str) -> None:
    before = _alert_count(cli_env)
    result = CliRunner().invoke(cli, ["alerts", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "alert message -> U0CSM" in result.output and "[Acknowledge]" in result.output
    assert '"action_id"' not in result.output  # readable text; --json for the JSON
    assert "nothing posted or stored" in " ".join(result.output.split())
    assert _alert_count(cli_env) == before


def test_alerts_baseline_dry_run_summarises_what_holds(cli_env: str) -> None:
    """After backfilling history, `pulse alerts --baseline` summarises what holds now."""
    result = CliRunner().invoke(cli, ["alerts", "--dry-run", "--baseline"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "Dry run: 0 raised" in out and "already holding when Pulse started watching" in out
    assert "when Pulse started watching" in out and "[Acknowledge]" not in out
    assert _alert_count(cli_env) == 0  # nothing stored, the accounts still watched
    with session_factory(cli_env)() as s:
        assert s.scalar(select(func.count()).select_from(WatchedAccount))


def test_alerts_command_posts_cards_through_slack_api_url(
    cli_env: str, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", fake.base_url)
    result = CliRunner().invoke(cli, ["alerts"])
    assert result.exit_code == 0, result.output
    posted = fake.calls_to("chat.postMessage")
    assert posted and "alert(s) posted in" in result.output
    assert len({c.args["channel"] for c in posted}) == len(posted)  # one message a person
    with session_factory(cli_env)() as s:
        stored = s.scalar(select(func.count()).where(Alert.slack_ts.is_not(None)))
    assert stored and stored >= len(posted)
    # Nothing new the second time: every live alert already has its card.
    fake.reset()
    result = CliRunner().invoke(cli, ["alerts"])
    assert result.exit_code == 0, result.output
    assert fake.calls_to("chat.postMessage") == []


# ---------------------------------------------------------------------------------------
# Alert cards


def test_cards_go_to_the_owner_dm_and_record_where(loaded: str, fake: FakeSlack) -> None:
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    with session_scope(loaded) as session:
        live = session.scalars(select(Alert).where(Alert.status == "open").limit(3)).all()
        items = [alert_item(session, a) for a in live]
        report = post_alert_cards(delivery, session, CONFIG, AlertChanges(raised=items), NOW)
    assert len(report.posted) == len(items) and not report.failed
    opens = fake.calls_to("conversations.open")
    assert {c.args["users"] for c in opens} == {i.owner_slack_id for i in items}
    for call in fake.calls_to("chat.postMessage"):
        assert call.args["channel"].startswith("D")  # the DM opened, not a user id
        assert call.args["unfurl_links"] is False
    assert all(validate_message(p) == [] for p in _payloads(fake, "chat.postMessage"))
    with session_factory(loaded)() as s:
        for alert_id, channel, ts in report.posted:
            row = s.get(Alert, alert_id)
            assert row is not None and (row.slack_channel, row.slack_ts) == (channel, ts)


def test_resolved_alert_updates_its_card(loaded: str, fake: FakeSlack) -> None:
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    with session_scope(loaded) as session:
        alert = session.scalars(
            select(Alert)
            .where(
                Alert.status == "open", Alert.rule != "tier_crossed", Alert.slack_ts.is_not(None)
            )
            .limit(1)
        ).one()
        snapshot = session.scalars(
            select(ScoreSnapshot)
            .where(ScoreSnapshot.account_id == alert.account_id)
            .order_by(ScoreSnapshot.as_of.desc())
        ).first()
        assert snapshot is not None
        snapshot.flags = [f for f in snapshot.flags if f.get("code") != alert.rule]
        session.flush()
        changes = evaluate_alerts(session, CONFIG, NOW)
        assert alert.id in {i.id for i in changes.resolved}
        report = post_alert_cards(delivery, session, CONFIG, changes, NOW)
        channel, ts = alert.slack_channel, alert.slack_ts
    assert (alert.id, channel, ts) in report.updated
    update = next(c for c in fake.calls_to("chat.update") if c.args["ts"] == ts)
    assert update.args["channel"] == channel
    assert ":heavy_check_mark: Resolved" in str(update.args["blocks"])
    assert validate_message({"blocks": update.args["blocks"], "text": update.args["text"]}) == []


def test_ratelimited_call_is_retried_after_retry_after(loaded: str, fake: FakeSlack) -> None:
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    fake.fail_next("chat.postMessage", 1, "ratelimited", retry_after=1)
    with session_scope(loaded) as session:
        alert = session.scalars(select(Alert).where(Alert.status == "open").limit(1)).one()
        items = [alert_item(session, alert)]
        report = post_alert_cards(delivery, session, CONFIG, AlertChanges(raised=items), NOW)
    attempts = fake.calls_to("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 1.0  # waited for Retry-After
    assert len(report.posted) == 1 and not report.failed


def test_invalid_auth_is_reported_not_raised(loaded: str, fake: FakeSlack) -> None:
    delivery = SlackDelivery(web_client("xoxb-revoked", fake.base_url))
    with session_scope(loaded) as session:
        alert = session.scalars(select(Alert).where(Alert.status == "open").limit(1)).one()
        before = (alert.slack_channel, alert.slack_ts)
        items = [alert_item(session, alert)]
        report = post_alert_cards(delivery, session, CONFIG, AlertChanges(raised=items), NOW)
        assert (alert.slack_channel, alert.slack_ts) == before
    assert report.failed == [(alert.id, "invalid_auth")] and not report.posted


def test_unrouted_alert_is_not_posted(loaded: str, fake: FakeSlack) -> None:
    config = parse_config({"slack": {"alert_routes": [{"severity": "critical", "to": "owner"}]}})
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    with session_scope(loaded) as session:
        alert = session.scalars(select(Alert).where(Alert.severity == "warning").limit(1)).one()
        report = post_alert_cards(
            delivery, session, config, AlertChanges(raised=[alert_item(session, alert)]), NOW
        )
    assert report.unrouted == [alert.id] and fake.calls == []


# ---------------------------------------------------------------------------------------
# Digests


def test_digests_dm_each_csm_and_manager_with_a_chart(loaded: str, fake: FakeSlack) -> None:
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    with session_factory(loaded)() as session:
        messages, report = send_digests(delivery, session, CONFIG, NOW)
    people = {o.slack_user_id: o for o in owners(loaded)}
    managers = {sid for sid, o in people.items() if o.is_manager}
    csm_msgs = [m for m in messages if m.kind == "csm"]
    mgr_msgs = [m for m in messages if m.kind == "manager"]
    assert {m.destination for m in mgr_msgs} == managers
    assert {m.destination for m in csm_msgs} == set(people) - managers
    assert not report.failed and len(report.sent) == len(messages)
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == len(messages)
    assert all(validate_message(p) == [] for p in _payloads(fake, "chat.postMessage"))
    # Every DM went through conversations.open, one call per person.
    opened = [c.args["users"] for c in fake.calls_to("conversations.open")]
    assert sorted(opened) == sorted(people)
    # files_upload_v2: URL, upload to it, complete into the manager's DM.
    completes = fake.calls_to("files.completeUploadExternal")
    assert len(completes) == len(managers) == len(report.charts)
    assert {c.args["channel_id"] for c in completes} == {"D" + m[1:] for m in managers}
    uploads = fake.calls_to("file_upload")
    assert uploads and all(u.args["length"] > 1000 for u in uploads)
    assert all(fake.uploads[u.args["file_id"]].startswith(b"\x89PNG") for u in uploads)


def test_manager_digest_channel_and_chart_off(loaded: str, fake: FakeSlack) -> None:
    config = parse_config({"slack": {"manager_digest_channel": "C0DIGEST01", "chart": False}})
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    with session_factory(loaded)() as session:
        messages, report = send_digests(delivery, session, config, NOW)
    mgr = [m for m in messages if m.kind == "manager"]
    assert [m.destination for m in mgr] == ["C0DIGEST01"]
    assert "All accounts" in mgr[0].payload["text"] or "All accounts" in payload_as_text(
        mgr[0].payload
    )
    assert "C0DIGEST01" in {c.args["channel"] for c in fake.calls_to("chat.postMessage")}
    assert fake.calls_to("files.getUploadURLExternal") == []
    assert not report.failed


def test_digest_dry_run_sends_nothing(loaded: str, fake: FakeSlack) -> None:
    with session_factory(loaded)() as session:
        messages, report = send_digests(None, session, CONFIG, NOW, dry_run=True, force=True)
    assert messages and not report.sent and fake.calls == []
    for m in messages:
        assert validate_message(m.payload) == []


def test_ratelimited_digest_is_retried(loaded: str, fake: FakeSlack) -> None:
    delivery = SlackDelivery(web_client(TOKEN, fake.base_url))
    fake.fail_next("conversations.open", 1, "ratelimited", retry_after=1)
    with session_factory(loaded)() as session:
        messages, report = send_digests(
            delivery, session, CONFIG, NOW, only=lambda oid, sid: sid == "U0CSM0002", force=True
        )
    assert len(messages) == 1 and not report.failed and len(report.sent) == 1
    assert [c.status for c in fake.calls_to("conversations.open", ok_only=False)] == [429, 200]


def test_audit_rows_for_evaluations(loaded: str) -> None:
    with session_factory(loaded)() as s:
        raised = s.scalar(
            select(func.count()).where(AuditLog.action == "alert_raised", AuditLog.actor == "pulse")
        )
    assert raised and raised > 0
