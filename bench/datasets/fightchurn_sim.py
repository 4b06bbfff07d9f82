"""A public churn data set for `pulse tune`: the event simulator of "Fighting Churn With Data".

`fightchurn` 1.2.0 on PyPI (MIT licence, Carl Gold, github.com/carl24k/fight-churn) ships
the book's simulator, `fightchurn.churnsim.churnsim`. Its ``crm6`` model is a B2B CRM
product: multi-user accounts on plans with seat limits (starter to premier, billed
monthly, every six months or yearly), discounts, an acquisition channel and a US state,
25 kinds of in-product events, and churn decided each month from the value the account
got out of its events. It writes accounts, subscriptions and events into a PostgreSQL
schema named after the model. ``--model socialnet7`` runs the book's running example
instead (one user per account, one plan, 8 event types; ``custom.born`` the user's birth
year): churn there follows the value of the events closely.

This script runs it (``simulate``, in a separate virtual environment: the package pins
numba, xgboost and more; the simulator itself needs only hydra-core, omegaconf, pandas,
numpy, joblib, filelock, postgres, psycopg2-binary and python-dateutil) and turns its
tables into a drop of the files connector (``export``; docs/import-format.md) plus the
``pulse.yml`` a workspace admin would write for it. The generated data stays out of the
repository; the fixed seed and one process make it the same on every run.

    python3 -m venv /tmp/fcvenv
    /tmp/fcvenv/bin/pip install --no-deps fightchurn==1.2.0
    /tmp/fcvenv/bin/pip install hydra-core~=1.3 omegaconf~=2.3 pandas~=2.0 numpy~=2.0 \\
        joblib~=1.3 filelock~=3.12 postgres~=4.0 psycopg2-binary~=2.9 python-dateutil~=2.8
    createdb -h 127.0.0.1 -U postgres churnsim
    python bench/datasets/fightchurn_sim.py simulate --python /tmp/fcvenv/bin/python
    python bench/datasets/fightchurn_sim.py export --out /tmp/fc16
    python bench/datasets/fightchurn_sim.py reference --out /tmp/fc16 --as-of 2023-06-30 \\
        --horizon-days 180     # models on each event type's count, outside Pulse

Mapping (one simulated customer = one Pulse account):

* ``accounts.csv``: ``FC-<id>``; ``tier`` the plan level (starter ... premier),
  ``custom.billing`` its bill period (monthly, biannual, annual), ``custom.channel`` the
  simulated acquisition channel, ``region`` the US state, ``custom.founded`` the
  customer's founding year (the simulator's age; younger customers are more satisfied),
  ``custom.discount`` the discount share, ``licensed_seats`` the plan's user limit,
  ``mrr``/``arr`` the plan's price after discount (the last subscription's);
  ``contract_start`` the first subscription's start; ``churned_on`` the last
  subscription's end when it is on or before the simulation's end (lifecycle
  ``churned``), else ``paid``; ``renewal_date`` only for yearly billing (the last
  term's start plus 12 months; Pulse reconstructs past renewal dates assuming yearly
  terms, docs/backtest.md, so monthly and six-monthly ones are left out).
* ``contacts.csv``: one per simulated user of an account (``FC-<id>-U<n>``), created on
  the day of its first event; user 0 is the main contact.
* ``usage.parquet``: account x user x event type (the feature) x day, ``events`` the
  count. The value amounts of won and lost opportunities are left out.

What the simulator writes and this leaves out: every account's add-on subscription rows
(the simulator writes one per add-on in the catalogue for every account, whatever it
bought, so they carry nothing) and the customers' utility, which decides churn.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 16
"""The simulator's random seed (Python's and numpy's)."""
DB_URL = "postgresql://postgres@127.0.0.1:5432/churnsim"
BILLING = {1: "monthly", 6: "biannual", 12: "annual"}
"""The simulator's bill periods in months, as the CRM's contract type."""
YEARLY_MONTHS = 12


