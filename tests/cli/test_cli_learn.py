"""`pulse tune` learning a scorecard from one snapshot and the churn after it; --write, --show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from factories import CHURN_AS_OF, load_churn_workspace
from typer.testing import CliRunner

from pulse.cli.main import app
from storage.db import get_engine, session_scope
from storage.migrate import upgrade

runner = CliRunner()
SNAPSHOT = ["--as-of", CHURN_AS_OF.isoformat(), "--horizon", "60d",
            "--observed-until", "2025-06-01"]
CONFIG = """\
# ours
scoring:
  learn:
    categorical: [segment, plan]
    numeric: [tenure_days, arr]
"""


@pytest.fixture(scope="module")
def churn_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """240 accounts with usage up to the snapshot date and churn in the 55 days after it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('learn') / 'pulse.db'}"
    upgrade(url)
    with session_scope(url) as session:
        load_churn_workspace(session)
    yield url
    get_engine(url).dispose()


@pytest.fixture
def env(churn_db: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "pulse.yml"
    config.write_text(CONFIG)
    return {"DATABASE_URL": churn_db, "PULSE_CONFIG": str(config), "COLUMNS": "220"}


def _text(output: str) -> str:
    return " ".join(output.split())


def test_one_snapshot_is_learned_from_and_compared_with_the_rules_score(
    env: dict[str, str],
) -> None:
    result = runner.invoke(app, ["tune", *SNAPSHOT], env=env)
    assert result.exit_code == 0, result.output
    out = _text(result.stdout)
    assert "5 folds by account (no account on both sides)" in out
    for label in ("points scorecard (learned, written)", "current score (the rules score now)",
                  "spline logistic regression", "logistic regression", "gradient boosting"):
        assert label in out
    assert "held-out AUC" in out and "vs" in out and "for the rules score" in out
    assert "At risk below health" in out and "held-out precision" in out
    assert "account_plan" in out  # the custom field named in scoring.learn
    assert "Nothing written" in out
    assert not (Path(env["PULSE_CONFIG"]).parent / "pulse-model.yml").exists()


def test_write_stores_a_readable_model_beside_pulse_yml_and_show_prints_it(
    env: dict[str, str],
) -> None:
    config = Path(env["PULSE_CONFIG"])
    written = runner.invoke(app, ["tune", *SNAPSHOT, "--write"], env=env)
    assert written.exit_code == 0, written.output
    path = config.parent / "pulse-model.yml"
    assert "Model written to" in _text(written.stdout)
    assert config.read_text() == CONFIG  # pulse.yml untouched
    doc = yaml.safe_load(path.read_text())
    assert doc["training"]["as_of_from"] == doc["training"]["as_of_to"] == "2025-03-31"
    assert doc["training"]["churns"] >= 30 and doc["training"]["horizon"] == "60d"
    assert doc["held_out_auc"]["points scorecard"] > doc["held_out_auc"]["current score"] - 0.1
    assert 0 < doc["at_risk"]["precision"] <= 1 and 0 < doc["at_risk"]["recall"] <= 1
    most = sum(entry["most_points"] for entry in doc["inputs"])
    assert most == pytest.approx(100, abs=0.1 * len(doc["inputs"]))
    shown = runner.invoke(app, ["tune", "--show"], env=env)
    assert shown.exit_code == 0, shown.output
    out = _text(shown.stdout)
    assert f"Model in {path}" in out and "Points per input" in out
    assert doc["inputs"][0]["name"] in out


def test_too_few_churners_names_what_is_missing_and_what_dates_could_work(
    env: dict[str, str],
) -> None:
    result = runner.invoke(app, ["tune", "--as-of", "2025-03-31", "--horizon", "20d",
                                 "--observed-until", "2025-06-01"], env=env)
    assert result.exit_code == 2, result.output
    out = _text(result.output)
    assert "learning needs at least 30 churns within the 20 days after an as-of date" in out
    assert "The data holds usage from 2025-02-15 to 2025-03-31" in out
    assert "outcomes are known to 2025-06-01" in out
    assert "Usable as-of dates:" in out and "Try --as-of" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tune"], "Give --as-of DATE, or --from DATE and --to DATE"),
        (["tune", "--show"], "No learned model at"),
        (["tune", "--as-of", "2025-03-31", "--from", "2025-01-31"], "--as-of is one date"),
    ],
)
def test_tune_usage_errors_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert message in _text(result.output)


