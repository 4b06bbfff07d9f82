"""Issue 18: Slack's requests are checked on the raw bytes before anything parses them.

First against :class:`bot.guard.SlackGuard` as a WSGI app (to count the bytes it reads
and the log it writes), then through the running bot (``pulse serve``'s dispatcher with
Bolt behind it) over real HTTP: a 10 MB forged request is refused with 413 and leaves
under 1 KB of log, malformed unsigned bodies answer 400 and never 500, and an identical
signed request within the 5-minute window is answered once.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.harness import SECRET, TOKEN, BotHarness, load_sample_workspace, prepare_database
from fakes.harness import start_bot as start_harness
from fakes.slack_api import FakeSlack
from slack_signing import SlackSender, sign, slash_command_body

from bot.guard import TOLERANCE_SECONDS, RefusalLog, SeenRequests, SlackGuard
from pulse.kernel.config import parse_config
from storage.db import get_engine

PATH = "/slack/events"
MB = 1024 * 1024
KENJI = "U0CSM0009"  # CSM who owns Northwind Analytics in the sample workspace
MALFORMED = [  # (content type, body, extra headers): what answered 500 before issue 18
    ("application/x-www-form-urlencoded", "payload=%7Bnot-json", {}),
    ("application/x-www-form-urlencoded", "payload=null", {}),
    ("application/x-www-form-urlencoded", "payload=", {}),
    ("application/json", "command=%2Fhealth&text=x", {}),
    ("application/x-www-form-urlencoded", "command=%2Fhealth",
     {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}),
]


class CountingInput(io.RawIOBase):
    """A request body of ``size`` bytes that counts what was read of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        n = self.size - self.read_bytes if n < 0 else min(n, self.size - self.read_bytes)
        self.read_bytes += n
        return b"A" * n


