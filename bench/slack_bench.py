"""Slack bot benchmark: `/health` latency with 100,000 accounts stored.

Loads a synthetic portfolio (``bench/score_bench.py``'s generator, plus CS owners so
scopes are real), scores it twice, then serves the bot exactly as ``pulse serve`` does
(threaded WSGI server, Bolt signature verification) against the fake Slack Web API of
the test suite. Each request is a signed, form-encoded slash command sent over HTTP:

* **ack**: from sending the request to the HTTP 200 (Slack's deadline is 3 s);
* **response**: from sending the request to the card arriving at ``response_url``
  (recorded by the fake server).

Measured sequentially, then with 20 clients sending at once. Loading and scoring are
timed separately (they are not what is measured). Default run: about 2-4 minutes.

``--compare ROUNDS`` instead measures the in-process stdlib server against ``pulse
serve`` itself (gunicorn in a subprocess, ``--workers``/``--threads``, the scheduler off)
on the same database and fake Slack, alternating the two ROUNDS times. The subprocess
reads the wall clock instead of the bench's frozen 09:00, so its cards say "today" where
the stdlib side's say the bench day; the work per request is the same.

    python bench/slack_bench.py [--accounts N] [--rows N] [--backend sqlite|postgresql]
                                [--requests N] [--concurrency N]
                                [--compare ROUNDS --workers N --threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.harness import SECRET, TOKEN, BotHarness, start_bot  # noqa: E402
from score_bench import AS_OF, _frames, _load, scratch_database  # noqa: E402
from slack_signing import SlackSender  # noqa: E402

from pulse.kernel.config import parse_config  # noqa: E402
from storage.db import get_engine, session_scope  # noqa: E402

N_CSMS = 40
MANAGERS = 4
ADMIN_EMAIL = "bench.admin@bench.example"
ADMIN_ID = "U0BENCHADM"
NOW = datetime.combine(AS_OF, dtime(9, 0))


def owners_frame() -> pd.DataFrame:
    """Managers first (ids 1..MANAGERS), then CSMs spread over them."""
    rows = []
    for i in range(1, MANAGERS + N_CSMS + 1):
        manager = i <= MANAGERS
        rows.append(
            {
                "id": i,
                "source": "bench",
                "external_id": f"own{i}",
                "name": f"{'Manager' if manager else 'CSM'} {i}",
                "email": f"owner{i}@bench.example",
                "slack_user_id": f"U0BENCH{i:03d}",
                "team": f"Team {(i - 1) % MANAGERS + 1}",
                "is_manager": manager,
                "manager_id": None if manager else (i - 1) % MANAGERS + 1,
            }
        )
    frame = pd.DataFrame(rows)
    # object dtype keeps None as NULL and ints as ints (a float column would COPY "1.0")
    frame["manager_id"] = pd.Series([r["manager_id"] for r in rows], dtype=object)
    return frame


def load(url: str, n_accounts: int, n_rows: int) -> tuple[float, float]:
    """Generate, load and score twice (a week apart). Returns (load s, scoring s)."""
    from scoring.engine import run_scoring

    frames = _frames(n_accounts, n_rows)
    rng = np.random.default_rng(11)
    frames["accounts"]["owner_id"] = rng.integers(MANAGERS + 1, MANAGERS + N_CSMS + 1, n_accounts)
    ordered = {"owners": owners_frame(), **frames}
    load_s = _load(url, ordered)
    started = time.perf_counter()
    config = parse_config({})
    for day in (AS_OF - timedelta(days=7), AS_OF):
        with session_scope(url) as session:
            run_scoring(session, config, day)
    if get_engine(url).dialect.name == "postgresql":
        with get_engine(url).begin() as conn:
            conn.execute(text("ANALYZE"))
    return load_s, time.perf_counter() - started


@dataclass
class Sample:
    ack: float
    response: float
    status: int


class Runner:
    """Sends signed /health commands and times ack and response_url arrival."""

    def __init__(self, harness: BotHarness, events_url: str | None = None,
                 prefix: str = "b") -> None:
        self.harness = harness
        self.sender = SlackSender(events_url or harness.events_url, SECRET)
        self.prefix = prefix  # response_url keys must differ between runners
        self._n = 0
        self._lock = threading.Lock()

    def _key(self) -> str:
        with self._lock:
            self._n += 1
            return f"{self.prefix}{self._n}"

    def one(self, text: str, user: str) -> Sample:
        key = self._key()
        started = time.monotonic()
        resp = self.sender.command(
            text, user_id=user, response_url=self.harness.fake.response_url(key), timeout=60
        )
        ack = time.monotonic() - started
        call = self.harness.fake.wait_for(
            "response_url", 1, timeout=120, where=lambda c: c.path == f"/respond/{key}"
        )[0]
        return Sample(ack, call.at - started, resp.status_code)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def report(label: str, samples: list[Sample]) -> None:
    acks = [s.ack * 1000 for s in samples]
    resp = [s.response * 1000 for s in samples]
    bad = sum(1 for s in samples if s.status != 200)
    late = sum(1 for s in samples if s.ack >= 3.0)
    print(
        f"{label:38s} n={len(samples):4d} | ack p50 {pct(acks, 50):7.1f} ms, "
        f"max {max(acks):7.1f} ms | response p50 {pct(resp, 50):7.1f} ms, "
        f"p99 {pct(resp, 99):7.1f} ms, max {max(resp):7.1f} ms"
        + (f" | {bad} non-200" if bad else "")
        + (f" | {late} acks >= 3 s" if late else "")
    )


def run_phase(
    runner: Runner, queries: Callable[[int], tuple[str, str]], n: int, concurrency: int
) -> list[Sample]:
    if concurrency <= 1:
        return [runner.one(*queries(i)) for i in range(n)]
    concurrency = min(concurrency, n)
    barrier = threading.Barrier(concurrency)

    def worker(w: int) -> list[Sample]:
        barrier.wait()  # the first wave leaves together
        return [runner.one(*queries(i)) for i in range(w, n, concurrency)]

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(worker, range(concurrency)))
    return [s for part in results for s in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="usage rows to score")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=100, help="per measured phase")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--compare", type=int, default=0, metavar="ROUNDS",
                        help="alternate the stdlib server and `pulse serve` this many rounds")
    parser.add_argument("--workers", type=int, default=4, help="`pulse serve` workers")
    parser.add_argument("--threads", type=int, default=8, help="`pulse serve` threads each")
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, backend {args.backend}"
    )
    with scratch_database(args.backend, "pulse_slack_bench") as url:
        load_s, score_s = load(url, args.accounts, args.rows)
        print(
            f"loaded {args.accounts:,} accounts / {args.rows:,} usage rows in {load_s:.1f}s, "
            f"scored twice in {score_s:.1f}s (not part of the measurement)"
        )
        config = parse_config({"access": {"admins": [ADMIN_EMAIL]}})
        harness = start_bot(url, config, clock=lambda: NOW)
        harness.fake.add_user(ADMIN_ID, ADMIN_EMAIL, "Bench Admin")
        try:
            if args.compare:
                compare(harness, url, args)
            else:
                measure(harness, args.accounts, args.requests, args.concurrency)
        finally:
            harness.close()


def start_pulse_serve(url: str, fake_url: str, workers: int, threads: int
                      ) -> tuple[subprocess.Popen[bytes], str]:
    """`pulse serve` (gunicorn) on a free port against the bench database; its events URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = Path(tempfile.mkdtemp(prefix="pulse-bench-")) / "pulse.yml"
    config.write_text(f"access:\n  admins: ['{ADMIN_EMAIL}']\nlogging:\n  level: WARNING\n")
    env = {**os.environ, "DATABASE_URL": url, "PULSE_CONFIG": str(config),
           "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake_url,
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.cli.main", "serve", "--port", str(port), "--workers",
         str(workers), "--threads", str(threads), "--no-scheduler"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}/slack/events"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("pulse serve did not start")


