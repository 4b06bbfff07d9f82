"""Identity resolution across CRM, Stripe, Zendesk and usage accounts (hand-made records)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from pulse.cli.main import app
from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch
from pulse.services.identity import normalise_domain, resolve_identities
from storage.loader import load_batch
from storage.models import (
    Account,
    CrmWriteback,
    Invoice,
    ScoreSnapshot,
    Subscription,
    Ticket,
    UsageDaily,
)

runner = CliRunner()


def _load(session: Session, source: str, entity: str, records: list[dict]) -> None:  # type: ignore[type-arg]
    result = load_batch(session, source, Batch(entity, records))  # type: ignore[arg-type]
    assert not result.skipped, result.skipped


def _workspace(session: Session) -> None:
    _load(session, "salesforce", "accounts", [
        {"external_id": "001A", "name": "Acme", "domain": "acme.com"},
        {"external_id": "001B", "name": "Globex", "domain": "www.globex.io"},
        {"external_id": "001C", "name": "Initech", "domain": "initech.com",
         "zendesk_org_id": "Z-9"},
        {"external_id": "001D", "name": "Twin 1", "domain": "twins.com"},
        {"external_id": "001E", "name": "Twin 2", "domain": "twins.com"},
    ])
    _load(session, "stripe", "accounts", [
        {"external_id": "cus_1", "name": "ACME Inc", "custom": {"crm_account_id": "001A"}},
        {"external_id": "cus_2", "name": "Globex billing", "custom": {"email": "ap@Globex.io"}},
        {"external_id": "cus_3", "name": "Freelancer", "custom": {"email": "bob@gmail.com"}},
        {"external_id": "cus_4", "name": "Twins", "domain": "twins.com"},
        {"external_id": "cus_5", "name": "Gone", "custom": {"crm_account_id": "001X"}},
    ])
    _load(session, "zendesk", "accounts", [
        {"external_id": "Z-9", "name": "Initech support"},
        {"external_id": "Z-10", "name": "Acme support", "domain": "acme.com"},
        {"external_id": "Z-11", "name": "Nobody"},
    ])
    _load(session, "stripe", "subscriptions", [
        {"external_id": "sub_1", "account_external_id": "cus_1", "status": "active"},
        {"external_id": "sub_2", "account_external_id": "cus_2", "status": "past_due"},
        {"external_id": "sub_3", "account_external_id": "cus_3", "status": "active"},
    ])
    _load(session, "stripe", "invoices", [
        {"external_id": "in_1", "account_external_id": "cus_1", "amount": 100.0,
         "status": "paid", "subscription_external_id": "sub_1"},
    ])
    _load(session, "zendesk", "tickets", [
        {"external_id": "t1", "account_external_id": "Z-9", "created_at": datetime(2026, 6, 1)},
        {"external_id": "t2", "account_external_id": "Z-10", "created_at": datetime(2026, 6, 2)},
        {"external_id": "t3", "account_external_id": "Z-11", "created_at": datetime(2026, 6, 3)},
    ])
    session.commit()


def _owner_of(session: Session, model: type, ext: str) -> str:
    return session.scalar(
        select(Account.external_id).join(model, model.account_id == Account.id)
        .where(model.external_id == ext)
    )


def test_links_by_id_fields_then_domain_and_lists_the_unmatched(session: Session) -> None:
    _workspace(session)
    report = resolve_identities(session, PulseConfig())
    session.commit()
    assert report.primary_source == "salesforce"
    assert sorted(report.linked) == [
        ("stripe", "cus_1", "001A", "crm id"),
        ("stripe", "cus_2", "001B", "domain"),
        ("zendesk", "Z-10", "001A", "domain"),
        ("zendesk", "Z-9", "001C", "id field"),
    ]
    unmatched = {(s, e): reason for s, e, _name, reason in report.unmatched}
    assert unmatched == {
        ("stripe", "cus_3"): "free-mail domain gmail.com cannot identify a customer",
        ("stripe", "cus_4"): "domain twins.com matches 2 CRM accounts (001D, 001E)",
        ("stripe", "cus_5"): "no CRM account with id 001X",
        ("zendesk", "Z-11"): "no CRM id or domain to match on",
    }
    accounts = {a.external_id: a for a in session.scalars(
        select(Account).where(Account.source == "salesforce"))}
    assert accounts["001A"].stripe_customer_id == "cus_1"
    assert accounts["001A"].zendesk_org_id == "Z-10"
    assert accounts["001B"].stripe_customer_id == "cus_2"
    assert accounts["001C"].zendesk_org_id == "Z-9"
    # records follow the customer's CRM account; unmatched ones stay where they were
    assert _owner_of(session, Subscription, "sub_1") == "001A"
    assert _owner_of(session, Subscription, "sub_2") == "001B"
    assert _owner_of(session, Subscription, "sub_3") == "cus_3"
    assert _owner_of(session, Invoice, "in_1") == "001A"
    assert _owner_of(session, Ticket, "t1") == "001C"
    assert _owner_of(session, Ticket, "t2") == "001A"
    assert _owner_of(session, Ticket, "t3") == "Z-11"


def test_a_crm_duplicate_deleted_hands_its_links_and_their_records_to_the_survivor(
    session: Session,
) -> None:
    """Twin 1 and Twin 2 share twins.com, so cus_4 matched neither; and Globex's billing
    (cus_2, linked by domain) sits on 001B. Merging the twins (Twin 2 deleted) and
    re-creating Globex (001B deleted, 001G the same domain) must not leave billing on
    records nobody sees any more."""
    _workspace(session)
    _load(session, "stripe", "subscriptions", [
        {"external_id": "sub_4", "account_external_id": "cus_4", "status": "active"}])
    resolve_identities(session, PulseConfig())
    session.commit()
    assert _owner_of(session, Subscription, "sub_2") == "001B"
    gone = datetime(2026, 11, 20, 9, 0)
    _load(session, "salesforce", "accounts", [
        {"external_id": "001E", "name": "Twin 2", "deleted_at": gone},
        {"external_id": "001B", "name": "Globex", "deleted_at": gone},
        {"external_id": "001G", "name": "Globex", "domain": "globex.io"},
    ])
    report = resolve_identities(session, PulseConfig())
    session.commit()
    assert ("stripe", "cus_4", "001D", "domain") in report.linked
    assert ("stripe", "cus_2", "001G", "domain") in report.linked
    assert _owner_of(session, Subscription, "sub_4") == "001D"
    assert _owner_of(session, Subscription, "sub_2") == "001G"  # moved off the deleted 001B
    assert _owner_of(session, Ticket, "t2") == "001A"  # nothing else moved


def test_a_customer_naming_a_merged_away_account_links_to_the_survivor(
    session: Session,
) -> None:
    """cus_1's metadata names 001A; Acme merged into a new record 001F (Salesforce's
    MasterRecordId): billing follows to 001F in a live (``only``) run, support (linked by
    domain) in the full run."""
    _workspace(session)
    resolve_identities(session, PulseConfig())
    session.commit()
    assert _owner_of(session, Subscription, "sub_1") == "001A"
    _load(session, "salesforce", "accounts", [
        {"external_id": "001F", "name": "Acme", "domain": "acme.com"},
        {"external_id": "001A", "name": "Acme", "deleted_at": datetime(2026, 11, 20),
         "merged_into": "001F"},
    ])
    cus_1 = session.scalar(select(Account.id).where(Account.external_id == "cus_1"))
    live = resolve_identities(session, PulseConfig(), only=[cus_1])
    assert live.linked == [("stripe", "cus_1", "001F", "crm id, merged")]
    assert _owner_of(session, Subscription, "sub_1") == "001F"
    assert _owner_of(session, Invoice, "in_1") == "001F"
    full = resolve_identities(session, PulseConfig())
    assert ("stripe", "cus_1", "001F", "id field") in full.linked  # 001F holds cus_1 now
    assert ("zendesk", "Z-10", "001F", "domain") in full.linked
    assert _owner_of(session, Ticket, "t2") == "001F"


def test_running_twice_changes_nothing(session: Session) -> None:
    _workspace(session)
    first = resolve_identities(session, PulseConfig())
    session.commit()
    assert first.fields_set == 3 and first.moved == 5  # 001C had its zendesk id
    second = resolve_identities(session, PulseConfig())
    assert (second.fields_set, second.moved) == (0, 0)
    assert sorted(second.linked) == sorted(
        (s, e, c, "id field" if s in {"stripe", "zendesk"} else h)
        for s, e, c, h in first.linked
    )
    assert second.unmatched == first.unmatched
    assert not session.dirty


def test_existing_id_is_not_overwritten_and_usage_moves_without_clashes(
    session: Session,
) -> None:
    _load(session, "hubspot", "accounts", [
        {"external_id": "h1", "name": "Acme", "domain": "acme.com", "stripe_customer_id": "cus_0"},
    ])
    _load(session, "files", "accounts", [{"external_id": "p1", "name": "Acme product",
                                          "hubspot_id": "h1"}])
    _load(session, "files", "contacts", [
        {"external_id": "u1", "account_external_id": "p1", "email": "u1@acme.com"}])
    _load(session, "stripe", "accounts", [{"external_id": "cus_9", "name": "Acme 2",
                                           "domain": "acme.com"}])
    load_batch(session, "files", Batch("usage", [
        {"account_external_id": "p1", "user_external_id": "u1", "feature": "api",
         "day": date(2026, 6, 1), "events": 3, "minutes": 1.0},
    ]))
    session.commit()
    report = resolve_identities(session, PulseConfig())
    session.commit()
    assert report.primary_source == "hubspot"
    assert sorted(report.linked) == [("files", "p1", "h1", "crm id"),
                                     ("stripe", "cus_9", "h1", "domain")]
    h1 = session.scalar(select(Account).where(Account.external_id == "h1"))
    assert h1 is not None and h1.stripe_customer_id == "cus_0"  # kept, not overwritten
    assert session.scalar(select(UsageDaily.account_id)) == h1.id


def test_linking_some_accounts_links_them_as_a_full_run_would(session: Session) -> None:
    """Live updates link only the accounts holding new records: one secondary at a time,
    the same links, ids, unmatched reasons and moved records as the whole-workspace run."""
    _workspace(session)
    secondaries = session.execute(
        select(Account.id, Account.source, Account.external_id)
        .where(Account.source.in_(["stripe", "zendesk"])).order_by(Account.id)
    ).all()
    linked, unmatched = [], []
    for account_id, _source, _ext in secondaries:
        report = resolve_identities(session, PulseConfig(), only={account_id})
        linked += report.linked
        unmatched += report.unmatched
    session.commit()
    assert sorted(linked) == [
        ("stripe", "cus_1", "001A", "crm id"),
        ("stripe", "cus_2", "001B", "domain"),
        ("zendesk", "Z-10", "001A", "domain"),
        ("zendesk", "Z-9", "001C", "id field"),
    ]
    assert {(s, e): r for s, e, _n, r in unmatched} == {
        ("stripe", "cus_3"): "free-mail domain gmail.com cannot identify a customer",
        ("stripe", "cus_4"): "domain twins.com matches 2 CRM accounts (001D, 001E)",
        ("stripe", "cus_5"): "no CRM account with id 001X",
        ("zendesk", "Z-11"): "no CRM id or domain to match on",
    }
    assert _owner_of(session, Invoice, "in_1") == "001A"
    assert _owner_of(session, Ticket, "t2") == "001A"
    assert _owner_of(session, Subscription, "sub_3") == "cus_3"
    # a run limited to one account reads nothing about the others
    one = resolve_identities(session, PulseConfig(), only={secondaries[0][0]})
    assert len(one.linked) + len(one.unmatched) == 1


def test_without_crm_everything_is_unmatched(session: Session) -> None:
    _load(session, "stripe", "accounts", [{"external_id": "cus_1", "name": "A"}])
    session.commit()
    report = resolve_identities(session, PulseConfig())
    assert report.primary_source is None and not report.linked
    assert report.unmatched[0][:3] == ("stripe", "cus_1", "A")


def test_normalise_domain() -> None:
    assert normalise_domain("https://www.Acme.com/about") == "acme.com"
    assert normalise_domain("AP@Globex.io") == "globex.io"
    assert normalise_domain("  ") is None


# --- command line: `pulse sync --unmatched`, `pulse identities`, `pulse crm check`,
# `pulse writeback --dry-run` (the paths that need no CRM module or credentials)

CRM_VARS = ("SALESFORCE_CLIENT_ID", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME",
            "SALESFORCE_INSTANCE_URL", "HUBSPOT_ACCESS_TOKEN")


def _cli_env(db_url: str, tmp_path: Path, sources: str) -> dict[str, str | None]:
    config = tmp_path / "pulse.yml"
    config.write_text(f"sources:\n{sources}")
    env: dict[str, str | None] = {"DATABASE_URL": db_url, "PULSE_CONFIG": str(config),
                                  "COLUMNS": "200"}
    env.update(dict.fromkeys(CRM_VARS))  # None: unset for the command
    return env


def test_sync_unmatched_lists_what_identity_resolution_could_not_link(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    _workspace(session)
    drop = tmp_path / "drop"
    drop.mkdir()
    env = _cli_env(db_url, tmp_path, f"  files:\n    path: {drop}\n")
    result = runner.invoke(app, ["sync", "--source", "files", "--unmatched"], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "identities: 4 record(s) linked to salesforce CRM accounts, 4 unmatched" in out
    assert "Unmatched records" in out
    assert "cus_5" in out and "no CRM account with id 001X" in out
    assert "free-mail domain gmail.com" in out
    session.expire_all()
    assert _owner_of(session, Ticket, "t2") == "001A"  # the sync linked and committed

    alone = runner.invoke(app, ["identities"], env=env)
    assert alone.exit_code == 0, alone.output
    assert "4 unmatched" in alone.output and "Z-11" in alone.output


def test_crm_check_says_when_no_crm_is_configured(db_url: str, tmp_path: Path) -> None:
    env = _cli_env(db_url, tmp_path, "  sample: {}\n")
    result = runner.invoke(app, ["crm", "check"], env=env)
    assert result.exit_code == 2
    assert "salesforce is not configured (no sources.salesforce" in result.output
    assert "No CRM configured" in result.output

    env = _cli_env(db_url, tmp_path, "  salesforce: {}\n")
    result = runner.invoke(app, ["crm", "check"], env=env)
    assert result.exit_code == 2
    assert ("salesforce is not configured: SALESFORCE_CLIENT_ID or SALESFORCE_ACCESS_TOKEN "
            "or SALESFORCE_USERNAME is not set") in result.output


def test_writeback_dry_run_counts_pending_without_calling_the_crm(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    _load(session, "salesforce", "accounts", [
        {"external_id": "001A", "name": "Acme", "salesforce_id": "001A"},
        {"external_id": "001B", "name": "Globex"},  # no Salesforce record id
    ])
    session.commit()
    for acc in session.scalars(select(Account)):
        session.add(ScoreSnapshot(
            account_id=acc.id, as_of=date(2026, 6, 1), computed_at=datetime(2026, 6, 1, 6),
            score=71.0, tier="fine", components=[], expansion_score=20.0, renewal_risk="low",
            renewal_risk_score=10.0, flags=[], reasons=["usage down"],
        ))
    session.commit()
    env = _cli_env(db_url, tmp_path, "  salesforce: {}\n")
    result = runner.invoke(app, ["writeback", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert ("salesforce (dry run): 1 account(s) to update, 0 unchanged, 1 without a "
            "salesforce id, of 2 scored; nothing sent.") in result.output
    assert session.scalar(select(func.count()).select_from(CrmWriteback)) == 0

    result = runner.invoke(app, ["writeback", "--system", "salesforce"], env=env)
    assert result.exit_code == 1
    assert "SALESFORCE_ACCESS_TOKEN or SALESFORCE_USERNAME is not set" in result.output

    result = runner.invoke(app, ["writeback", "--system", "zoho", "--dry-run"], env=env)
    assert result.exit_code == 2 and "not one of salesforce, hubspot" in result.output

    none = _cli_env(db_url, tmp_path, "  sample: {}\n")
    result = runner.invoke(app, ["writeback", "--dry-run"], env=none)
    assert result.exit_code == 2 and "No CRM configured" in result.output
