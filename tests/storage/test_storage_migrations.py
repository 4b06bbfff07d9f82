"""The migrations build exactly the schema the models describe, and 0006 keeps usage rows."""

from __future__ import annotations

from datetime import date
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.db import get_engine
from storage.migrate import alembic_config, upgrade
from storage.models import Base

POSTGRES_ONLY_INDEXES = {"ix_usage_day_brin"}  # Index(...).ddl_if(dialect="postgresql")


def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    with get_engine(empty_db_url).connect() as conn:
        postgres = conn.dialect.name == "postgresql"

        def include(obj: Any, name: str | None, kind: str, *_: Any) -> bool:
            return postgres or not (kind == "index" and name in POSTGRES_ONLY_INDEXES)

        context = MigrationContext.configure(conn, opts={"include_object": include})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_usage_natural_key_migration_keeps_rows(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0005")
    engine = get_engine(empty_db_url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO accounts (id, source, external_id, name, lifecycle, do_not_contact, "
            "custom) VALUES (1, 'files', 'A1', 'Acme', 'paid', false, '{}')"))
        conn.execute(text(
            "INSERT INTO contacts (id, source, external_id, account_id, role, is_main_contact) "
            "VALUES (7, 'files', 'U7', 1, 'member', false)"))
        conn.execute(text(
            "INSERT INTO usage_daily (id, source, account_id, user_id, feature, day, events, "
            "minutes) VALUES (1, 'files', 1, 7, 'login', '2026-11-01', 3, 4.5), "
            "(2, 'files', 1, 7, 'reports', '2026-11-02', 1, 0.5)"))
    upgrade(empty_db_url)
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("usage_daily")["constrained_columns"] == [
        "account_id", "day", "user_id", "feature"
    ]
    assert "id" not in {c["name"] for c in inspector.get_columns("usage_daily")}
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT feature, day, events, minutes FROM usage_daily ORDER BY day")).all()
    assert [(f, date.fromisoformat(str(d)), e, m) for f, d, e, m in rows] == [
        ("login", date(2026, 11, 1), 3, 4.5), ("reports", date(2026, 11, 2), 1, 0.5)
    ]


def test_usage_natural_key_migration_downgrades(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    command.downgrade(alembic_config(empty_db_url), "0005")
    columns = {c["name"] for c in inspect(get_engine(empty_db_url)).get_columns("usage_daily")}
    assert "id" in columns
    upgrade(empty_db_url)


def _two_accounts_scored(url: str) -> None:
    with get_engine(url).begin() as conn:
        conn.execute(text(
            "INSERT INTO accounts (id, source, external_id, name, lifecycle, do_not_contact, "
            "custom) VALUES (1, 'files', 'A1', 'Acme', 'paid', false, '{}'), "
            "(2, 'files', 'A2', 'Globex', 'paid', false, '{}')"))
        for day in ("2026-11-01", "2026-11-08"):
            conn.execute(text(
                "INSERT INTO score_snapshots (account_id, as_of, computed_at, score, tier, "
                "components, expansion_score, renewal_risk, renewal_risk_score, flags, reasons) "
                f"VALUES (1, '{day}', '{day} 06:00:00', 70, 'fine', '[]', 0, 'low', 0, '[]', "
                f"'[]'), (2, '{day}', '{day} 06:00:00', 90, 'healthy', '[]', 0, 'low', 0, "
                "'[]', '[]')"))


def test_0016_counts_a_database_with_alerts_as_watched(empty_db_url: str) -> None:
    """Upgrading must not turn the next run into a first-run baseline."""
    upgrade(empty_db_url, "0015")
    _two_accounts_scored(empty_db_url)
    with get_engine(empty_db_url).begin() as conn:
        conn.execute(text(
            "INSERT INTO alerts (account_id, rule, severity, status, message, opened_at, "
            "catch_all) VALUES (1, 'owner_silent', 'warning', 'resolved', 'x', "
            "'2026-11-01 07:00:00', false)"))
    upgrade(empty_db_url)
    with get_engine(empty_db_url).connect() as conn:
        rows = conn.execute(text(
            "SELECT account_id, since FROM watched_accounts ORDER BY account_id")).all()
    assert [(a, date.fromisoformat(str(d))) for a, d in rows] == [
        (1, date(2026, 11, 8)), (2, date(2026, 11, 8))
    ]


def test_0016_leaves_a_database_without_alerts_to_its_first_run(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0015")
    _two_accounts_scored(empty_db_url)
    upgrade(empty_db_url)
    with get_engine(empty_db_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM watched_accounts")).scalar() == 0
    command.downgrade(alembic_config(empty_db_url), "0015")
    assert "watched_accounts" not in inspect(get_engine(empty_db_url)).get_table_names()
