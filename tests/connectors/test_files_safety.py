"""The ``files`` connector loses nothing silently: unknown optional references are
reported per row and never unlink stored data (issue 18)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from connectors.files import FilesConnector
from pulse.kernel.config import PulseConfig
from pulse.services.sync import SyncReport, run_sync
from storage.db import session_factory
from storage.models import Account, Invoice, Owner

OWNERS = "external_id,name,manager_external_id\nO-1,Maya,\nO-2,Tom,O-1\n"


def _sync(db_url: str, drop: Path) -> SyncReport:
    cfg = PulseConfig()
    return run_sync(db_url, cfg, "files", full=True, connector=FilesConnector(cfg, path=drop))


def _owner_of(db_url: str, account: str) -> str | None:
    with session_factory(db_url)() as s:
        return s.scalar(
            select(Owner.external_id).join(Account, Account.owner_id == Owner.id)
            .where(Account.external_id == account)
        )


def _skipped(report: SyncReport) -> set[tuple[str, str]]:
    return {(r.where, r.reason) for r in report.skipped}


def test_a_reimport_with_a_mistyped_owner_keeps_the_owner_and_reports_the_row(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "owners.csv").write_text(OWNERS)
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,owner_external_id,arr\nA-1,Acme,O-2,100\nA-2,Beta,O-1,50\n"
    )
    first = _sync(db_url, tmp_path)
    assert first.status == "ok", first.as_dict()
    assert _owner_of(db_url, "A-1") == "O-2"

    (tmp_path / "owners.csv").unlink()
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,owner_external_id,arr\nA-1,Acme,O-22,120\nA-2,Beta,,50\n"
    )
    again = _sync(db_url, tmp_path)

    assert again.status == "partial"
    assert _skipped(again) == {(
        "accounts.csv:2",
        "unknown owner 'O-22' (owner_external_id); row imported without this link "
        "(an existing record keeps its link)",
    )}
    assert _owner_of(db_url, "A-1") == "O-2"  # kept, though the row's other values loaded
    with session_factory(db_url)() as s:
        assert s.scalar(select(Account.arr).where(Account.external_id == "A-1")) == 120
    assert _owner_of(db_url, "A-2") is None  # an empty cell still clears the link


def test_a_new_row_with_unknown_optional_references_is_imported_and_reported(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "owners.csv").write_text(OWNERS + "O-3,Ana,O-9\n")
    (tmp_path / "accounts.csv").write_text(
        "external_id,name,owner_external_id\nA-1,Acme,O-1\nA-2,Beta,nobody\n"
    )
    (tmp_path / "invoices.csv").write_text(
        "external_id,account_external_id,subscription_external_id,amount,status\n"
        "I-1,A-1,S-404,10,paid\n"
    )
    report = _sync(db_url, tmp_path)

    tail = "row imported without this link (an existing record keeps its link)"
    assert _skipped(report) == {
        ("owners.csv:4", f"unknown manager 'O-9' (manager_external_id); {tail}"),
        ("accounts.csv:3", f"unknown owner 'nobody' (owner_external_id); {tail}"),
        ("invoices.csv:2", f"unknown subscription 'S-404' (subscription_external_id); {tail}"),
    }
    assert report.status == "partial"
    assert (_owner_of(db_url, "A-1"), _owner_of(db_url, "A-2")) == ("O-1", None)
    with session_factory(db_url)() as s:
        invoice = s.scalar(select(Invoice).where(Invoice.external_id == "I-1"))
        assert invoice is not None and invoice.subscription_id is None