class Inner:
    """Stands in for Bolt's handler: records what reached it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.bodies.append(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]


def _call(guard: SlackGuard, body: bytes | CountingInput, headers: dict[str, str],
          content_type: str = "application/x-www-form-urlencoded") -> tuple[int, bytes]:
    stream = body if isinstance(body, CountingInput) else io.BytesIO(body)
    size = body.size if isinstance(body, CountingInput) else len(body)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": PATH, "CONTENT_LENGTH": str(size),
               "CONTENT_TYPE": content_type, "REMOTE_ADDR": "203.0.113.9", "wsgi.input": stream}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    status: list[str] = []
    out = b"".join(guard(environ, lambda head, _headers: status.append(head)))
    return int(status[0].split()[0]), out


def _log_bytes(caplog: pytest.LogCaptureFixture) -> int:
    return sum(len(r.getMessage()) for r in caplog.records)


@pytest.fixture
def guard(db_url: str) -> Iterator[tuple[SlackGuard, Inner]]:
    inner = Inner()
    yield SlackGuard(inner, PATH, SECRET, MB, seen=SeenRequests(db_url)), inner


def test_a_10_mb_forged_request_is_refused_unread_and_logged_in_one_short_line(
    guard: tuple[SlackGuard, Inner], caplog: pytest.LogCaptureFixture
) -> None:
    app, inner = guard
    body = CountingInput(10 * MB)
    with caplog.at_level(logging.DEBUG):
        status, _ = _call(app, body, sign("forged", "x"))
    assert status == 413
    assert body.read_bytes == 0 and inner.bodies == []
    assert 0 < _log_bytes(caplog) < 1024


def test_forged_requests_under_the_limit_log_no_body_and_are_rate_limited(
    caplog: pytest.LogCaptureFixture, db_url: str
) -> None:
    minute = [0.0]
    inner = Inner()
    app = SlackGuard(inner, PATH, SECRET, MB, seen=SeenRequests(db_url),
                     refusals=RefusalLog(logging.getLogger("pulse.bot.guard"),
                                         per_minute=5, clock=lambda: minute[0]))
    body = b"SECRETBODY" * 90_000  # 900 KB, signed with the wrong secret
    with caplog.at_level(logging.DEBUG):
        for _ in range(40):
            assert _call(app, body, sign("forged", body.decode()))[0] == 401
        minute[0] += 60
        assert _call(app, body, sign("forged", body.decode()))[0] == 401
    assert inner.bodies == []
    assert not any("SECRETBODY" in r.getMessage() for r in caplog.records)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5 + 2 and "35 more refused request(s) not logged" in lines[5]
    assert _log_bytes(caplog) < 7 * 200


@pytest.mark.parametrize(("content_type", "body", "headers"), MALFORMED)
def test_malformed_unsigned_requests_answer_400(
    guard: tuple[SlackGuard, Inner], content_type: str, body: str, headers: dict[str, str]
) -> None:
    app, inner = guard
    assert _call(app, body.encode(), headers, content_type)[0] == 400
    assert inner.bodies == []


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded", "payload=%7Bnot-json"),
    ("application/x-www-form-urlencoded", "payload=null"),
    ("application/json", "command=%2Fhealth&text=x"),
    ("application/json", "[1, 2]"),
])
def test_malformed_signed_requests_answer_400(
    guard: tuple[SlackGuard, Inner], content_type: str, body: str
) -> None:
    app, inner = guard
    assert _call(app, body.encode(), sign(SECRET, body), content_type)[0] == 400
    assert inner.bodies == []


def test_a_body_that_is_not_utf8_answers_400(guard: tuple[SlackGuard, Inner]) -> None:
    app, inner = guard
    body = b"command=\xff\xfe"
    headers = sign(SECRET, "")
    stamp = headers["X-Slack-Request-Timestamp"]
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    headers["X-Slack-Signature"] = "v0=" + digest.hexdigest()
    assert _call(app, body, headers)[0] == 400
    assert inner.bodies == []


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS - 60, TOLERANCE_SECONDS + 60])
def test_timestamps_outside_the_window_either_way_are_refused(
    guard: tuple[SlackGuard, Inner], offset: int
) -> None:
    app, inner = guard
    body = slash_command_body("help", user_id=KENJI, response_url="http://127.0.0.1:9/x")
    headers = sign(SECRET, body, int(time.time()) + offset)
    assert _call(app, body.encode(), headers)[0] == 401
    assert inner.bodies == []


def test_an_identical_signed_request_is_answered_once(guard: tuple[SlackGuard, Inner]) -> None:
    app, inner = guard
    body = slash_command_body("help", user_id=KENJI, response_url="http://127.0.0.1:9/x")
    headers = sign(SECRET, body)
    assert _call(app, body.encode(), headers) == (200, b"")
    assert _call(app, body.encode(), headers) == (200, b"")
    assert inner.bodies == [body.encode()]
    # the same command sent again a second later is a new request, with a new signature
    again = sign(SECRET, body, int(headers["X-Slack-Request-Timestamp"]) + 1)
    assert _call(app, body.encode(), again)[0] == 200
    assert len(inner.bodies) == 2


# ---------------------------------------------------------------------------------------
# Through the running bot


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bot(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotHarness]:
    config = parse_config({})
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("guard"))
    load_sample_workspace(url, config)
    harness = start_harness(url, config, fake=FakeSlack(token=TOKEN).start())
    yield harness
    harness.close()
    if request.param == "sqlite":
        get_engine(url).dispose()


def test_a_10_mb_forged_request_over_http_gets_413_before_its_body_is_sent(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", bot.server.server_port, timeout=10)
    with caplog.at_level(logging.DEBUG):
        conn.putrequest("POST", PATH)
        for key, value in {"Content-Type": "application/x-www-form-urlencoded",
                           "Content-Length": str(10 * MB), **sign("forged", "x")}.items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()  # the server answers without waiting for the body
        response.read()
    conn.close()
    assert response.status == 413
    assert _log_bytes(caplog) < 1024


@pytest.mark.parametrize(("content_type", "body", "headers"), MALFORMED)
def test_malformed_unsigned_requests_over_http_answer_400(
    bot: BotHarness, content_type: str, body: str, headers: dict[str, str]
) -> None:
    import requests

    resp = requests.post(bot.events_url, data=body.encode(), timeout=10,
                         headers={"Content-Type": content_type, **headers})
    assert resp.status_code == 400


def test_a_replayed_slash_command_is_answered_once(bot: BotHarness) -> None:
    bot.fake.reset()
    slack = SlackSender(bot.events_url, SECRET)
    stamp = int(time.time())
    kwargs: dict[str, Any] = dict(user_id=KENJI, response_url=bot.fake.response_url("replay"),
                                  timestamp=stamp)
    assert slack.command("help", **kwargs).status_code == 200
    assert slack.command("help", **kwargs).status_code == 200
    bot.wait_response("replay")
    time.sleep(1.0)  # a second answer would have arrived by now
    assert len(bot.responses("replay")) == 1


def test_a_replay_is_refused_for_as_long_as_its_timestamp_passes(db_url: str) -> None:
    # Stamped a whole window ahead, a request passes the timestamp check for twice the
    # window after it was first seen; pruning (due every minute) must not forget it.
    now = [1_800_000_000.0]
    inner = Inner()
    app = SlackGuard(inner, PATH, SECRET, MB, seen=SeenRequests(db_url), clock=lambda: now[0])
    body = slash_command_body("help", user_id=KENJI, response_url="http://127.0.0.1:9/x")
    headers = sign(SECRET, body, int(now[0]) + TOLERANCE_SECONDS)
    assert _call(app, body.encode(), headers)[0] == 200
    for step in range(1, 11):
        now[0] += 2 * TOLERANCE_SECONDS / 10 - 1
        other = sign(SECRET, body, int(now[0]))  # each step: a new request, pruning runs
        assert _call(app, body.encode(), other)[0] == 200
        assert _call(app, body.encode(), headers)[0] == 200, step
    assert len(inner.bodies) == 11  # the first and the ten new ones; no replay
