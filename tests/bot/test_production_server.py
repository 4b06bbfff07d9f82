"""`pulse serve` as production runs it: gunicorn in a subprocess, several workers, on a
free port against a migrated SQLite database, with JSON logs captured to a file.

What an operator relies on: /healthz and /readyz answer (503 naming the migrations when
the database is behind), /metrics adds up every worker's requests, exactly one worker
runs the scheduled jobs, SIGTERM finishes a request in flight and releases the leader
lock, logs are JSON lines without a secret in them, and a Salesforce Outbound Message
carrying an entity-expansion bomb is refused with 400 before it is parsed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from fakes.harness import SECRET, TOKEN
from fakes.slack_api import FakeSlack
from prometheus_client.parser import text_string_to_metric_families
from slack_signing import sign
from sqlalchemy import func, select, text
from webhook_signing import (
    SALESFORCE_HEADERS,
    SALESFORCE_ORG,
    SECRETS,
    stripe_event,
    stripe_headers,
)

from pulse.jobs.scheduler import LeaderLock
from storage.db import get_engine, session_factory
from storage.migrate import head_revision
from storage.models import WebhookEvent

DB_PASSWORD = "pg-password-not-for-logs"
EXTRA_SECRETS = {"SALESFORCE_PASSWORD": DB_PASSWORD, "HUBSPOT_ACCESS_TOKEN": "pat-na1-0000-hub"}
LEADER_LINE = "this process now runs Pulse's scheduled jobs"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>&lol9;</OrganizationId></notifications></soapenv:Body></soapenv:Envelope>"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    db: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def wait_log(self, needle: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(needle in line for line in self.lines()) < count:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.log.read_text()}"
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def serve(tmp: Path, template: Path, fake: FakeSlack, *args: str) -> Served:
    """`pulse serve` on a free port with JSON logs (DEBUG) and every secret set."""
    db = tmp / "pulse.db"
    shutil.copy(template, db)
    (tmp / "pulse.yml").write_text("schedule:\n  enabled: false\n")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "PULSE_", "PROMETHEUS_"))}
    env |= {"DATABASE_URL": f"sqlite:///{db}", "PULSE_CONFIG": str(tmp / "pulse.yml"),
            "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.base_url, "PULSE_LOG_FORMAT": "json",
            "PULSE_LOG_LEVEL": "DEBUG", **SECRETS, **EXTRA_SECRETS}
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pulse.cli.main", "serve", "--port", str(port), *args],
            cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Served(proc, port, f"sqlite:///{db}", log)
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(served.base + "/healthz", timeout=2).status_code == 200:
                return served
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "pulse serve did not start:\n" + log.read_text()
        time.sleep(0.3)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack(token=TOKEN).start()
    yield slack
    slack.stop()


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory,
           fake: FakeSlack) -> Iterator[Served]:
    served = serve(tmp_path_factory.mktemp("serve"), sqlite_template, fake,
                   "--workers", "2", "--threads", "4")
    served.wait_log("ready (4 threads)", count=2)
    yield served
    served.stop()


def test_healthz_answers_ok(server: Served) -> None:
    resp = requests.get(server.base + "/healthz", timeout=5)
    assert (resp.status_code, resp.text) == (200, "ok\n")
    assert resp.headers["Server"].startswith("gunicorn")


def test_readyz_is_ready_on_a_current_database(server: Served) -> None:
    resp = requests.get(server.base + "/readyz", timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ready"] is True and body["database"] == "ok"
    assert body["migrations"] == {"database": head_revision(), "expected": head_revision()}
    assert body["last_pipeline_run"] is None


def test_readyz_is_503_naming_the_migrations_when_the_database_is_behind(server: Served) -> None:
    engine = get_engine(server.db)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        resp = requests.get(server.base + "/readyz", timeout=10)
        assert resp.status_code == 503
        body = resp.json()
        assert body["ready"] is False
        assert "migrations not current" in " ".join(body["problems"])
        assert "pulse db upgrade" in " ".join(body["problems"])
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"),
                         {"v": head_revision()})
    assert requests.get(server.base + "/readyz", timeout=10).status_code == 200


def _samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = requests.get(base + "/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def test_metrics_add_up_every_workers_requests_by_route(server: Served) -> None:
    key = ("pulse_http_request_duration_seconds_count",
           (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    before = _samples(server.base).get(key, 0.0)
    for _ in range(12):  # spread over both workers
        requests.get(server.base + "/healthz", timeout=5)
    forged = requests.post(server.base + "/slack/events", data=b"{}", timeout=5,
                           headers={"Content-Type": "application/json", **sign("nope", "{}")})
    assert forged.status_code == 401
    samples = _samples(server.base)
    assert samples[key] == before + 12
    assert samples[("pulse_http_request_duration_seconds_count",
                    (("method", "POST"), ("route", "/slack/events"), ("status", "401")))] >= 1
    names = {name for name, _ in samples}
    assert "pulse_http_request_duration_seconds_bucket" in names
    workers = {line for line in server.lines() if "ready (4 threads)" in line}
    assert len(workers) == 2


def test_exactly_one_worker_runs_the_scheduled_jobs(server: Served) -> None:
    server.wait_log(LEADER_LINE)
    time.sleep(1)
    assert sum(LEADER_LINE in line for line in server.lines()) == 1
    assert not LeaderLock(server.db).acquire()  # held by the leading worker


def test_webhook_logs_one_json_line_with_outcome_and_duration(server: Served) -> None:
    body = stripe_event("evt_prod_1", "customer.updated", {"id": "cus_1", "object": "customer"},
                        int(time.time()))
    resp = requests.post(server.base + "/webhooks/stripe", data=body,
                         headers=stripe_headers(body), timeout=10)
    assert resp.status_code == 200, resp.text
    server.wait_log("stripe webhook from")
    records = [json.loads(line) for line in server.lines() if line.startswith("{")]
    [line] = [r for r in records if "stripe webhook from" in r["message"]]
    assert line["level"] == "INFO" and line["outcome"] == "accepted"
    assert isinstance(line["duration"], float) and line["duration"] >= 0
    assert line["source"] == "stripe" and "1 new" in line["message"]


def test_an_entity_expansion_bomb_is_refused_with_400_and_not_parsed(server: Served) -> None:
    resp = requests.post(server.base + "/webhooks/salesforce", data=BILLION_LAUGHS,
                         headers=SALESFORCE_HEADERS, timeout=10)
    assert resp.status_code == 400
    assert "DTDForbidden" in resp.text
    with session_factory(server.db)() as session:
        stored = session.scalar(select(func.count()).select_from(WebhookEvent)
                                .where(WebhookEvent.source == "salesforce"))
    assert stored == 0
    assert requests.get(server.base + "/healthz", timeout=5).status_code == 200


def test_every_log_line_is_json_and_none_holds_a_secret(server: Served) -> None:
    server.wait_log("stripe webhook from")
    lines = [line for line in server.lines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) > 10
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    everything = "\n".join(lines)
    secrets = [TOKEN, SECRET, *EXTRA_SECRETS.values(),
               *(v for v in SECRETS.values() if v != SALESFORCE_ORG)]  # an org id is no secret
    for secret in secrets:
        assert secret not in everything, secret


def test_sigterm_finishes_the_request_in_flight_and_releases_the_lock(
    sqlite_template: Path, tmp_path: Path, fake: FakeSlack
) -> None:
    served = serve(tmp_path, sqlite_template, fake, "--workers", "1", "--threads", "2")
    served.wait_log(LEADER_LINE)
    body = json.dumps({"type": "url_verification", "challenge": "still-here",
                       "token": "x"}).encode()
    head = (f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in sign(SECRET, body.decode()).items())
            + "Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as conn:
        conn.sendall(head + body[:10])  # the request is in flight ...
        time.sleep(1.0)
        served.proc.send_signal(signal.SIGTERM)  # ... when the server is told to stop
        time.sleep(1.0)
        conn.sendall(body[10:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b"still-here" in answer
    assert served.proc.wait(timeout=60) == 0
    assert any("leader lock released" in line for line in served.lines())
    lock = LeaderLock(served.db)
    assert lock.acquire()
    lock.release()
