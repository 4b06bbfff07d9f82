"""The rules score on day one: contract data alone is "insufficient data", complaints,
ticket volume and tenure count, and core features the usage data never shows switch the
onboarding flag off with a warning (issue 16)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from factories import AS_OF, healthy_record

from pulse.kernel.config import PulseConfig, ScoringConfig, parse_config
from pulse.services.sync import run_sync
from scoring.engine import run_scoring, score_accounts, score_signals
from scoring.flags import absent_core_features, core_feature_warning
from scoring.signals import make_signals
from storage.db import session_factory

DOCS = Path(__file__).resolve().parents[2] / "docs" / "import-format.md"
CFG = ScoringConfig()


def _docs_example(directory: Path) -> Path:
    """The files of docs/import-format.md's "Example" section, exactly as written."""
    directory.mkdir()
    example = DOCS.read_text().split("\n## Example\n", 1)[1].split("\n## ", 1)[0]
    for name, body in re.findall(r"`(\w+\.csv)`:\s*```csv\n(.*?)```", example, flags=re.S):
        (directory / name).write_text(body)
    assert {p.name for p in directory.iterdir()} == {
        "owners.csv", "accounts.csv", "contacts.csv", "usage.csv"}
    return directory


def _import_example(db_url: str, tmp_path: Path, **scoring: object) -> PulseConfig:
    drop = _docs_example(tmp_path / "drop")
    cfg = parse_config({"sources": {"files": {"path": str(drop)}}, "scoring": scoring})
    report = run_sync(db_url, cfg, "files", full=True)
    assert report.status in ("ok", "partial"), report.errors
    return cfg


def test_the_import_example_is_never_healthy_on_contract_alone(
    db_url: str, tmp_path: Path
) -> None:
    cfg = _import_example(db_url, tmp_path)
    with session_factory(db_url)() as session:
        # Long after the example's usage (A-1's renewal passed 326 days before):
        # nothing but the contract to go on.
        late = score_accounts(session, cfg, date(2026, 12, 7))
        assert len(late) == 2
        for _, row in late.iterrows():
            assert row["tier"] != "healthy", row["account_name"]
            assert "insufficient_data" in row["flag_codes"]
            flag = next(f for f in row["flags"] if f["code"] == "insufficient_data")
            assert flag["label"] == "Insufficient data"
            assert "contract data alone" in flag["detail"]
        # The day after its usage rows: scored with usage, or "insufficient data".
        near = score_accounts(session, cfg, date(2025, 4, 29))
        for _, row in near.iterrows():
            usage = next(c for c in row["components"] if c["key"] == "usage")
            assert usage["has_data"] or "insufficient_data" in row["flag_codes"]
            assert row["tier"] != "healthy"


def test_the_import_example_is_complete_and_scored_with_usage(
    db_url: str, tmp_path: Path
) -> None:
    drop = _docs_example(tmp_path / "drop")
    cfg = parse_config({"sources": {"files": {"path": str(drop)}}})
    report = run_sync(db_url, cfg, "files", full=True)
    assert report.status == "ok", [(r.where, r.reason) for r in report.skipped]
    with session_factory(db_url)() as session:
        near = score_accounts(session, cfg, date(2025, 4, 29)).set_index("account_name")
    acme = near.loc["Acme Logistics"]
    assert "insufficient_data" not in acme["flag_codes"]
    assert next(c for c in acme["components"] if c["key"] == "usage")["has_data"]
    assert (near["tier"] != "healthy").all()  # one day of use by 2 of 50 seats


def test_core_features_absent_from_the_usage_warn_at_sync_and_score_time(
    db_url: str, tmp_path: Path
) -> None:
    drop = _docs_example(tmp_path / "drop")
    cfg = parse_config({"sources": {"files": {"path": str(drop)}},
                        "scoring": {"core_features": ["widgets", "reports"]}})
    report = run_sync(db_url, cfg, "files", full=True)
    assert any("absent from the usage data: widgets." in w for w in report.warnings)
    cfg = parse_config({"scoring": {"core_features": ["widgets"]}})
    with session_factory(db_url)() as session:
        summary = run_scoring(session, cfg, date(2025, 4, 29))
        session.rollback()
    assert any("None of the configured core features (widgets)" in w
               for w in summary.warnings)
    assert "the onboarding flag is off" in str(summary)


