"""The daily pipeline: every step, once a day, failures isolated and reported, retention.

The end-to-end runs use the real steps on the sample workspace with the fake Slack API;
the runner's own rules (retries, dependencies, one scheduled run a day) are shown with
small step functions handed to ``run_pipeline`` as its ``steps``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from factories import STORY_FLAGS, add_snapshot
from fakes.harness import TOKEN
from fakes.slack_api import FakeSlack
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from bot.delivery import SlackDelivery, web_client
from digests.limits import validate_message
from digests.pipeline_blocks import pipeline_failure
from pulse.cli.main import app as cli
from pulse.jobs.pipeline import (
    RunContext,
    Skipped,
    admin_reporter,
    missed_run_due,
    purge_usage,
    run_pipeline,
)
from pulse.jobs.scheduler import LeaderLock, PulseScheduler
from pulse.kernel.config import PulseConfig, parse_config
from storage.db import get_engine, session_factory, session_scope
from storage.models import Account, AuditLog, Contact, PipelineRun, ScoreSnapshot, UsageDaily

END = date(2026, 3, 2)
MORNING = datetime(2026, 3, 2, 6, 5)  # UTC


def _config(url: str, **extra: object) -> PulseConfig:
    data: dict[str, object] = {
        "sources": {"sample": {"end_date": END.isoformat(), "accounts": 60}},
        "schedule": {"retry_seconds": 0},
        **extra,
    }
    return parse_config(data).model_copy(update={"database_url": url})


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


def _runs(url: str) -> list[PipelineRun]:
    with session_factory(url)() as s:
        return list(s.scalars(select(PipelineRun).order_by(PipelineRun.id)))


# --- the real pipeline on the sample workspace -----------------------------------------


def test_a_morning_run_syncs_scores_alerts_and_sends_digests(
    db_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME", "HUBSPOT_ACCESS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    cfg = _config(db_url)
    delivery = SlackDelivery(web_client(TOKEN, slack.base_url))
    run = run_pipeline(cfg, now=MORNING, kind="scheduled", delivery=delivery)

    assert run is not None and run.status == "ok", run.steps if run else None
    steps = {s["name"]: s for s in run.steps}
    assert list(steps) == ["sync", "people", "score", "alerts", "playbooks", "writeback",
                           "digests", "retention"]
    assert steps["writeback"]["status"] == "skipped"
    assert "no CRM configured" in steps["writeback"]["detail"]
    assert all(steps[n]["status"] == "ok"
               for n in ("sync", "people", "score", "alerts", "digests"))
    assert steps["playbooks"]["status"] == "skipped"  # none in this pulse.yml
    with session_factory(db_url)() as s:
        live = s.scalar(select(func.count()).select_from(Account)
                        .where(Account.lifecycle != "churned"))
        assert live and s.scalar(select(func.count()).select_from(ScoreSnapshot)) == live
        by_scheduler = select(AuditLog.action).where(AuditLog.actor == "pulse scheduled run")
        actions = set(s.scalars(by_scheduler))
    assert actions == {f"pipeline.{n}" for n in steps}
    posted = len(slack.calls_to("chat.postMessage"))
    assert posted > 0  # alert cards and digests reached Slack

    # the same morning again (a second process, or a restart): nothing runs, nothing is sent
    assert run_pipeline(cfg, now=MORNING + timedelta(hours=1), kind="scheduled",
                        delivery=delivery) is None
    assert len(slack.calls_to("chat.postMessage")) == posted
    assert len(_runs(db_url)) == 1


# --- the runner's rules ----------------------------------------------------------------


def _ok(ctx: RunContext) -> str:
    return "fine"


def test_a_failing_step_is_retried_reported_and_the_rest_still_run(
    db_url: str, slack: FakeSlack
) -> None:
    cfg = _config(db_url, slack={"admin_channel": "C0ADMIN"}, schedule={"attempts": 3,
                                                                         "retry_seconds": 5})
    tries: list[int] = []

    def sync(ctx: RunContext) -> str:
        tries.append(1)
        raise ConnectionError("Salesforce: 503 Service Unavailable")

    def score(ctx: RunContext) -> str:
        raise ValueError("no accounts")

    def digests(ctx: RunContext) -> str:
        raise Skipped("SLACK_BOT_TOKEN not set")

    slept: list[float] = []
    delivery = SlackDelivery(web_client(TOKEN, slack.base_url))
    run = run_pipeline(
        cfg, now=MORNING, delivery=delivery, sleep=slept.append,
        steps=(("sync", sync, ()), ("score", score, ()), ("alerts", _ok, ("score",)),
               ("digests", digests, ("score",)), ("retention", _ok, ())),
        on_failure=admin_reporter(cfg, delivery),
    )
    assert run is not None and run.status == "failed"
    outcome = {s["name"]: (s["status"], s["attempts"]) for s in run.steps}
    assert outcome == {"sync": ("failed", 3), "score": ("failed", 3), "alerts": ("skipped", 0),
                       "digests": ("skipped", 0), "retention": ("ok", 1)}
    assert len(tries) == 3 and slept == [5, 10, 5, 10]  # doubling pauses, per step
    [told] = slack.calls_to("chat.postMessage")
    assert told.args["channel"] == "C0ADMIN"
    assert "sync, score failed" in told.args["text"]
    assert "503 Service Unavailable" in str(told.args["blocks"])


def test_the_admin_message_fits_slack_limits() -> None:
    steps = [{"name": f"step{i}", "status": "failed", "attempts": 3, "seconds": 1.0,
              "detail": "x" * 2000} for i in range(40)]
    assert validate_message(pipeline_failure(END, "scheduled", steps, "host:1")) == []


def test_a_scheduled_run_happens_once_a_day_manual_runs_any_time(db_url: str) -> None:
    cfg = _config(db_url)
    steps = (("retention", _ok, ()),)
    assert run_pipeline(cfg, now=MORNING, kind="scheduled", steps=steps) is not None
    assert run_pipeline(cfg, now=MORNING, kind="scheduled", steps=steps) is None
    assert run_pipeline(cfg, now=MORNING, kind="manual", steps=steps) is not None
    assert run_pipeline(cfg, now=MORNING + timedelta(days=1), kind="scheduled",
                        steps=steps) is not None
    assert [(r.run_date, r.kind) for r in _runs(db_url)] == [
        (END, "scheduled"), (END, "manual"), (END + timedelta(days=1), "scheduled")
    ]


def test_a_run_cut_short_is_marked_and_the_days_scheduled_run_runs_again(db_url: str) -> None:
    """A server stopped (or killed) mid-run leaves its row `running` and the day claimed:
    the next run marks it interrupted, and a scheduled one is run again, in its row."""
    cfg = _config(db_url)
    steps = (("retention", _ok, ()),)
    with session_scope(db_url) as s:
        s.add_all([
            PipelineRun(run_date=END, kind="scheduled", started_at=MORNING, status="running",
                        steps=[], host="gone:1"),
            PipelineRun(run_date=END, kind="manual", started_at=MORNING, status="running",
                        steps=[], host="gone:2"),
        ])
    later = MORNING + timedelta(minutes=20)
    run = run_pipeline(cfg, now=later, kind="scheduled", steps=steps)
    assert run is not None and run.status == "ok" and run.host != "gone:1"
    assert [(r.kind, r.status, r.started_at) for r in _runs(db_url)] == [
        ("scheduled", "ok", later), ("manual", "interrupted", MORNING)
    ]
    # done now: the day is claimed as before
    assert run_pipeline(cfg, now=later, kind="scheduled", steps=steps) is None
    listed = CliRunner().invoke(cli, ["runs"], env={"DATABASE_URL": db_url, "COLUMNS": "220"})
    manual = next(line for line in listed.output.splitlines() if "manual" in line)
    assert "interrupted" in manual and "(none recorded)" in manual and "(running)" not in manual


def test_the_day_is_the_workspace_local_day(db_url: str) -> None:
    cfg = _config(db_url, workspace={"timezone": "America/Los_Angeles"})
    steps = (("retention", _ok, ()),)
    # 06:05 UTC on 2 March is 22:05 on 1 March in Los Angeles
    run = run_pipeline(cfg, now=MORNING, kind="scheduled", steps=steps)
    assert run is not None and run.run_date == date(2026, 3, 1)


# --- schedule, catch-up and the leader lock --------------------------------------------


def test_a_missed_morning_runs_once_on_restart_within_the_grace_period(db_url: str) -> None:
    cfg = _config(db_url, workspace={"timezone": "Europe/Paris"},
                  schedule={"time": "06:00", "grace_minutes": 120, "retry_seconds": 0})
    # 06:00 in Paris is 05:00 UTC in March (CET)
    assert not missed_run_due(cfg, datetime(2026, 3, 2, 4, 59))
    assert missed_run_due(cfg, datetime(2026, 3, 2, 5, 0))
    assert missed_run_due(cfg, datetime(2026, 3, 2, 7, 0))
    assert not missed_run_due(cfg, datetime(2026, 3, 2, 7, 1))
    # summer time: 06:00 in Paris is 04:00 UTC
    assert missed_run_due(cfg, datetime(2026, 7, 1, 4, 30))

    cfg = cfg.model_copy(update={"sources": cfg.sources.model_copy(update={"sample": None})})
    with time_machine.travel(datetime(2026, 3, 2, 6, 30), tick=False):
        first = PulseScheduler(cfg)
        assert first.check_leadership()  # taking the lead runs the missed morning
        assert [r.kind for r in _runs(db_url)] == ["scheduled"]
        assert first.catch_up() is None  # ... once
        first.stop()
        again = PulseScheduler(cfg)
        assert again.check_leadership()
        assert len(_runs(db_url)) == 1
        again.stop()
    with time_machine.travel(datetime(2026, 3, 3, 9, 0), tick=False):  # past the grace
        late = PulseScheduler(cfg)
        assert late.check_leadership() and late.catch_up() is None
        late.stop()
    assert len(_runs(db_url)) == 1


def test_one_leader_at_a_time_and_another_takes_over_when_it_dies(db_url: str) -> None:
    a, b = LeaderLock(db_url), LeaderLock(db_url)
    assert a.acquire()
    assert not b.acquire()
    if db_url.startswith("postgresql"):
        # the leader's process dies: PostgreSQL ends its session and frees the lock
        with get_engine(db_url).connect() as conn:
            pid = conn.execute(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar()
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert not a.held
    else:
        a.release()  # the flock goes with the process's file descriptor
    assert b.acquire() and b.held
    assert not a.acquire()
    b.release()


# --- retention and the audit CLI --------------------------------------------------------


def test_retention_purges_old_usage_and_keeps_scores(db_url: str) -> None:
    cfg = _config(db_url, retention={"usage_months": 24})
    with session_scope(db_url) as s:
        acct = Account(source="files", external_id="A1", name="Acme", lifecycle="paid",
                       do_not_contact=False, custom={})
        s.add(acct)
        s.flush()
        user = Contact(source="files", external_id="U1", account_id=acct.id, role="member",
                       is_main_contact=False)
        s.add(user)
        s.flush()
        for day in (date(2024, 3, 1), date(2024, 3, 2), date(2026, 3, 1)):
            s.add(UsageDaily(account_id=acct.id, user_id=user.id, feature="login", day=day,
                             source="files", events=1, minutes=1.0))
        add_snapshot(s, acct.id, date(2024, 1, 1), 50.0, computed_at=datetime(2024, 1, 1))
    removed, cutoff = purge_usage(cfg, END)
    assert (removed, cutoff) == (1, date(2024, 3, 2))
    with session_factory(db_url)() as s:
        assert sorted(s.scalars(select(UsageDaily.day))) == [date(2024, 3, 2), date(2026, 3, 1)]
        assert s.scalar(select(func.count()).select_from(ScoreSnapshot)) == 1


def test_run_runs_and_audit_commands(db_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pulse.yml").write_text(
        f"sources:\n  sample:\n    end_date: '{END.isoformat()}'\n    accounts: 40\n")
    for var in ("SLACK_BOT_TOKEN", "PULSE_CONFIG", "HUBSPOT_ACCESS_TOKEN",
                "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME"):
        monkeypatch.delenv(var, raising=False)
    env = {"DATABASE_URL": db_url, "COLUMNS": "220"}
    runner = CliRunner()

    empty = runner.invoke(cli, ["runs"], env=env)
    assert "No pipeline runs yet" in empty.output

    run = runner.invoke(cli, ["run"], env=env)
    assert run.exit_code == 0, run.output
    assert "digests" in run.output and "SLACK_BOT_TOKEN not set" in run.output

    runs = runner.invoke(cli, ["runs", "--steps"], env=env)
    assert "manual" in runs.output and "score:ok" in runs.output

    audit = runner.invoke(cli, ["audit"], env=env)
    assert "pipeline.score" in audit.output and "pulse manual run" in audit.output
    unknown = runner.invoke(cli, ["audit", "--account", "Nonexistent Widgets"], env=env)
    assert unknown.exit_code == 1 and "No account matches 'Nonexistent Widgets'" in unknown.output


# --- two processes sharing PostgreSQL ----------------------------------------------------


def _scheduler_env(pg_url: str, home: Path, at: datetime) -> dict[str, str]:
    """A pulse.yml whose daily run was due a minute ago (UTC), and the process env."""
    config = home / "pulse.yml"
    config.write_text(
        f"sources:\n  sample:\n    end_date: '{END.isoformat()}'\n    accounts: 30\n"
        f"schedule:\n  time: '{at:%H:%M}'\n  grace_minutes: 30\n"
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "HUBSPOT_", "SALESFORCE_", "PULSE_"))}
    return env | {"DATABASE_URL": pg_url, "PULSE_CONFIG": str(config)}


def test_two_scheduler_processes_run_the_day_once_and_one_takes_over(
    pg_database: str, tmp_path: Path
) -> None:
    with get_engine(pg_database).begin() as conn:
        conn.execute(text("TRUNCATE pipeline_runs"))
    now = datetime.now(UTC).replace(tzinfo=None)
    if now.hour == 0 and now.minute < 2:
        pytest.skip("too close to midnight UTC for a 'due a minute ago' schedule")
    env = _scheduler_env(pg_database, tmp_path, now - timedelta(minutes=1))
    pulse = [sys.executable, "-m", "pulse.cli.main"]
    both = [subprocess.Popen([*pulse, "scheduler", "--once"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    assert len(_runs(pg_database)) == 1, outputs  # exactly one pipeline run for the day

    # a long-running leader holds the lock; a second process cannot take it ...
    later = _scheduler_env(pg_database, tmp_path, now + timedelta(hours=2))
    leader = subprocess.Popen([*pulse, "scheduler"], env=later, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        probe = LeaderLock(pg_database)
        while probe.acquire():  # wait until the leader process has the lock
            probe.release()
            assert time.monotonic() < deadline, "the scheduler process never took the lock"
            time.sleep(0.2)
        refused = subprocess.run([*pulse, "scheduler", "--once"], env=later, text=True,
                                 capture_output=True, timeout=120)
        assert "Another Pulse process holds the scheduler lock" in refused.stdout
    finally:
        leader.kill()  # ... until the leader dies without cleaning up
        leader.wait(timeout=30)
    taken = subprocess.run([*pulse, "scheduler", "--once"], env=later, text=True,
                           capture_output=True, timeout=120)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "Nothing due" in taken.stdout  # it took the lead; today's run is already done
    assert len(_runs(pg_database)) == 1


def test_digests_that_partly_went_out_are_not_sent_twice(db_url: str, slack: FakeSlack) -> None:
    from pulse.jobs.pipeline import step_digests, step_score, step_sync

    cfg = _config(db_url, schedule={"attempts": 3, "retry_seconds": 0})
    slack.fail_next("chat.postMessage", error="channel_not_found")  # one recipient's DM
    run = run_pipeline(cfg, now=MORNING, delivery=SlackDelivery(web_client(TOKEN, slack.base_url)),
                       steps=(("sync", step_sync, ()), ("score", step_score, ()),
                              ("digests", step_digests, ("score",))))
    assert run is not None
    digests = next(s for s in run.steps if s["name"] == "digests")
    assert (digests["status"], digests["attempts"]) == ("failed", 1)
    assert "channel_not_found" in digests["detail"]
    sent = slack.calls_to("chat.postMessage")  # the successful ones only
    failed = [c for c in slack.calls_to("chat.postMessage", ok_only=False) if c not in sent]
    assert len(failed) == 1 and len(sent) >= 1
    channels = [c.args["channel"] for c in sent]
    assert len(channels) == len(set(channels))  # nobody got a second digest


# --- one simulated morning, end to end ------------------------------------------------------


def test_a_morning_raises_the_planted_alerts_updates_the_crm_and_a_rerun_adds_nothing(
    db_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakes.hubspot_api import FakeHubSpot

    from connectors.sample import PLANTED, generate_workspace
    from storage.models import Alert

    with FakeHubSpot() as hub:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hub.token)
        monkeypatch.setenv("HUBSPOT_API_URL", hub.base_url)
        accounts = generate_workspace(42, END, accounts=60)["accounts"]
        records = {a["hubspot_id"]: a["name"] for a in accounts if a.get("hubspot_id")}
        for company, name in records.items():
            hub.put("companies", company, MORNING, name=name)
        cfg = _config(db_url, sources={
            "sample": {"end_date": END.isoformat(), "accounts": 60},
            "hubspot": {"sync": False},  # accounts come from the sample; health goes to HubSpot
        })
        delivery = SlackDelivery(web_client(TOKEN, slack.base_url))

        run = run_pipeline(cfg, now=MORNING, kind="scheduled", delivery=delivery)
        assert run is not None and run.status == "ok", run.steps if run else None

        with session_factory(db_url)() as s:
            raised = set(s.execute(select(Account.external_id, Alert.rule)
                                   .join(Alert, Alert.account_id == Account.id)).all())
        for story, flag in STORY_FLAGS.items():
            assert (PLANTED[story], flag) in raised, story
        scored = {c: hub.objects["companies"][c]["properties"] for c in records}
        assert sum("health_score" in p for p in scored.values()) >= len(records) - 5
        assert all(p["health_tier"] in {"Healthy", "Fine", "At risk"}
                   for p in scored.values() if "health_score" in p)
        posted = len(slack.calls_to("chat.postMessage"))
        assert posted > 0

        # the same morning again: the scheduled run is already done
        hub.requests.clear()
        assert run_pipeline(cfg, now=MORNING + timedelta(minutes=30), kind="scheduled",
                            delivery=delivery) is None
        # and a manual re-run finds nothing new to raise or to write to the CRM
        again = run_pipeline(cfg, now=MORNING + timedelta(minutes=40), kind="manual",
                             delivery=delivery)
        assert again is not None
        steps = {s["name"]: s["detail"] for s in again.steps}
        assert steps["alerts"].startswith("0 raised, 0 reopened")
        assert "0/0 updated" in steps["writeback"]
        assert hub.calls("/objects/companies/batch/update") == []


def test_a_writeback_only_crm_is_not_pulled() -> None:
    cfg = parse_config({"sources": {"sample": {}, "hubspot": {"sync": False},
                                    "salesforce": {}}})
    assert cfg.synced_sources == ["sample", "salesforce"]
