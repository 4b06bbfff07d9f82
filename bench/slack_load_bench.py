"""Slack load benchmark: 50 concurrent clients against `pulse serve` for 60 seconds.

Runs `pulse serve` itself (gunicorn, ``--workers``/``--threads``, the scheduler off) on
the sample workspace (scored up to today, so the server's wall clock sees fresh data),
with ``SLACK_API_URL`` pointed at the test suite's fake Slack Web API, which also serves
the ``response_url`` of every request and records when each answer arrives. Each client
sends, signed as Slack signs them, one request after another for ``--seconds``:
``/health NAME`` for an account of the sender's (most), a part of a name (a pick list),
``/health`` alone (the sender's attention list), or a click on a pick list's account
button (``health_pick``), pausing ``--pause`` seconds after each ack. Per request:

* **ack**: from sending to the HTTP 200 (Slack's deadline is 3 s);
* **answer**: from sending to the answer arriving at the fake (``response_url``);
* **busy**: told "Pulse is busy" at once (a command in its ack, a click on its
  ``response_url``) because the server's slow-work pool was full (``slack.work_threads``,
  ``slack.work_queue``);
* the server's **RSS** (the gunicorn master and its workers, summed from ``/proc``):
  at start ("cold"), after a 10-second warm-up by 4 clients opening a connection per
  request, so every worker has imported, connected and cached what requests need
  ("warm", the baseline), its peak during the load (sampled every 0.5 s), and
  ``--after`` seconds after the last request (or once every admitted request was
  answered, if later).

Targets (issue 18): answer p99 under 5 s; RSS back within 20 MB of where it started.
The clients, the fake and the server share the machine's cores.

    python bench/slack_load_bench.py [--backend postgresql|sqlite] [--clients 50]
        [--seconds 60] [--pause S] [--workers 2] [--threads 8]
        [--work-threads N] [--work-queue N] [--no-keep-alive] [--after 30]
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
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.harness import SECRET, TOKEN, load_sample_workspace, register_owners  # noqa: E402
from fakes.slack_api import FakeSlack  # noqa: E402
from score_bench import scratch_database  # noqa: E402
from slack_signing import (  # noqa: E402
    block_actions_body,
    block_actions_payload,
    sign,
    slash_command_body,
)

from bot.actions import PICK  # noqa: E402
from bot.workload import BUSY  # noqa: E402
from pulse.kernel.config import parse_config  # noqa: E402
from storage.db import get_engine, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Account, Owner  # noqa: E402

ANSWER_P99_TARGET = 5.0
RSS_BACK_WITHIN_MB = 20.0
FORM = "application/x-www-form-urlencoded"
SAMPLE_EVERY = 0.5
WARM_CLIENTS = 4
WARM_SECONDS = 10.0
WARM_PAUSE = 0.1
WARM_SETTLE = 3.0
DRAIN_SECONDS = 120.0
"""After the load, how long admitted requests may take to be answered before they count
as unanswered."""


@dataclass
class Sent:
    key: str
    kind: str  # card | pick | list | click
    started: float
    ack: float = float("nan")
    status: int = 0
    busy: bool = False
    error: str = ""  # the client's exception when no HTTP answer came


def portfolio(url: str) -> list[tuple[str, str]]:
    """(Slack user, account name) for every account whose owner is on Slack."""
    with session_factory(url)() as session:
        rows = session.execute(
            select(Owner.slack_user_id, Account.name).join(Account, Account.owner_id == Owner.id)
            .where(Owner.slack_user_id.is_not(None)).order_by(Account.id)).all()
    return [(str(user), str(name)) for user, name in rows]


def account_ids(url: str) -> list[int]:
    with session_factory(url)() as session:
        return list(session.scalars(select(Account.id).order_by(Account.id)))


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, fake: FakeSlack, args: argparse.Namespace
                 ) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    slack: dict[str, int] = {}
    if args.work_threads:
        slack["work_threads"] = args.work_threads
    if args.work_queue is not None:
        slack["work_queue"] = args.work_queue
    config = Path(tempfile.mkdtemp(prefix="pulse-load-")) / "pulse.yml"
    config.write_text("sources:\n  sample: {}\nlogging:\n  level: WARNING\n"
                      + (f"slack: {slack}\n" if slack else ""))
    env = {**os.environ, "DATABASE_URL": url, "PULSE_CONFIG": str(config),
           "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake.base_url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.cli.main", "serve", "--port", str(port), "--workers",
         str(args.workers), "--threads", str(args.threads), "--no-scheduler"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return proc, port
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("pulse serve did not start")


def tree(root: int) -> list[int]:
    """``root`` and its children: the gunicorn master and its workers."""
    pids = [root]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                pids.append(int(entry))
    return pids


def status(pid: int, field: str) -> int:
    """A number of ``/proc/PID/status`` (``VmRSS`` in kB, ``Threads``); 0 when gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(x.split()[1]) for x in lines if x.startswith(field + ":")), 0)


