"""What `pulse runs` shows of a failed step: the failure's one line, as stored."""

from __future__ import annotations

import pytest
from fakes.salesforce import FakeSalesforce, error
from sqlalchemy import select

from pulse.jobs.pipeline import run_pipeline, step_sync
from pulse.kernel.config import PulseConfig, parse_config
from storage.db import session_factory
from storage.models import PipelineRun


@pytest.fixture
def salesforce(
    salesforce_org: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> FakeSalesforce:
    for name, value in salesforce_org.env_token.items():
        monkeypatch.setenv(name, value)
    return salesforce_org


def _config(url: str) -> PulseConfig:
    data = {"sources": {"salesforce": {}}, "schedule": {"retry_seconds": 0}}
    return parse_config(data).model_copy(update={"database_url": url})


def test_a_failed_sync_step_stores_the_sources_line(
    salesforce: FakeSalesforce, db_url: str
) -> None:
    salesforce.fail("Account", *[(400, {}, error("MALFORMED_QUERY", "unexpected token"))] * 9)
    config = _config(db_url)
    run = run_pipeline(config, steps=(("sync", step_sync, ()),), sleep=lambda _: None)
    assert run is not None and run.status == "failed"
    with session_factory(db_url)() as session:
        [stored] = session.scalars(select(PipelineRun)).all()
    detail = stored.steps[0]["detail"]
    assert detail.startswith(
        "salesforce: Salesforce Account query: 400 MALFORMED_QUERY: unexpected token. Check the "
        "fields mapped in sources.salesforce (pulse crm check lists them). | salesforce failed"
    )
    for dump in ("RuntimeError", "%20", "SELECT", "Authorization", "\n"):
        assert dump not in detail, dump