@dataclass(frozen=True)
class Model:
    """One of the simulator's models, as run and mapped here."""

    customers: int
    """Customers at the start (the model's ``growth_rate`` adds more each month)."""
    start: str
    end: str
    """Simulated history: events before ``end``, churn on or before it."""
    add_ons: tuple[str, ...]
    """Products of the add-on catalogue (left out: see the module docstring)."""
    core_features: tuple[str, ...]
    """The admin's core features in the pulse.yml written here (picked as what the
    product is for; the simulator's value per event was not used to pick them)."""
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    born: str
    """The custom field holding the year of the simulator's ``date_of_birth``."""


MODELS = {
    "crm6": Model(600, "2023-01-01", "2024-01-01", ("meetings", "search_unlimited"),
                  ("create_opportunity", "win_opportunity", "add_contact", "add_lead",
                   "meeting"),
                  ("tier", "billing", "channel", "region"),
                  ("tenure_days", "licensed_seats", "arr", "discount", "founded"), "founded"),
    "socialnet7": Model(300, "2020-01-01", "2020-07-01", (),
                        ("post", "newfriend", "message", "reply"), ("channel", "region"),
                        ("tenure_days", "born"), "born"),
}
"""crm6: a B2B CRM (multi-user accounts, plans with seat limits, bill periods, discounts;
churn mostly at random: its churn curve is nearly flat in the value the customer gets).
socialnet7: the book's own running example, a one-user social network with one plan,
whose churn follows the value of the customer's events closely."""


def simulate(python: str, db_url: str, out_dir: Path, name: str, customers: int) -> None:
    """Run the simulator in its own environment (one process, so the seed fixes the data)."""
    model = MODELS[name]
    url = psycopg.conninfo.conninfo_to_dict(db_url)
    env = dict(os.environ, CHURN_DB=str(url["dbname"]), CHURN_DB_USER=str(url.get("user", "")),
               CHURN_DB_PASS=str(url.get("password", "")),
               CHURN_DB_HOST=str(url.get("host", "localhost")), CHURN_OUT_DIR=str(out_dir),
               TMPDIR=str(out_dir / "tmp"))  # its customer-id counter file lives there
    (out_dir / "tmp").mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "fightchurn.churnsim.churnsim", "--config-name", name,
               f"init_customers={customers}", f"start_date={model.start}",
               f"end_date={model.end}", f"random_seed={SEED}", "n_parallel=1", "force=true"]
    print(" ".join(command), flush=True)
    subprocess.run(command, env=env, cwd=out_dir, check=True)


def _query(conn: psycopg.Connection, name: str, sql: str) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql.replace("{schema}", name))  # the model's schema: one of MODELS
        names = [d.name for d in cur.description or ()]
        return pd.DataFrame(cur.fetchall(), columns=names)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    days_in = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, days_in))


def accounts_frame(conn: psycopg.Connection, name: str) -> pd.DataFrame:
    """One row per simulated customer, in the columns of accounts.csv."""
    model = MODELS[name]
    end = date.fromisoformat(model.end)
    subs = _query(conn, name, """
        select account_id, product, start_date, end_date, mrr, quantity,
               bill_period_months, discount
        from {schema}.subscription order by account_id, start_date""")
    subs = subs[~subs["product"].isin(model.add_ons)]
    people = _query(conn, name, "select id, channel, date_of_birth, country from {schema}.account")
    first = subs.groupby("account_id").first()
    last = subs.groupby("account_id").last()
    ends = subs.groupby("account_id")["end_date"].max()
    churned = ends <= end
    frame = pd.DataFrame({"account_id": last.index})
    frame["external_id"] = "FC-" + frame["account_id"].astype(str)
    frame["name"] = "Customer " + frame["account_id"].astype(str)
    frame["tier"] = last["product"].str.split("_").str[0].to_numpy()
    frame["licensed_seats"] = pd.to_numeric(last["quantity"]).astype("Int64").to_numpy()
    frame["mrr"] = last["mrr"].round(2).to_numpy()
    frame["arr"] = (last["mrr"] * 12).round(2).to_numpy()
    frame["contract_start"] = first["start_date"].to_numpy()
    frame["lifecycle"] = churned.map({True: "churned", False: "paid"}).to_numpy()
    frame["churned_on"] = ends.where(churned).to_numpy()
    yearly = last["bill_period_months"] == YEARLY_MONTHS
    renewal = [_add_months(start, YEARLY_MONTHS) for start in last["start_date"]]
    frame["renewal_date"] = pd.Series(renewal, index=last.index).where(yearly).to_numpy()
    frame["custom.billing"] = last["bill_period_months"].map(BILLING).to_numpy()
    frame["custom.discount"] = last["discount"].round(2).to_numpy()
    people = people.set_index("id").reindex(last.index)
    frame["region"] = people["country"].to_numpy()
    frame["custom.channel"] = people["channel"].to_numpy()
    frame[f"custom.{model.born}"] = pd.to_datetime(people["date_of_birth"]).dt.year.to_numpy()
    return frame