def rss_mb(root: int) -> float:
    """RSS of the gunicorn master and its workers, summed, in MB."""
    return sum(status(pid, "VmRSS") for pid in tree(root)) / 1024


def processes(root: int) -> str:
    return ", ".join(f"{status(pid, 'VmRSS') / 1024:.0f} MB ({status(pid, 'Threads')} threads)"
                     for pid in tree(root))


class Sampler(threading.Thread):
    """The server's RSS every :data:`SAMPLE_EVERY` seconds; ``peak`` is the largest."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, rss_mb(self.pid))


# ------------------------------------------------------------------ the clients


class Client:
    def __init__(self, n: int, events_url: str, fake: FakeSlack, mine: list[tuple[str, str]],
                 ids: list[int], pause: float, *, keep_alive: bool = True) -> None:
        self.n = n
        self.url = events_url
        self.fake = fake
        self.mine = mine
        self.ids = ids
        self.pause = pause
        self.rng = random.Random(n)
        self.http = requests.Session()
        self.close = {} if keep_alive else {"Connection": "close"}
        self.sent: list[Sent] = []

    def request(self, i: int) -> tuple[Sent, str]:
        user, name = self.rng.choice(self.mine)
        key = f"c{self.n}-{i}"
        respond = self.fake.response_url(key)
        roll = self.rng.random()
        if roll < 0.1:
            payload = block_actions_payload(
                {"action_id": PICK, "type": "button", "value": str(self.rng.choice(self.ids))},
                user_id=user, response_url=respond)
            return Sent(key, "click", 0.0), block_actions_body(payload)
        kind, text = "card", name
        if roll < 0.2:
            kind, text = "pick", name.split()[0][:4]
        elif roll < 0.3:
            kind, text = "list", ""
        return Sent(key, kind, 0.0), slash_command_body(text, user_id=user, response_url=respond)

    def run(self, until: float) -> None:
        i = 0
        while time.monotonic() < until:
            sent, body = self.request(i)
            i += 1
            sent.started = time.monotonic()
            try:
                resp = self.http.post(self.url, data=body.encode(), timeout=30,
                                      headers={"Content-Type": FORM, **self.close,
                                               **sign(SECRET, body)})
                sent.ack, sent.status = time.monotonic() - sent.started, resp.status_code
                sent.busy = sent.kind != "click" and BUSY in resp.text
            except requests.RequestException as exc:
                sent.status, sent.error = -1, type(exc).__name__ + str(exc)[-80:]
            self.sent.append(sent)
            time.sleep(self.pause)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def answers(fake: FakeSlack) -> dict[str, tuple[float, Any]]:
    """response_url key -> (when the first answer arrived, its text)."""
    out: dict[str, tuple[float, Any]] = {}
    for call in fake.responses():
        key = call.path.rsplit("/", 1)[-1]
        out.setdefault(key, (call.at, call.args.get("text")))
    return out


def report(sent: list[Sent], fake: FakeSlack, rss: dict[str, Any], seconds: float) -> None:
    got = answers(fake)
    acks = [s.ack for s in sent if s.status == 200]
    busy = [s for s in sent
            if s.busy or (s.kind == "click" and got.get(s.key, (0.0, ""))[1] == BUSY)]
    refused = {s.key for s in busy}
    admitted = [s for s in sent if s.status == 200 and s.key not in refused]
    answered = [got[s.key][0] - s.started for s in admitted if s.key in got]
    failed = Counter(s.error or f"HTTP {s.status}" for s in sent if s.status != 200)
    print(f"requests {len(sent)} in {seconds:.0f} s ({len(sent) / seconds:.1f}/s), "
          f"{sum(failed.values())} not acked 200 {dict(failed) or ''}")
    print(f"ack     p50 {pct(acks, 50) * 1000:7.1f} ms  p99 {pct(acks, 99) * 1000:7.1f} ms  "
          f"max {max(acks, default=float('nan')) * 1000:7.1f} ms")
    print(f"answer  p50 {pct(answered, 50):7.2f} s   p99 {pct(answered, 99):7.2f} s   "
          f"max {max(answered, default=float('nan')):7.2f} s  "
          f"({len(answered)} answered, {len(admitted) - len(answered)} admitted unanswered)")
    print(f"busy    {len(busy)} told 'Pulse is busy' "
          f"({sum(1 for s in busy if s.kind == 'click')} of them clicks)")
    print(f"RSS     warm {rss['warm']:.1f} MB (cold {rss['cold']:.1f}), peak {rss['peak']:.1f} MB, "
          f"after {rss['after']:.1f} MB ({rss['after'] - rss['warm']:+.1f} MB)")
    p99 = pct(answered, 99)
    print(f"targets: answer p99 < {ANSWER_P99_TARGET:.0f} s: "
          f"{'met' if p99 < ANSWER_P99_TARGET else 'NOT met'}; RSS within "
          f"{RSS_BACK_WITHIN_MB:.0f} MB of start: "
          f"{'met' if rss['after'] - rss['warm'] <= RSS_BACK_WITHIN_MB else 'NOT met'}")


def warm_up(events_url: str, fake: FakeSlack, pairs: list[tuple[str, str]],
            ids: list[int]) -> None:
    """A few clients, a new connection per request so every worker gets some, for
    :data:`WARM_SECONDS`: imports, database connections, users cached, as after a
    server's first minutes; RSS measured from there."""
    clients = [Client(-1 - n, events_url, fake, pairs, ids, WARM_PAUSE, keep_alive=False)
               for n in range(WARM_CLIENTS)]
    threads = [threading.Thread(target=c.run, args=(time.monotonic() + WARM_SECONDS,))
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(WARM_SETTLE)


def load_and_measure(url: str, args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    upgrade(url)
    load_sample_workspace(url, parse_config({"sources": {"sample": {}}}), end=today)
    pairs, ids = portfolio(url), account_ids(url)
    fake = FakeSlack(token=TOKEN).start()
    register_owners(fake, url)
    proc, port = start_server(url, fake, args)
    events_url = f"http://127.0.0.1:{port}/slack/events"
    try:
        rss: dict[str, Any] = {"cold": rss_mb(proc.pid)}
        warm_up(events_url, fake, pairs, ids)
        rss["warm"] = rss_mb(proc.pid)
        rss["warm_detail"] = processes(proc.pid)
        fake.reset()
        clients = [Client(n, events_url, fake, pairs, ids, args.pause,
                          keep_alive=not args.no_keep_alive) for n in range(args.clients)]
        sampler = Sampler(proc.pid)
        sampler.start()
        started = time.monotonic()
        threads = [threading.Thread(target=c.run, args=(started + args.seconds,))
                   for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ended = time.monotonic()
        sent = [s for c in clients for s in c.sent]
        expected = {s.key for s in sent if s.status == 200 and not s.busy}
        while time.monotonic() < ended + DRAIN_SECONDS and not expected <= set(answers(fake)):
            time.sleep(0.5)
        time.sleep(max(0.0, ended + args.after - time.monotonic()))
        sampler.stop.set()
        rss["peak"] = max(sampler.peak, rss["warm"])
        rss["after"] = rss_mb(proc.pid)
        print(f"RSS per process (master first), warm: {rss['warm_detail']}; after: "
              f"{processes(proc.pid)}")
        report(sent, fake, rss, ended - started)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        fake.stop()
        get_engine(url).dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pause", type=float, default=0.2, help="after each ack, per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--work-threads", type=int, default=0, help="slack.work_threads")
    parser.add_argument("--work-queue", type=int, default=None, help="slack.work_queue")
    parser.add_argument("--no-keep-alive", action="store_true",
                        help="a new connection per request (default: one kept per client)")
    parser.add_argument("--after", type=float, default=30.0,
                        help="seconds after the load when RSS is read again")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, backend {args.backend}; {args.clients} clients, "
          f"{args.seconds:.0f} s, pause {args.pause} s; pulse serve {args.workers} workers x "
          f"{args.threads} threads, work pool {args.work_threads or 'default'} threads / "
          f"{'default' if args.work_queue is None else args.work_queue} queue")
    with scratch_database(args.backend, "pulse_load_bench") as url:
        load_and_measure(url, args)


if __name__ == "__main__":
    main()
