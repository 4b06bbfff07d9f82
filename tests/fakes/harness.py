"""The bot as `pulse serve` runs it, wired to the fake Slack API, for tests and the bench.

:func:`load_sample_workspace` fills a migrated database the way ``pulse demo`` does (the
sample workspace, scored a week apart so changes show). :func:`start_bot` starts the
fake Slack Web API, builds the app with a client pointed at it, and serves it over real
HTTP on an ephemeral port; requests are then sent signed, exactly as Slack sends them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from threading import Thread

import pytest
from slack_bolt import App
from sqlalchemy import select, text

from bot.app import build_app
from bot.delivery import SlackDelivery, web_client
from bot.server import EVENTS_PATH, ThreadingWSGIServer, start_in_thread
from bot.webhooks import WebhookReceiver
from connectors.sample import SampleConnector
from pulse.jobs.live.worker import LiveRun, LiveWorker
from pulse.kernel.config import PulseConfig
from pulse.services.sync import run_sync
from storage.db import get_engine, session_factory, session_scope
from storage.models import Base, Owner

from .slack_api import FakeSlack, RecordedCall

END = date(2026, 3, 2)
NOW = datetime.combine(END, time(9, 0))
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"


def load_sample_workspace(
    url: str, config: PulseConfig, end: date = END, *, watched: bool = True
) -> None:
    """Sample workspace ending on ``end``, scored a week before and on ``end``.

    ``watched``: alert evaluation has watched its accounts for a while, so conditions
    raise alerts; False gives a new install, whose first evaluation takes the baseline.
    """
    from factories import watch_all

    from scoring.engine import run_scoring

    report = run_sync(
        url, config, "sample", full=True, connector=SampleConnector(config, end_date=end)
    )
    assert report.status == "ok", report.errors
    for day in (end - timedelta(days=7), end):
        with session_scope(url) as session:
            run_scoring(session, config, day)
    if watched:
        with session_scope(url) as session:
            watch_all(session)


def prepare_database(request: pytest.FixtureRequest, backend: str, tmp_dir: Path) -> str:
    """An empty migrated database on ``backend``, from the conftest's session fixtures.

    Module-scoped bot tests load the sample workspace once per backend (it takes a few
    seconds), so they cannot use the function-scoped ``db_url``; this reuses the same
    SQLite template and private PostgreSQL database ``db_url`` is built on.
    """
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_dir / "pulse.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url


def owners(url: str) -> list[Owner]:
    with session_factory(url)() as session:
        return list(session.scalars(select(Owner).order_by(Owner.id)))


def register_owners(fake: FakeSlack, url: str) -> None:
    """Make users.info on the fake know every CRM owner (Slack id, email, name)."""
    for owner in owners(url):
        if owner.slack_user_id:
            fake.add_user(owner.slack_user_id, owner.email, owner.name)


@dataclass
class BotHarness:
    fake: FakeSlack
    app: App
    server: ThreadingWSGIServer
    thread: Thread
    url: str  # database URL
    config: PulseConfig
    clock: Callable[[], datetime] = field(default=lambda: NOW)

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{EVENTS_PATH}"

    def responses(self, key: str) -> list[RecordedCall]:
        """What was posted to ``fake.response_url(key)``."""
        return [c for c in self.fake.responses() if c.path == f"/respond/{key}"]

    def wait_response(self, key: str, count: int = 1, timeout: float = 15.0) -> RecordedCall:
        """The ``count``-th response posted to ``response_url(key)`` (waits for it)."""
        calls = self.fake.wait_for(
            "response_url", count, timeout, where=lambda c: c.path == f"/respond/{key}"
        )
        return calls[count - 1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.fake.stop()


def start_bot(
    url: str,
    config: PulseConfig,
    clock: Callable[[], datetime] = lambda: NOW,
    fake: FakeSlack | None = None,
) -> BotHarness:
    """Fake Slack + the app + a threaded HTTP server on 127.0.0.1, all started."""
    fake = fake or FakeSlack(token=TOKEN).start()
    register_owners(fake, url)
    client = web_client(TOKEN, base_url=fake.base_url)
    app = build_app(config, url, client, SECRET, clock=clock)
    server, thread = start_in_thread(app)
    return BotHarness(fake, app, server, thread, url, config, clock)


@dataclass
class LiveHarness(BotHarness):
    """The bot with webhook routes, as ``pulse serve`` runs it with webhook secrets set."""

    worker: LiveWorker | None = None
    receiver: WebhookReceiver | None = None

    def webhook_url(self, source: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/webhooks/{source}"

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        super().close()


def start_live_bot(
    url: str,
    config: PulseConfig,
    secrets: dict[str, str],
    *,
    clock: Callable[[], datetime] = lambda: NOW,
    fake: FakeSlack | None = None,
    background: bool = False,
    window: float | None = None,
    on_run: Callable[[LiveRun], None] | None = None,
) -> LiveHarness:
    """The bot plus the webhook receiver and live worker on the same server.

    With ``background`` the worker thread runs (as in ``pulse serve``); without it tests
    call ``harness.worker.process_pending()`` themselves, deterministically.
    """
    fake = fake or FakeSlack(token=TOKEN).start()
    register_owners(fake, url)
    client = web_client(TOKEN, base_url=fake.base_url)
    app = build_app(config, url, client, SECRET, clock=clock)
    worker = LiveWorker(url, config, delivery=SlackDelivery(client), clock=clock, window=window,
                        on_run=on_run)
    receiver = WebhookReceiver(url, secrets, clock=clock, notify=worker.notify)
    server, thread = start_in_thread(app, webhooks=receiver)
    if background:
        worker.start()
    return LiveHarness(fake, app, server, thread, url, config, clock, worker=worker,
                       receiver=receiver)