def usage_table(conn: psycopg.Connection, name: str) -> pa.Table:
    """Events counted per account, user, event type and day, before the simulation's end
    (a customer's last simulated month runs past it; churn there is not simulated).

    In day order, which keeps the files written so far identical. Until 2026-12 the
    order also mattered to the sync: the files connector's existence check re-read every
    stored row for every slice of a file in no day order on SQLite (the crm6 sync took
    23 min and 3.9 GB that way); it now reads only what a slice can match."""
    usage = _query(conn, name, """
        select e.account_id, coalesce(e.user_id, 0) as user_id,
               t.event_type_name as feature, e.event_time::date as day, count(*) as events
        from {schema}.event e join {schema}.event_type t using (event_type_id)
        where e.event_time < '{end}'
        group by 1, 2, 3, 4
        order by day, 1, 2, 3""".replace("{end}", MODELS[name].end))
    account = "FC-" + usage["account_id"].astype(str)
    return pa.table({
        "account_external_id": account,
        "user_external_id": account + "-U" + usage["user_id"].astype(str),
        "feature": usage["feature"],
        "day": pd.to_datetime(usage["day"]).dt.date,
        "events": usage["events"].astype("int64"),
    })


def contacts_frame(usage: pa.Table) -> pd.DataFrame:
    """One contact per user seen in the usage, created on its first day."""
    frame = usage.select(["account_external_id", "user_external_id", "day"]).to_pandas()
    users = frame.groupby(["account_external_id", "user_external_id"], as_index=False)["day"]
    out = users.min().rename(columns={"user_external_id": "external_id", "day": "created_on"})
    out["email"] = out["external_id"].str.lower() + "@customers.example"
    out["is_main_contact"] = out["external_id"].str.endswith("-U0")
    out["role"] = out["is_main_contact"].map({True: "owner", False: "member"})
    return out[["external_id", "account_external_id", "email", "role", "is_main_contact",
                "created_on"]]


PULSE_YML = """\
# pulse.yml for the fightchurn {name} simulation (bench/datasets/fightchurn_sim.py).
workspace:
  name: fightchurn {name} simulation
  timezone: UTC
sources:
  files:
    path: {data}
scoring:
  core_features: [{core}]
  learn:
    categorical: [{categorical}]
    numeric: [{numeric}]
"""


def export(db_url: str, out: Path, name: str) -> None:
    """Write out/data (the drop) and out/pulse.yml from the simulator's tables."""
    model = MODELS[name]
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(db_url) as conn:
        accounts = accounts_frame(conn, name)
        usage = usage_table(conn, name)
    accounts = accounts.drop(columns="account_id").dropna(axis="columns", how="all")
    accounts.to_csv(data / "accounts.csv", index=False)
    contacts_frame(usage).to_csv(data / "contacts.csv", index=False)
    pq.write_table(usage, data / "usage.parquet")
    (out / "pulse.yml").write_text(PULSE_YML.format(
        name=name, data=data.resolve(), core=", ".join(model.core_features),
        categorical=", ".join(model.categorical), numeric=", ".join(model.numeric)))
    churned = accounts["churned_on"].dropna()
    days = usage.column("day").to_pandas()
    print(f"{len(accounts):,} accounts, {len(churned):,} churned "
          f"({churned.min()} to {churned.max()}); {usage.num_rows:,} usage rows "
          f"({days.min()} to {days.max()}); written to {data}")


