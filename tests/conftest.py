"""Database fixtures (every DB test runs on SQLite and on PostgreSQL), and the fake
Salesforce org (``salesforce_org``).

Each test run creates its own PostgreSQL database (and drops it at the end) so parallel
runs never collide. With CI=true an unreachable PostgreSQL fails the run instead of
skipping, because CI must exercise the production database.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from factories import truncate_pg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage.db import get_engine, session_factory
from storage.migrate import upgrade

if TYPE_CHECKING:
    from fakes.hubspot_api import FakeHubSpot
    from fakes.salesforce import FakeSalesforce

PG_ADMIN_URL = os.environ.get(
    "PULSE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _require_pg() -> None:
    problem = _pg_reachable()
    if problem:
        message = f"PostgreSQL at {PG_ADMIN_URL} unreachable ({problem})"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + "; CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(message)


@contextmanager
def _private_pg_database(*, migrate: bool) -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards (parallel runs never collide)."""
    _require_pg()
    name = f"pulse_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A migrated PostgreSQL database private to this test run."""
    with _private_pg_database(migrate=True) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no tables at all, for migration tests; once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        yield url
        get_engine(url).dispose()
    else:
        with _private_pg_database(migrate=False) as url:
            yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    get_engine(url).dispose()
    return path




@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database; the test runs once per backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "pulse.db"
        shutil.copy(template, path)
        url = f"sqlite:///{path}"
        yield url
        get_engine(url).dispose()
    else:
        url = request.getfixturevalue("pg_database")
        truncate_pg(url)
        yield url


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with session_factory(db_url)() as s:
        yield s


@pytest.fixture(autouse=True)
def pulse_log_level() -> Iterator[None]:
    """Put the ``pulse`` logger's level back after each test: ``pulse --debug`` (run in
    process by CLI tests) lowers it for the rest of the process, as it should in a real
    run, and later tests would then see DEBUG lines."""
    logger = logging.getLogger("pulse")
    level = logger.level
    yield
    logger.setLevel(level)


@pytest.fixture(scope="session")
def salesforce_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fake org's self-signed certificate and key, made once per run."""
    from fakes.salesforce import write_certificate

    return write_certificate(tmp_path_factory.mktemp("salesforce-tls"))


@pytest.fixture
def hubspot_portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHubSpot]:
    """A fake HubSpot portal on 127.0.0.1, with HUBSPOT_ACCESS_TOKEN and HUBSPOT_API_URL
    pointing Pulse at it."""
    from fakes.hubspot_api import FakeHubSpot

    with FakeHubSpot() as portal:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", portal.token)
        monkeypatch.setenv("HUBSPOT_API_URL", portal.base_url)
        yield portal


@pytest.fixture
def salesforce_org(
    salesforce_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSalesforce]:
    """A fake Salesforce org serving HTTPS on 127.0.0.1, with this process trusting its
    certificate (``REQUESTS_CA_BUNDLE``) and reaching its host names through its proxy.
    The process's Salesforce tokens are forgotten before and after, as in a fresh process
    (a token kept from another test would name that test's stopped org)."""
    from fakes.salesforce import FakeSalesforce

    from connectors.salesforce.auth import TOKENS

    TOKENS.clear()
    with FakeSalesforce(*salesforce_certificate) as org:
        for name, value in org.client_env.items():
            monkeypatch.setenv(name, value)
        yield org
    TOKENS.clear()
