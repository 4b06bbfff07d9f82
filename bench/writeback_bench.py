"""CRM writeback benchmark: API requests for 10,000 changed accounts, and for none.

Seeds a temporary SQLite database with N accounts (each with a Salesforce and a HubSpot
record id) and one score snapshot each, then runs the real ``write_back`` of each CRM
against the fakes the tests use (``tests/fakes``: a ``responses``-based Salesforce org and
a local HTTP HubSpot API) three times: all accounts changed, nothing changed, all scores
changed again. For each run it prints the write requests and the set-up requests as the
connector counts them (the Salesforce describe; on a new HubSpot portal, the refused
first update, the property listings and the one-time creation of the group and fields),
and what the fake itself recorded (every HTTP request).

Targets: 10,000 changed accounts take at most 50 Salesforce and 100 HubSpot write
requests; an unchanged portfolio takes 0 requests of any kind.

    python bench/writeback_bench.py [--accounts N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import responses

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.hubspot_api import FakeHubSpot  # noqa: E402
from fakes.salesforce import ENV_TOKEN, FakeSalesforce  # noqa: E402

from connectors import hubspot, salesforce  # noqa: E402
from connectors.writeback import WritebackReport  # noqa: E402
from pulse.kernel.config import parse_config  # noqa: E402
from storage.db import session_factory  # noqa: E402
from storage.loader import bulk_insert  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

NOW = datetime(2026, 11, 25, 6, 0)
T0 = datetime(2026, 11, 1, 9, 0)
SF_LIMIT, HS_LIMIT = 50, 100


def _sf_id(n: int) -> str:
    return f"001B{n:014d}"


def _accounts(n: int) -> pd.DataFrame:
    ids = range(1, n + 1)
    return pd.DataFrame(
        {
            "id": list(ids),
            "source": "bench",
            "external_id": [f"b{i}" for i in ids],
            "name": [f"Bench Account {i}" for i in ids],
            "salesforce_id": [_sf_id(i) for i in ids],
            "hubspot_id": [str(i) for i in ids],
            "lifecycle": "paid",
            "do_not_contact": False,
            "custom": "{}",
            "updated_at": NOW,
        }
    )


def _snapshots(n: int, as_of: date, shift: int, first_id: int) -> pd.DataFrame:
    scores = [float((i * 7 + shift) % 100) for i in range(1, n + 1)]
    return pd.DataFrame(
        {
            "id": range(first_id, first_id + n),
            "account_id": range(1, n + 1),
            "as_of": as_of,
            "computed_at": NOW.replace(day=as_of.day + 1),
            "score": scores,
            "tier": ["healthy" if s >= 70 else "fine" if s >= 40 else "at_risk" for s in scores],
            "components": "[]",
            "expansion_score": [float((i + shift) % 50) for i in range(1, n + 1)],
            "renewal_risk": "low",
            "renewal_risk_score": 10.0,
            "flags": "[]",
            "reasons": '["Seats: 3 of 10 seats active (30%)"]',
        }
    )


Run = Callable[[Any], tuple[WritebackReport, int, int]]
"""session -> (report, requests the fake recorded in total, write requests it recorded)"""


def _scenario(label: str, n: int, run: Run, limit: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        session = session_factory(url)()
        bulk_insert(session, "accounts", _accounts(n))
        bulk_insert(session, "score_snapshots", _snapshots(n, date(2026, 11, 23), 0, 1))
        session.commit()
        rounds = ("changed", "unchanged", "changed again")
        for name in rounds:
            if name == "changed again":
                snaps = _snapshots(n, date(2026, 11, 24), 13, n + 1)
                bulk_insert(session, "score_snapshots", snaps)
                session.commit()
            start = time.perf_counter()
            report, fake_total, fake_writes = run(session)
            session.commit()
            seconds = time.perf_counter() - start
            ok = report.requests <= limit if name != "unchanged" else fake_total == 0
            rows.append(
                {
                    "crm": label,
                    "round": name,
                    "sent": report.sent,
                    "succeeded": report.succeeded,
                    "failed": len(report.failed),
                    "unchanged": report.unchanged,
                    "write requests": report.requests,
                    "set-up requests": report.setup_requests,
                    "fake writes": fake_writes,
                    "fake total": fake_total,
                    "seconds": round(seconds, 1),
                    "target": "met" if ok else "NOT MET",
                }
            )
            print(rows[-1], flush=True)
        session.close()
    return rows


def _salesforce(label: str, n: int, config_data: dict[str, Any]) -> list[dict[str, Any]]:
    config = parse_config({"sources": {"salesforce": config_data}})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeSalesforce(mock)  # registers its callbacks on the mock

        def run(session: Any) -> tuple[WritebackReport, int, int]:
            calls = len(mock.calls)
            client = salesforce.SalesforceClient.from_env("59.0", ENV_TOKEN, sleep=lambda _: None)
            report = salesforce.write_back(session, config, client, now=NOW)
            seen = list(mock.calls)[calls:]
            # every call but the describe is a write: a Collections PATCH or a bulk job call
            writes = sum(1 for c in seen if not c.request.url.rstrip("/").endswith("/describe"))
            return report, len(seen), writes

        return _scenario(label, n, run, SF_LIMIT)


def _hubspot(n: int) -> list[dict[str, Any]]:
    config = parse_config({"sources": {"hubspot": {}}})
    with FakeHubSpot() as fake:
        for i in range(1, n + 1):
            fake.put("companies", str(i), T0, name=f"Co {i}")
        os.environ["HUBSPOT_ACCESS_TOKEN"] = fake.token
        os.environ["HUBSPOT_API_URL"] = fake.base_url

        def run(session: Any) -> tuple[WritebackReport, int, int]:
            before = len(fake.requests)
            updates = len(fake.calls("/objects/companies/batch/update"))
            report = hubspot.write_back(session, config, now=NOW, sleep=lambda _: None)
            writes = len(fake.calls("/objects/companies/batch/update")) - updates
            return report, len(fake.requests) - before, writes

        return _scenario("HubSpot", n, run, HS_LIMIT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {platform.platform()}")
    print(f"date: {datetime.now().isoformat(timespec='seconds')}")
    print(f"accounts: {args.accounts:,}")
    rows = []
    rows += _salesforce("Salesforce (default: Bulk API 2.0 above 2,000)", args.accounts, {})
    rows += _salesforce(
        "Salesforce (sObject Collections only)", args.accounts, {"bulk_threshold": 1_000_000}
    )
    rows += _hubspot(args.accounts)
    print()
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for row in rows:
        print(
            "| "
            + " | ".join(f"{row[k]:,}" if isinstance(row[k], int) else str(row[k]) for k in keys)
            + " |"
        )
    if any(r["target"] != "met" for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