REFERENCE_WINDOW_DAYS = 30
"""Days of events the per-event-type reference counts (Pulse's default window)."""


def reference(out: Path, name: str, as_of: date, horizon_days: int) -> None:
    """Held-out AUC of models on each event type's count (inputs Pulse does not compute)
    plus price, discount and birth year, for the accounts alive on ``as_of``: what the
    exported data allows beyond Pulse's own inputs (5 stratified folds, fixed seed)."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data, day = out / "data", pd.Timestamp(as_of)
    accounts = pd.read_csv(data / "accounts.csv", parse_dates=["contract_start", "churned_on"])
    alive = accounts[(accounts["contract_start"] <= day)
                     & ~(accounts["churned_on"] <= day)].set_index("external_id")
    churned = alive["churned_on"] <= day + pd.Timedelta(days=horizon_days)
    usage = pq.read_table(data / "usage.parquet").to_pandas()
    usage["day"] = pd.to_datetime(usage["day"])
    recent = usage[(usage["day"] > day - pd.Timedelta(days=REFERENCE_WINDOW_DAYS))
                   & (usage["day"] <= day)]
    counts = recent.pivot_table(index="account_external_id", columns="feature",
                                values="events", aggfunc="sum", fill_value=0)
    inputs = np.log1p(counts.reindex(alive.index).fillna(0))
    for column in ("mrr", "custom.discount", f"custom.{MODELS[name].born}"):
        inputs[column] = alive[column]
    x, y = inputs.to_numpy(dtype=float), churned.to_numpy(dtype=int)
    print(f"{len(y):,} accounts alive on {as_of}, {y.sum():,} churned within {horizon_days} days")
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(x, y))
    models = {
        "logistic regression": make_pipeline(StandardScaler(),
                                             LogisticRegression(C=0.1, max_iter=2000)),
        "gradient boosting": HistGradientBoostingClassifier(random_state=SEED),
    }
    for label, model in models.items():
        aucs = [roc_auc_score(y[test], model.fit(x[train], y[train]).predict_proba(x[test])[:, 1])
                for train, test in folds]
        print(f"{label} on each event type's count: mean AUC {np.mean(aucs):.3f} "
              f"({' '.join(f'{a:.3f}' for a in aucs)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run the simulator into PostgreSQL")
    sim.add_argument("--python", required=True, help="python of the fightchurn venv")
    sim.add_argument("--customers", type=int, help="customers at the start (default: "
                     + ", ".join(f"{n} {m.customers}" for n, m in MODELS.items()) + ")")
    sim.add_argument("--sim-out", type=Path, default=Path("/tmp/fightchurn-sim"),
                     help="the simulator's own output directory (its config copy)")
    exp = sub.add_parser("export", help="write the files-connector drop and pulse.yml")
    exp.add_argument("--out", type=Path, required=True)
    ref = sub.add_parser("reference", help="held-out AUC on each event type's count")
    ref.add_argument("--out", type=Path, required=True, help="the directory export wrote")
    ref.add_argument("--as-of", type=date.fromisoformat, required=True)
    ref.add_argument("--horizon-days", type=int, required=True)
    for command in (sim, exp, ref):
        command.add_argument("--model", choices=sorted(MODELS), default="crm6")
        command.add_argument("--db", default=DB_URL, help="PostgreSQL database of the run")
    args = parser.parse_args(argv)
    if args.command == "simulate":
        simulate(args.python, args.db, args.sim_out, args.model,
                 args.customers or MODELS[args.model].customers)
    elif args.command == "export":
        export(args.db, args.out, args.model)
    else:
        reference(args.out, args.model, args.as_of, args.horizon_days)


if __name__ == "__main__":
    main()
