"""End to end: the scorer finds every story planted in the sample workspace.

The sample generator (``connectors.sample``) plants one recognisable problem or
opportunity per fixed account on otherwise healthy accounts. Loading the workspace through
the real loader and scoring it on SQLite and PostgreSQL must surface each story through
the flag or component meant for it, leave healthy accounts clean, and give a believable
spread of tiers. Nothing here is special-cased for the sample: the scorer sees only what
a CSM's data would show.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest
from factories import STORY_FLAGS
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.sample import ACME, CHURNED, PLANTED, SampleConnector
from pulse.kernel.config import PulseConfig
from scoring.engine import run_scoring, score_accounts
from storage.loader import load_batch
from storage.models import Account

END = date(2025, 6, 30)
CFG = PulseConfig()


def _component(row: pd.Series, key: str) -> dict[str, Any]:
    return next(c for c in row["components"] if c["key"] == key)


@pytest.fixture
def scored(session: Session) -> pd.DataFrame:
    """The sample workspace loaded, scored two and one week ago (stored) and today."""
    for batch in SampleConnector(CFG, end_date=END).pull(None, full=True):
        load_batch(session, "sample", batch)
    session.commit()
    for days in (14, 7):
        run_scoring(session, CFG, END - timedelta(days=days))
    session.commit()
    df = score_accounts(session, CFG, END)
    ext = {i: e for i, e in session.execute(select(Account.id, Account.external_id))}
    df["external_id"] = df["account_id"].map(ext)
    return df.set_index("external_id")


def test_sample_workspace(scored: pd.DataFrame) -> None:
    """One test per backend: loading the workspace dominates, so it is loaded once."""
    check_planted_stories_are_found(scored)
    check_healthy_accounts_stay_clean_and_tiers_spread(scored)


def check_planted_stories_are_found(scored: pd.DataFrame) -> None:
    missing: list[str] = []
    for story, code in STORY_FLAGS.items():
        row = scored.loc[PLANTED[story]]
        if code not in row["flag_codes"]:
            missing.append(f"{story}: {code} not raised on {row['account_name']}")
        others = scored.index[scored["flag_codes"].map(lambda c, code=code: code in c)]
        if len(others.drop(PLANTED[story], errors="ignore")) > 3:
            missing.append(f"{story}: {code} also raised on {len(others) - 1} other accounts")

    decline = scored.loc[PLANTED["steady_decline"]]
    trend = _component(decline, "trend")
    if not (trend["has_data"] and trend["value"] <= 0.3):
        missing.append(f"steady_decline: trend component not low ({trend['detail']})")
    if "score_drop" not in decline["flag_codes"]:
        missing.append("steady_decline: no score_drop flag over three weekly runs")

    exp = scored.loc[PLANTED["expansion"]]
    if not (
        exp["expansion_score"] >= 80
        and exp["expansion_score"] >= scored["expansion_score"].quantile(0.98)
    ):
        missing.append(f"expansion: expansion score only {exp['expansion_score']}")
    assert not missing, "\n".join(missing)

    # The stories come with words a CSM can act on.
    silent = next(
        f
        for f in scored.loc[PLANTED["silent_main_contact"]]["flags"]
        if f["code"] == "main_contact_silent"
    )
    assert "has had no activity for" in silent["detail"] and silent["action"]
    assert any("over the licence cap" in r for r in exp["expansion_reasons"])
    assert any(r.startswith("active users up") for r in exp["expansion_reasons"])
    onboarding = scored.loc[PLANTED["onboarding_stuck"]]
    assert "0 of 5 core" in _component(onboarding, "breadth")["detail"]


def check_healthy_accounts_stay_clean_and_tiers_spread(scored: pd.DataFrame) -> None:
    acme = scored.loc[ACME["acme_corp"]]
    assert not set(acme["flag_codes"]) & set(STORY_FLAGS.values()), acme["flags"]
    healthy = scored[scored["tier"] == "healthy"]
    story_accounts = set(PLANTED.values())
    clean = healthy[~healthy.index.isin(story_accounts)]
    flagged = clean["flag_codes"].map(lambda c: bool(set(c) & set(STORY_FLAGS.values())))
    assert flagged.mean() < 0.02

    share = scored["tier"].value_counts(normalize=True)
    assert 0.35 <= share.get("healthy", 0) <= 0.75, share
    assert 0.15 <= share.get("fine", 0) <= 0.50, share
    assert 0.05 <= share.get("at_risk", 0) <= 0.30, share
    assert scored["score"].between(0, 100).all()
    # Churned accounts are not scored once they have churned.
    assert not set(CHURNED) & set(scored.index)
    # Renewal risk and expansion are spread too, not constant.
    assert scored["renewal_risk"].nunique() == 3
    assert scored["expansion_score"].std() > 10
