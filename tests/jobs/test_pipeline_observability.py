"""What an operator sees of a pipeline run: one JSON log line per step with its outcome
and duration, no secret in any line (even when an error message carries one), and the
steps, records synced and alerts raised in the metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date, datetime

import pytest
from fakes.harness import SECRET, TOKEN
from fakes.slack_api import FakeSlack
from prometheus_client.parser import text_string_to_metric_families

from bot.delivery import SlackDelivery, web_client
from pulse.jobs.pipeline import RunContext, run_pipeline, step_alerts, step_score, step_sync
from pulse.kernel.config import LoggingConfig, parse_config
from pulse.kernel.logs import configure_logging
from pulse.kernel.telemetry import exposition

END = date(2026, 3, 2)
MORNING = datetime(2026, 3, 2, 6, 5)
PASSWORD = "s3cret-salesforce-password"
SECRET_ENV = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
              "SALESFORCE_PASSWORD": PASSWORD, "STRIPE_API_KEY": "sk_live_0123456789abcdef"}


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The secrets in the environment, logging configured as `pulse serve` does (JSON,
    DEBUG) into a buffer; the test's own logging restored afterwards."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    configure_logging(LoggingConfig(format="json", level="DEBUG"), stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = exposition()[0].decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def test_each_step_logs_one_json_line_and_nothing_secret(
    db_url: str, json_logs: io.StringIO
) -> None:
    def leaky_login(ctx: RunContext) -> str:
        raise RuntimeError(f"login refused for password={PASSWORD} with Bearer {TOKEN}")

    cfg = parse_config({"sources": {"sample": {"end_date": END.isoformat(), "accounts": 30}},
                        "schedule": {"retry_seconds": 0, "attempts": 2}}
                       ).model_copy(update={"database_url": db_url})
    with FakeSlack(token=TOKEN) as slack:
        delivery = SlackDelivery(web_client(TOKEN, slack.base_url))
        run = run_pipeline(cfg, now=MORNING, delivery=delivery, steps=(
            ("sync", step_sync, ()), ("score", step_score, ()),
            ("alerts", step_alerts, ("score",)), ("crm_login", leaky_login, ())))
    assert run is not None
    logging.getLogger("urllib3").debug("headers: Authorization: Bearer %s", TOKEN)
    logging.getLogger("x").info("signing with %s, key %s", SECRET, SECRET_ENV["STRIPE_API_KEY"])

    text = json_logs.getvalue()
    records = [json.loads(line) for line in text.splitlines()]
    steps = {r["step"]: r for r in records if "step" in r}
    assert set(steps) == {"sync", "score", "alerts", "crm_login"}
    for name in ("sync", "score", "alerts"):
        assert steps[name]["outcome"] == "ok" and steps[name]["level"] == "INFO"
        assert isinstance(steps[name]["duration"], float)
        assert steps[name]["message"].startswith(f"pipeline step {name} ok in ")
    assert steps["crm_login"]["outcome"] == "failed" and steps["crm_login"]["level"] == "WARNING"
    assert "[REDACTED]" in steps["crm_login"]["message"]
    syncs = [r for r in records if r["logger"] == "pulse.services.sync"
             and r.get("outcome") == "ok"]
    assert syncs and syncs[0]["source"] == "sample" and syncs[0]["duration"] > 0
    for secret in SECRET_ENV.values():
        assert secret not in text, secret


def test_metrics_count_steps_records_synced_and_alerts_raised(db_url: str) -> None:
    # a first run takes the baseline; these conditions alert even then, so some are raised
    still = [{"rule": "owner_silent", "severity": "warning"},
             {"rule": "tier_crossed", "severity": "warning"}]
    cfg = parse_config({"sources": {"sample": {"end_date": END.isoformat(), "accounts": 30}},
                        "schedule": {"retry_seconds": 0},
                        "alerts": {"baseline_still_alert": still, "baseline_max_alerts": 100}}
                       ).model_copy(update={"database_url": db_url})
    before = _samples()
    run = run_pipeline(cfg, now=MORNING, steps=(
        ("sync", step_sync, ()), ("score", step_score, ()), ("alerts", step_alerts, ("score",))))
    assert run is not None and run.status == "ok", run.steps if run else None
    after = _samples()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("pulse_pipeline_steps_total", step="sync", outcome="ok") == 1
    assert grew("pulse_pipeline_step_duration_seconds_count", step="score", outcome="ok") == 1
    assert grew("pulse_records_synced_total", source="sample", change="inserted") > 0
    assert grew("pulse_syncs_total", source="sample", outcome="ok") == 1
    raised = grew("pulse_alerts_raised_total", change="raised")
    alerts = next(s for s in run.steps if s["name"] == "alerts")
    assert raised == int(alerts["detail"].split(" raised")[0]) > 0