@pytest.fixture
def scored_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Its own database (`pulse score` writes snapshots): rules snapshots of 2025-03-24,
    then the model written."""
    url = f"sqlite:///{tmp_path / 'explain.db'}"
    upgrade(url)
    with session_scope(url) as session:
        load_churn_workspace(session)
    env = {**env, "DATABASE_URL": url}
    rules = runner.invoke(app, ["score", "--as-of", "2025-03-24"], env=env)
    assert rules.exit_code == 0, rules.output
    assert "with the rules score" in _text(rules.stdout)
    learned = runner.invoke(app, ["tune", *SNAPSHOT, "--write"], env=env)
    assert learned.exit_code == 0, learned.output
    return env


def test_a_written_model_is_the_score_and_explain_lists_points_that_add_up(
    scored_env: dict[str, str],
) -> None:
    scored = runner.invoke(app, ["score", "--as-of", "2025-03-31"], env=scored_env)
    assert scored.exit_code == 0, scored.output
    summary = _text(scored.stdout)
    assert "with the learned model (learned from" in summary and "held-out AUC" in summary
    result = runner.invoke(app, ["explain", "Account 17"], env=scored_env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Learned score: learned from " in _text(out) and "held-out AUC" in _text(out)
    score = float(re.search(r"Score ([\d.]+)/100 \(", out)[1])
    rows = re.findall(r"^(\S+) +(?:\S+) +([\d.]+)  .+ of [\d.]+ points$", out, flags=re.M)
    assert len(rows) >= 2
    total = float(re.search(r"^total +([\d.]+)$", out, flags=re.M)[1])
    assert sum(float(p) for _, p in rows) == pytest.approx(total, abs=1e-6)
    assert total == pytest.approx(score, abs=1e-6)
    assert "Learned model (pulse-model.yml;" not in out  # not shown twice
    reasons = re.search(r"Reasons: (.+?) Expansion score", _text(out))
    assert reasons is not None  # the learned inputs' points, not the rules' reasons
    for reason in reasons[1].split("; "):
        assert re.fullmatch(r"[A-Z].+: .+, [\d.]+ of [\d.]+ points( \(-[\d.]+\))?", reason), reason


def test_explain_of_a_rules_snapshot_shows_the_models_points_beside_it(
    scored_env: dict[str, str],
) -> None:
    result = runner.invoke(app, ["explain", "Account 17", "--as-of", "2025-03-24"],
                           env=scored_env)
    assert result.exit_code == 0, result.output
    out = _text(result.stdout)
    assert "this snapshot was scored with the rules" in out
    assert "churns between 2025-04-" in out and "held-out AUC" in out
    health = float(re.search(r"scores with the model\): health ([\d.]+)", out)[1])
    tail = result.stdout[result.stdout.index("Points:"):]
    points = [float(v) for v in re.findall(r"^  .+: ([\d.]+)(?: of [\d.]+)?$", tail, flags=re.M)]
    assert len(points) >= 2
    assert sum(points) == pytest.approx(health, abs=0.05 * (len(points) + 1))


def test_a_model_file_that_cannot_be_read_stops_pulse_score_with_one_line(
    env: dict[str, str],
) -> None:
    (Path(env["PULSE_CONFIG"]).parent / "pulse-model.yml").write_text("kind: other\n")
    result = runner.invoke(app, ["score", "--as-of", "2025-03-31"], env=env)
    assert result.exit_code == 1
    out = _text(result.output)
    assert "pulse-model.yml" in out and "remove the file to score with the rules" in out


def test_several_as_of_dates_are_validated_by_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    upgrade(url)
    with session_scope(url) as session:
        load_churn_workspace(session, accounts=200, months=4)
    config = tmp_path / "pulse.yml"
    config.write_text(CONFIG)
    env = {"DATABASE_URL": url, "PULSE_CONFIG": str(config), "COLUMNS": "220"}
    result = runner.invoke(app, ["tune", "--from", "2025-03-31", "--to", "2025-06-29",
                                 "--every", "30d", "--horizon", "30d"], env=env)
    assert result.exit_code == 0, result.output
    out = _text(result.stdout)
    assert "as of 2025-03-31 to 2025-06-29" in out
    assert "test date(s), each trained on earlier dates whose outcome was known" in out
    assert "current score (the rules score now)" in out


def test_show_refuses_a_file_that_is_not_a_model(env: dict[str, str]) -> None:
    path = Path(env["PULSE_CONFIG"]).parent / "pulse-model.yml"
    path.write_text("kind: something else\n")
    result = runner.invoke(app, ["tune", "--show"], env=env)
    assert result.exit_code == 1
    assert "not a learned model" in _text(result.output)


def test_explain_of_a_past_snapshot_shows_the_account_as_it_was_then(
    scored_env: dict[str, str],
) -> None:
    from sqlalchemy import select

    from storage.db import session_factory
    from storage.models import Account

    with session_factory(scored_env["DATABASE_URL"])() as session:
        churner = session.scalars(
            select(Account).where(Account.lifecycle == "churned").order_by(Account.id)
        ).first()
        assert churner is not None and churner.churned_on is not None
        name, churned_on = churner.name, churner.churned_on
    result = runner.invoke(app, ["explain", name, "--as-of", "2025-03-24"], env=scored_env)
    assert result.exit_code == 0, result.output
    out = _text(result.stdout)
    assert f"customer then (churned on {churned_on}, after this snapshot)" in out
    assert "as of 2025-03-24" in out
    assert ", churned Health" not in out  # not today's lifecycle
