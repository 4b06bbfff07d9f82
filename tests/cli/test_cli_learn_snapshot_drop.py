"""`pulse tune` on a files drop of accounts only: one snapshot and the churn after it.

The shape of a public churn sample such as IBM's Telco Customer Churn (bench/datasets/
telco.py): no usage, every customer's fields as of one day, churn dates within the month
after it. Generated here (no network, no Telco data): churn rises with the number of
products a customer holds (a reversed "more use, more churn" signal), falls with tenure,
and month-to-month contracts churn most.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from pulse.cli.main import app
from scoring.periods import add_months
from storage.db import get_engine
from storage.migrate import upgrade

runner = CliRunner()
AS_OF = date(2025, 6, 1)
HORIZON = ["--horizon", "30d"]
ACCOUNTS = 400
CONTRACTS = ("Month-to-month", "One year", "Two year")


def _accounts(seed: int = 16) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(ACCOUNTS):
        products = int(rng.integers(1, 6))
        tenure = int(rng.integers(0, 72))
        contract = CONTRACTS[int(rng.integers(0, 3))]
        logit = (-1.6 + 0.6 * (products - 3) - 0.04 * (tenure - 36)
                 + 1.5 * (contract == CONTRACTS[0]) - 1.0 * (contract == CONTRACTS[2]))
        churned = rng.random() < 1 / (1 + np.exp(-logit))
        rows.append({
            "external_id": f"C-{k}",
            "name": f"Customer {k}",
            "arr": str(12 * int(rng.integers(20, 120))),
            "contract_start": add_months(AS_OF, -tenure).isoformat(),
            "lifecycle": "churned" if churned else "paid",
            "churned_on": (AS_OF + timedelta(days=1 + k % 30)).isoformat() if churned else "",
            "custom.contract": contract,
            "custom.products": str(products),
            "custom.note": "imported",  # a custom field scoring.learn does not name
        })
    return rows


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An imported drop (accounts.csv only) and its environment."""
    root = tmp_path_factory.mktemp("snapshot")
    data = root / "data"
    data.mkdir()
    rows = _accounts()
    with (data / "accounts.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    config = {
        "sources": {"files": {"path": str(data)}},
        "scoring": {"learn": {"categorical": ["custom.contract"],
                              "numeric": ["tenure_days", "custom.products"]}},
    }
    (root / "pulse.yml").write_text(yaml.safe_dump(config))
    url = f"sqlite:///{root / 'pulse.db'}"
    upgrade(url)
    env = {"DATABASE_URL": url, "PULSE_CONFIG": str(root / "pulse.yml"), "COLUMNS": "220"}
    synced = runner.invoke(app, ["sync", "--source", "files"], env=env)
    assert synced.exit_code == 0, synced.output
    yield env
    get_engine(url).dispose()


def _text(output: str) -> str:
    return " ".join(output.split())


def test_a_date_without_churn_after_it_suggests_the_snapshot_date(drop: dict[str, str]) -> None:
    result = runner.invoke(app, ["tune", "--as-of", "2025-04-01", *HORIZON], env=drop)
    assert result.exit_code == 2
    out = _text(result.output)
    assert "The data holds no usage" in out
    assert "Without usage data, learning reads the account fields named in scoring.learn" in out
    # the snapshot date is usable although no usage exists, and it is the one suggested
    assert f"Try --as-of {AS_OF}" in out and "No as-of date has" not in out


def test_one_snapshot_of_accounts_is_learned_written_and_becomes_the_score(
    drop: dict[str, str],
) -> None:
    learned = runner.invoke(app, ["tune", "--as-of", AS_OF.isoformat(), *HORIZON, "--write"],
                            env=drop)
    assert learned.exit_code == 0, learned.output
    out = _text(learned.output)
    assert "5 folds by account" in out
    assert "Custom field(s) not named in scoring.learn, so not learned from: note." in out
    doc = yaml.safe_load((Path(drop["PULSE_CONFIG"]).parent / "pulse-model.yml").read_text())
    inputs = {i["name"]: i for i in doc["inputs"]}
    # more products, more churn: learned as such, so points fall as products rise
    assert inputs["account_products"]["direction"] == "more -> riskier"
    assert inputs["account_tenure_days"]["direction"] == "more -> safer"
    contract = {b["bin"]: b["points"] for b in inputs["account_contract"]["bins"]}
    assert contract["Month-to-month"] == 0.0 < min(
        p for b, p in contract.items() if b != "Month-to-month")
    assert doc["held_out_auc"]["points scorecard"] > 0.7
    assert doc["at_risk"]["precision"] > 0 and doc["at_risk"]["recall"] > 0
    scored = runner.invoke(app, ["score", "--as-of", AS_OF.isoformat()], env=drop)
    assert scored.exit_code == 0, scored.output
    summary = _text(scored.output)
    assert "with the learned model (learned from" in summary
    assert "At risk 0" not in summary and "0 accounts at risk" not in summary