def compare(harness: BotHarness, url: str, args: argparse.Namespace) -> None:
    """The stdlib server and `pulse serve`, alternated, on the same requests."""
    proc, events_url = start_pulse_serve(url, harness.fake.base_url, args.workers, args.threads)
    try:
        servers = {"stdlib": Runner(harness),
                   f"gunicorn {args.workers}w x {args.threads}t": Runner(harness, events_url, "g")}
        rng = random.Random(5)
        ids = [rng.randint(1, args.accounts) for _ in range(args.requests * 4)]

        def card(i: int) -> tuple[str, str]:
            return f"Bench Account {ids[i]}", ADMIN_ID

        for runner in servers.values():
            for i in range(3 * args.workers):  # warm every worker: imports, connections
                runner.one(*card(i))
        print(f"{args.requests} requests per phase, {args.compare} rounds alternated")
        for round_no in range(1, args.compare + 1):
            for name, runner in servers.items():
                report(f"r{round_no} {name}: card sequential", run_phase(
                    runner, card, args.requests, 1))
                report(f"r{round_no} {name}: card {args.concurrency} conc.", run_phase(
                    runner, card, args.requests, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def measure(harness: BotHarness, n_accounts: int, n: int, concurrency: int) -> None:
    runner = Runner(harness)
    rng = random.Random(5)
    ids = [rng.randint(1, n_accounts) for _ in range(n * 4)]
    csm = "U0BENCH010"

    def card_admin(i: int) -> tuple[str, str]:
        return f"Bench Account {ids[i]}", ADMIN_ID  # exact name: one match, the card

    def pick_admin(i: int) -> tuple[str, str]:
        return f"account {ids[i] // 10 or 1}", ADMIN_ID  # ~11 substring matches: pick list

    def card_csm(i: int) -> tuple[str, str]:
        return f"Bench Account {ids[i]}", csm  # mostly out of scope: "no match" for a CSM

    for i in range(5):  # warm-up: caches, connections, first auth.test
        runner.one(*card_admin(i))
    print(f"{n} requests per phase; concurrent phases: {concurrency} clients sending at once")
    report("/health NAME (admin, card) sequential", run_phase(runner, card_admin, n, 1))
    report("/health NAME (admin, card) concurrent", run_phase(runner, card_admin, n, concurrency))
    report("/health PART (admin, pick list) conc.", run_phase(runner, pick_admin, n, concurrency))
    report("/health NAME (CSM scope) concurrent", run_phase(runner, card_csm, n, concurrency))
    sample = runner.one("", csm)
    print(
        f"{'/health (CSM attention list) single':38s} ack {sample.ack * 1000:.1f} ms, "
        f"response {sample.response * 1000:.1f} ms (whole {n_accounts:,}-account portfolio)"
    )
    started = time.monotonic()
    resp = runner.sender.event({"type": "app_home_opened", "user": csm, "tab": "home"})
    ack = time.monotonic() - started
    call = harness.fake.wait_for(
        "views.publish", 1, timeout=300, where=lambda c: c.args.get("user_id") == csm
    )[0]
    print(
        f"{'app_home_opened (CSM) single':38s} ack {ack * 1000:.1f} ms (HTTP {resp.status_code}), "
        f"views.publish after {(call.at - started) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
