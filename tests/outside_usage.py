"""The sample workspace's usage in every outside form a usage engine reads (Parquet, CSV,
a DuckDB file, two warehouses reached by URL), for tests comparing engines."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from connectors.sample import SampleConnector
from pulse.kernel.config import UsageEngineConfig, parse_config
from storage.loader import load_batch
from storage.models import Contact, UsageDaily

END = date(2025, 6, 30)
SAMPLE = {"sources": {"sample": {"accounts": 60, "days": 150, "end_date": END.isoformat()}}}


def load_sample(session: Session) -> None:
    for batch in SampleConnector(parse_config(SAMPLE)).pull(None, full=True):
        load_batch(session, "sample", batch)
    session.commit()


def export_usage(session: Session) -> pd.DataFrame:
    """The stored usage rows as a warehouse or a files drop holds them: users by the
    external id of their source (here ``sample``)."""
    rows = session.execute(
        select(Contact.external_id, UsageDaily.feature, UsageDaily.day, UsageDaily.events)
        .join(Contact, Contact.id == UsageDaily.user_id)
    ).all()
    frame = pd.DataFrame(rows, columns=["user_external_id", "feature", "day", "events"])
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def outside_engines(
    usage: pd.DataFrame, where: Path, env: pytest.MonkeyPatch
) -> dict[str, UsageEngineConfig]:
    """The same rows in every outside form the engine reads."""
    usage.to_parquet(where / "usage.parquet", index=False)
    usage.to_csv(where / "usage.csv", index=False)
    with duckdb.connect(str(where / "usage.duckdb")) as con:
        con.register("rows", usage)
        con.execute("CREATE TABLE product_usage_daily AS SELECT * FROM rows")
    warehouse = create_engine(f"sqlite:///{where / 'warehouse.db'}")
    usage.to_sql("product_usage_daily", warehouse, index=False)
    warehouse.dispose()
    env.setenv("PULSE_TEST_WAREHOUSE_URL", f"sqlite:///{where / 'warehouse.db'}")
    shutil.copy(where / "usage.duckdb", where / "warehouse.duckdb")
    env.setenv("PULSE_TEST_BITWISE_URL", f"duckdb:///{where / 'warehouse.duckdb'}")
    common: dict[str, Any] = {"user_source": "sample"}
    return {
        "parquet": UsageEngineConfig(engine="duckdb", path=str(where / "usage.parquet"), **common),
        "csv": UsageEngineConfig(engine="duckdb", path=str(where / "usage.csv"), **common),
        "duckdb file": UsageEngineConfig(
            engine="duckdb", path=str(where / "usage.duckdb"), **common
        ),
        "warehouse": UsageEngineConfig(
            engine="warehouse", url_env="PULSE_TEST_WAREHOUSE_URL", **common
        ),
        # a warehouse whose dialect ORs bitmasks: day and feature masks travel back
        "bitwise warehouse": UsageEngineConfig(
            engine="warehouse", url_env="PULSE_TEST_BITWISE_URL", **common
        ),
    }
