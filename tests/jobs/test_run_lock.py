"""One run at a time (issue 18): `pulse run`, `pulse alerts`, `pulse digest` and the
scheduled pipeline hold the run lock, so two runs never post the same card; a run that
finds it held says so in one line, exits 1 and does nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fakes.harness import NOW, TOKEN, load_sample_workspace
from fakes.slack_api import FakeSlack
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.delivery import SlackDelivery, web_client
from pulse.cli.main import app as cli
from pulse.jobs.locks import RunInProgress, run_lock
from pulse.jobs.pipeline import RunContext, run_pipeline, step_alerts, step_digests
from pulse.jobs.scheduler import PulseScheduler
from pulse.kernel.config import PulseConfig, parse_config
from storage.db import session_factory
from storage.models import Alert, PipelineRun

END = date(2026, 3, 2)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


def _env(db_url: str, home: Path, slack: FakeSlack) -> dict[str, str]:
    config = home / "pulse.yml"
    config.write_text(f"sources:\n  sample:\n    end_date: '{END.isoformat()}'\n"
                      "    accounts: 40\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "HUBSPOT_", "SALESFORCE_", "PULSE_"))}
    return env | {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config),
                  "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.base_url}


def _run_count(url: str) -> int:
    with session_factory(url)() as s:
        return s.scalar(select(func.count()).select_from(PipelineRun)) or 0


def test_two_runs_started_together_post_each_alert_and_digest_once(
    db_url: str, slack: FakeSlack
) -> None:
    """Two manual runs in two threads, held at a gate until both have started (or one
    has been turned away): without the run lock both would post every card."""
    cfg = PulseConfig().model_copy(update={"database_url": db_url})
    load_sample_workspace(db_url, cfg)  # scored and watched: the alerts step raises some
    arrived, go = [], threading.Event()

    def gate(ctx: RunContext) -> str:
        arrived.append(ctx)
        go.wait(timeout=30)
        return "both started"

    steps = (("gate", gate, ()), ("alerts", step_alerts, ()), ("digests", step_digests, ()))
    outcomes: list[str] = []

    def run() -> None:
        delivery = SlackDelivery(web_client(TOKEN, slack.base_url))
        try:
            done = run_pipeline(cfg, now=NOW, kind="manual", delivery=delivery, steps=steps)
            outcomes.append(done.status if done else "none")
        except RunInProgress:
            outcomes.append("busy")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(arrived) + outcomes.count("busy") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    go.set()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["busy", "ok"]

    posts = [(c.args["channel"], c.args["text"]) for c in slack.calls_to("chat.postMessage")]
    assert any("new alert" in text for _, text in posts)
    assert any(text.startswith("Morning list for") for _, text in posts)
    twice = [post for post, n in Counter(posts).items() if n > 1]
    assert twice == []
    assert _run_count(db_url) == 1


def test_two_concurrent_pulse_runs_post_each_card_once(
    db_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    env = _env(db_url, tmp_path, slack)
    pulse = [sys.executable, "-m", "pulse.cli.main", "run"]
    both = [subprocess.Popen(pulse, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in both]
    codes = sorted(p.returncode for p in both)
    report = "\n".join(out + err for out, err in outputs)
    # one ran; the other either found it running (exit 1, one line, no run recorded) or
    # started after it ended and found nothing new to post
    assert codes in ([0, 0], [0, 1]), report
    busy = [err for p, (_, err) in zip(both, outputs, strict=True) if p.returncode == 1]
    for err in busy:
        assert err.strip().count("\n") == 0 and "another Pulse run is in progress" in err
    assert _run_count(db_url) == 2 - len(busy)

    posts = slack.calls_to("chat.postMessage")
    assert posts, report  # alert messages and digests reached Slack
    sent = [(c.args.get("channel"), json.dumps(c.args.get("blocks"), sort_keys=True),
             c.args.get("text")) for c in posts]
    assert len(sent) == len(set(sent)), "a message was posted twice"
    with session_factory(db_url)() as s:
        posted_alerts = s.scalar(select(func.count()).select_from(Alert)
                                 .where(Alert.slack_ts.is_not(None))) or 0
    assert posted_alerts > 0


def test_a_run_that_finds_the_lock_held_says_so_and_does_nothing(
    db_url: str, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _env(db_url, tmp_path, slack).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    with run_lock(db_url):  # another process's run, as far as these commands can tell
        for command in (["run"], ["alerts"], ["digest"]):
            result = runner.invoke(cli, command)
            assert result.exit_code == 1, (command, result.output)
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and "another Pulse run is in progress" in lines[0], lines
        dry = runner.invoke(cli, ["alerts", "--dry-run"])  # changes nothing: not locked
        assert dry.exit_code == 0, dry.output
    assert _run_count(db_url) == 0
    assert slack.calls_to("chat.postMessage") == []
    # the lock is released when its holder ends: the next run goes ahead
    assert runner.invoke(cli, ["alerts"]).exit_code == 0


def test_the_scheduler_waits_out_a_manual_run_and_its_frequent_check_steps_aside(
    db_url: str
) -> None:
    cfg = parse_config({"sources": {"sample": {"end_date": END.isoformat(), "accounts": 20}},
                        "schedule": {"enabled": False}}  # no catch-up run on taking the lead
                       ).model_copy(update={"database_url": db_url})
    with run_lock(db_url):
        with pytest.raises(RunInProgress):
            run_pipeline(cfg, kind="manual")
        waited: list[float] = []
        with pytest.raises(RunInProgress):
            run_pipeline(cfg, kind="scheduled", lock_wait=3, sleep=waited.append)
        assert waited == [1.0, 1.0, 1.0]  # tried again every second for 3 s, then gave up
        scheduler = PulseScheduler(cfg)
        assert scheduler.check_leadership()
        assert scheduler.alerts_check() is None  # skipped while a run holds the lock
        scheduler.stop()
    assert _run_count(db_url) == 0  # no day claimed by a run that never ran


def test_the_leader_lock_gives_up_on_a_database_that_never_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler asks for the leader lock every 15 s, one check at a time: a connect
    that never ended (libpq waits for ever) stopped every later check for good."""
    import socket

    import storage.db
    from pulse.jobs.locks import LeaderLock

    monkeypatch.setattr(storage.db, "PG_CONNECT_TIMEOUT_SECONDS", 1)
    outcome: list[str] = []

    def ask(url: str) -> None:
        try:
            LeaderLock(url).acquire()
            outcome.append("acquired")
        except Exception as exc:  # noqa: BLE001 - the point is that it ends
            outcome.append(type(exc).__name__)

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections queue up; nothing is ever read or sent
        url = f"postgresql+psycopg://pulse@127.0.0.1:{silent.getsockname()[1]}/pulse"
        asking = threading.Thread(target=ask, args=(url,), daemon=True)
        asking.start()
        asking.join(timeout=10)
        assert not asking.is_alive(), "asking for the leader lock hung"
    assert outcome == ["OperationalError"]
