"""Only changed health values are sent; failures are kept for the next run; each CRM is
written (and committed, or rolled back) on its own."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

import pytest
from factories import add_snapshot
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import pulse.services.writeback as writeback_service
from connectors.writeback import WritebackReport, pending_writeback, record_outcomes
from pulse.kernel.config import PulseConfig, parse_config
from pulse.kernel.records import Batch
from pulse.services.writeback import write_back_health
from storage.loader import load_batch
from storage.models import Account, CrmWriteback

NOW = datetime(2026, 11, 25, 6, 0)


def _snapshot(session: Session, account_id: int, day: date, score: float) -> None:
    add_snapshot(session, account_id, day, score, computed_at=NOW, expansion_score=10.0)


def test_unchanged_accounts_are_not_sent_and_failures_retry(session: Session) -> None:
    load_batch(
        session,
        "sf",
        Batch(
            "accounts",
            [
                {"external_id": "a", "name": "Acme", "salesforce_id": "001A"},
                {"external_id": "b", "name": "Beta", "salesforce_id": "001B"},
                {"external_id": "c", "name": "NoCrm"},
            ],
        ),
    )
    ids = {a.external_id: a.id for a in session.query(Account)}
    for ext in "abc":
        _snapshot(session, ids[ext], date(2026, 11, 24), 60.0)

    items, report = pending_writeback(session, "salesforce")
    assert sorted(i.record_id for i in items) == ["001A", "001B"]
    assert report.no_record_id == 1
    outcomes = [(i, None if i.record_id == "001A" else "ENTITY_IS_DELETED") for i in items]
    record_outcomes(session, "salesforce", outcomes, NOW, report)
    assert report.failed == [("Beta (001B)", "ENTITY_IS_DELETED")]

    again, report2 = pending_writeback(session, "salesforce")
    assert [i.record_id for i in again] == ["001B"]  # the failure is retried
    assert report2.unchanged == 1

    _snapshot(session, ids["a"], date(2026, 11, 25), 42.0)
    changed, _ = pending_writeback(session, "salesforce")
    acme = next(i for i in changed if i.record_id == "001A")
    assert acme.changed["score"] == 42 and acme.changed["tier"] == "At risk"
    assert "reasons" not in acme.changed  # unchanged values are not resent


# --- the writeback loop (pulse.services.writeback) --------------------------------------------


class _FakeCrm:
    """A CRM that accepts every pending value, or records them and then fails."""

    def __init__(self, name: str, fail: str | None = None) -> None:
        self.name = name
        self.fail = fail
        self.calls: list[Collection[int] | None] = []

    def write_back(
        self,
        session: Session,
        config: PulseConfig,
        *,
        now: datetime,
        account_ids: Collection[int] | None = None,
    ) -> WritebackReport:
        self.calls.append(account_ids)
        items, report = pending_writeback(session, self.name, account_ids=account_ids)
        record_outcomes(session, self.name, [(item, None) for item in items], now, report)
        if self.fail:
            raise RuntimeError(self.fail)
        return report


def _two_crm_accounts(session: Session) -> dict[str, int]:
    load_batch(session, "sf", Batch("accounts", [
        {"external_id": "a", "name": "Acme", "salesforce_id": "001A", "hubspot_id": "11"},
        {"external_id": "b", "name": "Beta", "salesforce_id": "001B", "hubspot_id": "12"},
    ]))
    ids = {a.external_id: a.id for a in session.query(Account)}
    for account_id in ids.values():
        _snapshot(session, account_id, date(2026, 11, 24), 60.0)
    session.commit()
    return ids


def _written(session: Session, system: str) -> int:
    return session.scalar(
        select(func.count()).select_from(CrmWriteback).where(CrmWriteback.system == system)
    ) or 0


def test_a_failing_crm_is_rolled_back_and_the_next_one_still_goes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_crm_accounts(session)
    crms = {"salesforce": _FakeCrm("salesforce", fail="org down"), "hubspot": _FakeCrm("hubspot")}
    monkeypatch.setattr(writeback_service, "crm_system", crms.__getitem__)
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "token")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "token")
    config = parse_config({"sources": {"salesforce": {}, "hubspot": {}}})

    run = write_back_health(session=session, config=config, systems=["salesforce", "hubspot"],
                            now=NOW)
    assert [(o.system, o.error) for o in run.outcomes] == [
        ("salesforce", "RuntimeError: org down"), ("hubspot", None)]  # unexpected: its type
    assert run.outcomes[0].report is None
    hubspot = run.outcomes[1].report
    assert hubspot is not None and (hubspot.sent, hubspot.succeeded) == (2, 2)
    session.expire_all()
    assert _written(session, "salesforce") == 0  # rolled back
    assert _written(session, "hubspot") == 2  # committed


def test_an_unusable_crm_is_reported_not_tried_and_account_ids_pass_through(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _two_crm_accounts(session)
    crms = {"salesforce": _FakeCrm("salesforce"), "hubspot": _FakeCrm("hubspot")}
    monkeypatch.setattr(writeback_service, "crm_system", crms.__getitem__)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "token")
    monkeypatch.delenv("SALESFORCE_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("SALESFORCE_USERNAME", raising=False)
    config = parse_config({"sources": {"salesforce": {}, "hubspot": {}}})

    run = write_back_health(session=session, config=config, systems=["salesforce", "hubspot"],
                            now=NOW, account_ids=[ids["a"]])
    problem = run.outcomes[0].problem or ""
    assert "SALESFORCE_ACCESS_TOKEN or SALESFORCE_USERNAME is not set" in problem
    assert crms["salesforce"].calls == [] and crms["hubspot"].calls == [[ids["a"]]]
    report = run.outcomes[1].report
    assert report is not None and report.considered == 1 and report.succeeded == 1


def test_a_dry_run_counts_without_credentials_and_writes_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_crm_accounts(session)
    monkeypatch.setattr(writeback_service, "crm_system", {}.__getitem__)  # no CRM is called
    config = parse_config({"sources": {"hubspot": {}}})
    run = write_back_health(session=session, config=config, systems=["hubspot"], now=NOW,
                            dry_run=True)
    [outcome] = run.outcomes
    assert run.dry_run and outcome.pending == 2 and outcome.problem is None
    assert outcome.report is not None and outcome.report.considered == 2
    session.rollback()
    assert _written(session, "hubspot") == 0
