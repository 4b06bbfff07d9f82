"""The ``sample`` source as a connector: registered, batches in load order, end date from the
call, the config or the workspace's today."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import time_machine

from connectors.base import REGISTRY
from connectors.sample import SampleConnector, generate_workspace
from pulse.kernel.clock import local_date, utcnow
from pulse.kernel.config import (
    PulseConfig,
    SampleSourceConfig,
    SourcesConfig,
    WorkspaceConfig,
)
from pulse.kernel.records import ENTITY_ORDER

END = date(2025, 6, 30)


def test_connector_yields_batches_in_order() -> None:
    cfg = PulseConfig(
        sources=SourcesConfig(sample=SampleSourceConfig(seed=5, accounts=20, days=30))
    )
    assert REGISTRY["sample"] is SampleConnector
    batches = list(SampleConnector(cfg, end_date=END).pull(None, full=True))
    assert [b.entity for b in batches] == list(ENTITY_ORDER)
    assert {b.cursor for b in batches} == {"seed=5;end=2025-06-30"}
    assert isinstance(batches[3].records, pd.DataFrame)
    assert len(batches[1]) == 20
    expected = generate_workspace(5, END, accounts=20, days=30)
    pd.testing.assert_frame_equal(batches[3].records, expected["usage"])


def test_connector_end_date_comes_from_config_then_today() -> None:
    cfg = PulseConfig(sources=SourcesConfig(sample=SampleSourceConfig(end_date=date(2024, 1, 31))))
    assert SampleConnector(cfg).end_date == date(2024, 1, 31)
    assert SampleConnector(cfg, end_date=END).end_date == END
    bare = PulseConfig(sources=SourcesConfig(sample=None))
    connector = SampleConnector(bare)
    assert connector.end_date == local_date(bare.workspace.timezone, utcnow())
    assert connector.settings == SampleSourceConfig()


def test_connector_today_is_the_workspace_local_date() -> None:
    sydney = PulseConfig(
        workspace=WorkspaceConfig(timezone="Australia/Sydney"), sources=SourcesConfig(sample=None)
    )
    with time_machine.travel(datetime(2025, 3, 1, 20, 0, tzinfo=UTC), tick=False):
        assert SampleConnector(sydney).end_date == date(2025, 3, 2)
        assert SampleConnector(PulseConfig()).end_date == date(2025, 3, 1)
