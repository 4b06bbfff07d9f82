"""Schema migrations, run programmatically so `pulse db upgrade` needs no alembic.ini.

Alembic is imported by the functions that use it: every command that reads asks
:func:`is_current` first, and should not wait for Alembic to load (about 0.1 s).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect

from storage.db import get_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creating the SQLite file if needed)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def is_current(url: str) -> bool:
    """True when the schema exists; commands that read data call this to give a clear error."""
    return inspect(get_engine(url)).has_table("alembic_version")


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration this version of Pulse ships (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None: no Pulse schema)."""
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def reset(url: str) -> None:
    """Drop every Pulse table and migrate again: the demo's fresh start."""
    from sqlalchemy import text

    from storage.models import Base

    engine = get_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(url)
