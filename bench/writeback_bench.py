"""CRM writeback benchmark: API requests for 10,000 changed accounts, with the read-back.

Seeds a temporary SQLite database with N accounts (each with a Salesforce and a HubSpot
record id) and one score snapshot each, then runs the real ``write_back`` of each CRM
against the fakes the tests use (``tests/fakes``: a Salesforce org served over HTTPS on
127.0.0.1, its self-signed certificate trusted through ``REQUESTS_CA_BUNDLE``, and a local
HTTP HubSpot API) four times: all accounts changed, nothing changed, 1% of the
records edited by hand in the CRM (the score unchanged), all scores changed again. Every
run first reads the records' current health values back (Salesforce: sObject Collections
retrieve, 2,000 a request; HubSpot: companies batch read, 100 a request), then writes what
the CRM shows differently. For each run it prints the read, write and set-up requests as
the connector counts them (set-up: the Salesforce describe; on a new HubSpot portal, the
refused first update, the property listings and the one-time creation of the group and
fields), the hand edits put back, and what the fake itself recorded (every HTTP request).

Targets for 10,000 accounts: at most 5 Salesforce and 100 HubSpot read requests a run;
at most 50 Salesforce and 100 HubSpot write requests when all changed; no write request
when nothing changed; every hand edit put back, with the writes it needs only.

    python bench/writeback_bench.py [--accounts N] [--edited-share 0.01]
"""

from __future__ import annotations

import argparse
import math
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.hubspot_api import FakeHubSpot  # noqa: E402
from fakes.salesforce import FakeSalesforce, write_certificate  # noqa: E402

from connectors import hubspot, salesforce  # noqa: E402
from connectors.writeback import WritebackReport  # noqa: E402
from pulse.kernel.config import parse_config  # noqa: E402
from scoring.engine import persist_snapshots  # noqa: E402
from storage.db import session_factory  # noqa: E402
from storage.loader import bulk_insert  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

NOW = datetime(2026, 11, 25, 6, 0)
T0 = datetime(2026, 11, 1, 9, 0)
SF_LIMIT, HS_LIMIT = 50, 100
"""Write requests allowed for 10,000 changed accounts (scaled to N)."""
SF_READ, HS_READ = 2000, 100
"""Records per read-back request: the Salesforce retrieve and the HubSpot batch read."""
EDITED_SCORE = 1.0
"""The score someone types into the CRM by hand (no bench account scores exactly 1.0)."""


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


def _snapshots(session: Any, n: int, as_of: date, shift: int) -> None:
    """One snapshot per account on ``as_of``, written as a scoring run writes them."""
    scores = [float((i * 7 + shift) % 100) for i in range(1, n + 1)]
    scored = pd.DataFrame(
        {
            "account_id": range(1, n + 1),
            "score": scores,
            "tier": ["healthy" if s >= 70 else "fine" if s >= 40 else "at_risk" for s in scores],
            "components": [[] for _ in scores],
            "expansion_score": [float((i + shift) % 50) for i in range(1, n + 1)],
            "renewal_risk": "low",
            "renewal_risk_score": 10.0,
            "flags": [[] for _ in scores],
            "reasons": [["Seats: 3 of 10 seats active (30%)"] for _ in scores],
        }
    )
    persist_snapshots(session, scored, as_of, NOW.replace(day=as_of.day + 1))


Run = Callable[[Any], tuple[WritebackReport, int, int]]
"""session -> (report, requests the fake recorded in total, write requests it recorded)"""
Edit = Callable[[list[int]], None]
"""Edit the health score of these accounts (1-based numbers) by hand in the CRM."""
ROUNDS = ("changed", "unchanged", "hand-edited", "changed again")


def _met(name: str, report: WritebackReport, n: int, limit: int, per_read: int,
         edited: int) -> bool:
    reads_ok = report.read_requests <= math.ceil(n / per_read)
    if name == "unchanged":
        return reads_ok and report.requests == 0
    if name == "hand-edited":
        return reads_ok and report.restored == edited and report.sent == edited
    return reads_ok and report.requests <= math.ceil(limit * n / 10_000)


def _scenario(label: str, n: int, run: Run, edit: Edit, limit: int, per_read: int,
              edited_share: float) -> list[dict[str, Any]]:
    rows = []
    edited = list(range(1, n + 1, max(1, round(1 / edited_share))))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        session = session_factory(url)()
        bulk_insert(session, "accounts", _accounts(n))
        _snapshots(session, n, date(2026, 11, 23), 0)
        session.commit()
        for name in ROUNDS:
            if name == "hand-edited":
                edit(edited)
            if name == "changed again":
                _snapshots(session, n, date(2026, 11, 24), 13)
                session.commit()
            start = time.perf_counter()
            report, fake_total, fake_writes = run(session)
            session.commit()
            seconds = time.perf_counter() - start
            ok = _met(name, report, n, limit, per_read, len(edited))
            rows.append(
                {
                    "crm": label,
                    "round": name,
                    "sent": report.sent,
                    "succeeded": report.succeeded,
                    "failed": len(report.failed),
                    "put back": report.restored,
                    "unchanged": report.unchanged,
                    "read requests": report.read_requests,
                    "write requests": report.requests,
                    "read + write": report.read_requests + report.requests,
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


def _salesforce(label: str, n: int, config_data: dict[str, Any],
                edited_share: float) -> list[dict[str, Any]]:
    config = parse_config({"sources": {"salesforce": config_data}})
    with (tempfile.TemporaryDirectory(prefix="pulse-bench-tls-") as tls,
          FakeSalesforce(*write_certificate(Path(tls))) as fake):
        os.environ.update(fake.client_env)  # trust its certificate, reach its host names

        def run(session: Any) -> tuple[WritebackReport, int, int]:
            calls = len(fake.calls)
            client = salesforce.SalesforceClient.from_env("59.0", fake.env_token,
                                                          sleep=lambda _: None)
            report = salesforce.write_back(session, config, client, now=NOW)
            seen = fake.calls[calls:]
            # every call but the describe and the retrieves is a write: a Collections PATCH
            # or a bulk job call
            writes = sum(
                1 for c in seen
                if not c.request.url.rstrip("/").endswith(("/describe", "/sobjects/Account"))
            )
            return report, len(seen), writes

        def edit(numbers: list[int]) -> None:
            for number in numbers:
                fake.edit(_sf_id(number), Health_Score__c=EDITED_SCORE)

        return _scenario(label, n, run, edit, SF_LIMIT, SF_READ, edited_share)


def _hubspot(n: int, edited_share: float) -> list[dict[str, Any]]:
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

        def edit(numbers: list[int]) -> None:
            for number in numbers:
                fake.edit(str(number), health_score=str(EDITED_SCORE))

        return _scenario("HubSpot", n, run, edit, HS_LIMIT, HS_READ, edited_share)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--edited-share", type=float, default=0.01,
                        help="share of the records edited by hand in the hand-edited round")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cpus: {os.cpu_count()}  python: {platform.python_version()}  {platform.platform()}")
    print(f"date: {datetime.now().isoformat(timespec='seconds')}")
    print(f"accounts: {args.accounts:,}")
    rows = []
    share = args.edited_share
    rows += _salesforce("Salesforce (default: Bulk API 2.0 above 2,000)", args.accounts, {},
                        share)
    rows += _salesforce(
        "Salesforce (sObject Collections only)", args.accounts, {"bulk_threshold": 1_000_000},
        share,
    )
    rows += _hubspot(args.accounts, share)
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
