"""Identity resolution for one live event: the whole workspace against the batch's accounts.

A live Stripe or Zendesk event stores a record on its customer's linked-only account, and
the worker links that account to its CRM account (``resolve_identities``). Before, that
read and indexed every CRM account of the workspace; now it is limited to the accounts
holding the batch's records (``only=``), whose candidate CRM accounts are looked up by id
and domain. This bench loads ``--accounts`` CRM accounts (each with a Stripe customer id
and a domain) and ``--customers`` Stripe customers already linked, then times, alternated
``--rounds`` times, one new Stripe customer with an invoice being linked by a whole run
and by a run limited to it (each in a transaction rolled back afterwards, so every round
finds the same data).

    python bench/identity_bench.py [--accounts 100000] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from score_bench import scratch_database  # noqa: E402

from pulse.kernel.config import PulseConfig  # noqa: E402
from pulse.kernel.records import Batch  # noqa: E402
from pulse.services.identity import resolve_identities  # noqa: E402
from storage.db import get_engine, session_factory  # noqa: E402
from storage.loader import load_batch  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Account  # noqa: E402


def load(url: str, accounts: int, customers: int) -> None:
    upgrade(url)
    crm = [{"external_id": f"001{i:07d}", "name": f"Account {i}", "domain": f"a{i}.example",
            "stripe_customer_id": f"cus_{i}" if i < customers else None}
           for i in range(accounts)]
    stripe = [{"external_id": f"cus_{i}", "name": f"Account {i}", "domain": f"a{i}.example"}
              for i in range(customers)]
    with session_factory(url)() as session:
        load_batch(session, "files", Batch("accounts", crm))
        load_batch(session, "stripe", Batch("accounts", stripe))
        load_batch(session, "stripe", Batch("accounts", [
            {"external_id": "cus_new", "name": "New customer",
             "domain": f"https://www.a{accounts // 2}.example/"}]))
        load_batch(session, "stripe", Batch("invoices", [
            {"external_id": "in_new", "account_external_id": "cus_new", "amount": 100.0,
             "status": "open"}]))
        session.commit()
    with get_engine(url).connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def timed(url: str, limited: bool) -> tuple[float, int]:
    config = PulseConfig()
    with session_factory(url)() as session:
        holder = session.scalar(select(Account.id).where(Account.external_id == "cus_new"))
        start = time.perf_counter()
        report = resolve_identities(session, config, only={holder} if limited else None)
        seconds = time.perf_counter() - start
        session.rollback()
    return seconds, len(report.linked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    with scratch_database(args.backend) as url:
        started = time.perf_counter()
        load(url, args.accounts, args.customers)
        print(f"loaded {args.accounts:,} CRM accounts and {args.customers + 1:,} Stripe "
              f"customers in {time.perf_counter() - started:.0f} s")
        results: dict[str, list[float]] = {"whole workspace": [], "batch's accounts": []}
        for _ in range(args.rounds):
            for name, limited in (("whole workspace", False), ("batch's accounts", True)):
                seconds, linked = timed(url, limited)
                results[name].append(seconds)
                print(f"  {name}: {seconds:.3f} s ({linked:,} linked)")
        for name, values in results.items():
            print(f"{args.backend} {name}: median {statistics.median(values):.3f} s "
                  f"(min {min(values):.3f}, max {max(values):.3f})")


if __name__ == "__main__":
    main()