def test_the_onboarding_flag_is_off_when_no_core_feature_is_ever_used() -> None:
    new = healthy_record(contract_start=AS_OF - timedelta(days=40), first_core_day=pd.NaT,
                         core_features_used=0, core_events=0)
    seen = make_signals([new], AS_OF, CFG)
    assert "onboarding_stuck" in score_signals(seen, CFG).loc[0, "flag_codes"]
    unseen = make_signals([new], AS_OF, CFG, catalogue=("login", "search", "clicks"))
    assert "onboarding_stuck" not in score_signals(unseen, CFG).loc[0, "flag_codes"]
    absent = absent_core_features(unseen.meta, CFG.core_features)
    assert absent == list(CFG.core_features)
    assert "None of the configured core features" in str(
        core_feature_warning(absent, CFG.core_features)
    )


def _score(**overrides: object) -> float:
    signals = make_signals([healthy_record(**overrides)], AS_OF, CFG)
    return float(score_signals(signals, CFG).loc[0, "score"])


def test_a_complaint_and_ticket_volume_cost_points() -> None:
    base = _score(tickets_90d=1, nps_latest=float("nan"), csat_avg=float("nan"),
                  csat_responses=0)
    complained = _score(tickets_90d=1, negative_sentiment_90d=1, nps_latest=float("nan"),
                        csat_avg=float("nan"), csat_responses=0)
    assert base - complained >= 4.0  # issue 16: it weighed about 2 points
    many = _score(tickets_90d=12, nps_latest=float("nan"), csat_avg=float("nan"),
                  csat_responses=0)
    assert base - many >= 2.0
    assert _score(tickets_90d=2) == _score(tickets_90d=0)  # asking for help now and then


def _contract(days: int) -> dict[str, object]:
    record = healthy_record(contract_start=AS_OF - timedelta(days=days))
    scored = score_signals(make_signals([record], AS_OF, CFG), CFG)
    return next(c for c in scored.loc[0, "components"] if c["key"] == "contract")


def test_tenure_counts() -> None:
    new, established = _contract(30), _contract(1000)
    assert _score(contract_start=AS_OF - timedelta(days=30)) < _score(
        contract_start=AS_OF - timedelta(days=1000))
    assert new["raw"]["tenure_score"] < 0.55 and established["raw"]["tenure_score"] == 1.0
    assert float(established["value"]) - float(new["value"]) >= 0.09
    assert "customer for 30 days" in str(new["detail"])


def test_a_contract_only_account_is_flagged_and_not_healthy() -> None:
    """The database-free twin of the import example."""
    thin = {"account_id": 1, "account_name": "Thin", "contract_start": date(2024, 1, 1),
            "renewal_date": AS_OF + timedelta(days=200), "lifecycle": "paid"}
    signals = make_signals([thin], AS_OF, CFG, has_usage=False, has_tickets=False,
                           has_surveys=False, has_integrations=False)
    row = score_signals(signals, CFG).loc[0]
    assert row["score"] >= CFG.tiers.healthy  # the contract alone looks fine...
    assert row["tier"] == "fine"  # ...but that is not enough to call it healthy
    assert "insufficient_data" in row["flag_codes"]


def test_a_learned_model_reading_the_account_lifts_the_contract_only_flag() -> None:
    """Under a stored model, "insufficient data" stays only where the model read nothing:
    a model judged on held-out data with tenure is not "contract data alone" guesswork."""
    from factories import learned_model_document

    from scoring.engine import Learned
    from scoring.learn.live import LearnedModel

    thin = {"account_id": 1, "account_name": "Thin", "contract_start": date(2024, 1, 1),
            "renewal_date": AS_OF + timedelta(days=200), "lifecycle": "paid"}
    blank = {"account_id": 2, "account_name": "Blank", "lifecycle": "paid"}
    signals = make_signals([thin, blank], AS_OF, CFG, has_usage=False, has_tickets=False,
                           has_surveys=False, has_integrations=False)
    model = LearnedModel.from_document(learned_model_document())
    learned = Learned(model=model, attributes=pd.DataFrame(index=pd.Index([1, 2])))
    rules = score_signals(signals, CFG).set_index("account_id")
    scored = score_signals(signals, CFG, learned).set_index("account_id")
    assert "insufficient_data" in rules.loc[1, "flag_codes"]
    # the model reads Thin's tenure: scored from data it was validated on
    tenure = next(e for e in scored.loc[1, "components"] if e["label"] == "account_tenure_days")
    assert tenure["value"] is not None
    assert "insufficient_data" not in scored.loc[1, "flag_codes"]
    # nothing the model reads is on file for Blank: the warning stays
    # (its active users count 0, as with no usage data at all: a count is no reading)
    read = {e["label"]: e["value"] for e in scored.loc[2, "components"]
            if e.get("kind") == "learned"}
    assert read == {"account_tenure_days": None, "active_users": 0.0}
    assert "insufficient_data" in scored.loc[2, "flag_codes"]
