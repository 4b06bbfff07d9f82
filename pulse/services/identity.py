"""Identity resolution: one account per customer across CRM, billing, support and usage.

Each source stores its own accounts on ``(source, external_id)``: a Salesforce Account, a
Stripe customer (source ``stripe``), a Zendesk organisation (source ``zendesk``), a product
account of a usage source. :func:`resolve_identities` links each non-CRM account to the
*primary* account of the same customer and re-points the secondary account's records
(subscriptions, invoices, tickets, surveys, opportunities, daily usage and integration
facts) to the primary account, so scoring sees one account per customer.

Primary source (documented decision): the CRM, because it is where CSMs own accounts and
where health is written back. The first of ``salesforce``, ``hubspot``, ``files``,
``sample`` that has accounts stored is primary; every other source's accounts are
secondary (so with Salesforce primary, HubSpot companies are linked like Stripe customers).

A secondary account is matched, in this order:

1. by configured external-id fields: the primary's ``stripe_customer_id`` /
   ``zendesk_org_id`` / ``hubspot_id`` / ``salesforce_id`` equal to the secondary's id; or
   the secondary naming the CRM account (``custom.crm_account_id``, the Stripe metadata key
   ``sources.stripe.account_id_metadata``, or its ``salesforce_id`` / ``hubspot_id``
   column) by the primary's external id;
2. by email domain: the secondary's ``domain`` (else the domain of ``custom.email``) equal
   to exactly one primary account's domain (free-mail domains never match).

A link sets ``stripe_customer_id`` / ``zendesk_org_id`` (/ ``hubspot_id`` /
``salesforce_id``) on the primary account when empty; it never overwrites a different
value (a customer may have two Stripe customers: both are linked, the first id is kept).
Running it twice changes nothing. Records that match nothing are returned in
``unmatched`` with the reason, never dropped: their data stays on their own account.

An account deleted (or merged away) in the CRM is no primary: a Stripe customer whose
domain two CRM duplicates shared links to the survivor once the duplicate is deleted, one
naming a merged-away account's id links to the account it was merged into
(``merged_into``), and the billing and support records a deleted account still holds for
a secondary it was linked to move to the account that secondary links to now
(:func:`_off_deleted`).

Secondary accounts themselves stay stored (a re-sync of their source upserts them and puts
their records back on them, which is why ``pulse sync`` resolves identities after every
sync). Note: scoring still sees the secondary accounts as accounts of their own (with no
records left once linked) unless it skips non-primary sources.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session

from pulse.kernel.config import PulseConfig, StripeSourceConfig
from storage.models import (
    Account,
    IntegrationDaily,
    Invoice,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    UsageDaily,
    table_of,
)

PRIMARY_ORDER = ("salesforce", "hubspot", "files", "sample")
ID_FIELD = {  # secondary source -> the primary account's column holding its id
    "stripe": "stripe_customer_id",
    "zendesk": "zendesk_org_id",
    "hubspot": "hubspot_id",
    "salesforce": "salesforce_id",
}
CRM_ID_KEYS = ("crm_account_id",)
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
    "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.de",
    "web.de", "yandex.ru", "mail.ru", "qq.com", "163.com",
})
KEYED_CHILDREN = (Subscription, Invoice, Ticket, SurveyResponse, Opportunity)
ID_CHUNK = 1_000
"""Secondary ids looked up per statement (well under every driver's parameter limit)."""
FACT_CHILDREN = (
    (UsageDaily, ("user_id", "feature", "day")),
    (IntegrationDaily, ("integration", "day")),
)


@dataclass
class IdentityReport:
    primary_source: str | None = None
    linked: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(source, external_id, crm_account_id, how): how is 'id field', 'crm id', 'crm id,
    merged' (an id of an account merged into this one) or 'domain'."""
    unmatched: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(source, external_id, name, reason)."""
    fields_set: int = 0  # id columns filled on primary accounts by this run
    moved: int = 0  # records re-pointed to a primary account by this run


def normalise_domain(value: Any) -> str | None:
    """'https://www.Acme.com/x' -> 'acme.com'; an email gives its domain."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].split(":", 1)[0].strip(".")
    if text.startswith("www."):
        text = text[4:]
    return text or None


def _custom(acc: Account) -> dict[str, Any]:
    return acc.custom if isinstance(acc.custom, dict) else {}


def _domain_of(acc: Account) -> str | None:
    custom = _custom(acc)
    return normalise_domain(acc.domain) or normalise_domain(custom.get("email"))


def _primary_source(session: Session) -> str | None:
    for source in PRIMARY_ORDER:
        if session.scalar(select(Account.id).where(Account.source == source).limit(1)):
            return source
    return None


def resolve_identities(
    session: Session, config: PulseConfig, only: Collection[int] | None = None
) -> IdentityReport:
    """Link secondary accounts to their CRM account; the caller commits.

    ``only`` (account ids) limits the run to those secondary accounts, as live updates
    need: the CRM accounts they could match are then looked up by their ids and domains
    (:func:`_candidates`) instead of reading every account of the workspace, and each is
    linked exactly as a full run would link it.
    """
    report = IdentityReport()
    primary_source = _primary_source(session)
    report.primary_source = primary_source
    stripe = config.sources.stripe or StripeSourceConfig()
    crm_keys = (*CRM_ID_KEYS, stripe.account_id_metadata)
    if primary_source is None:
        stmt = select(Account).order_by(Account.source, Account.id)
        if only is not None:
            stmt = stmt.where(Account.id.in_(sorted({int(a) for a in only})))
        for acc in session.scalars(stmt):
            report.unmatched.append((acc.source, acc.external_id, acc.name,
                                     "no CRM accounts stored (salesforce, hubspot, files "
                                     "or sample) to link to"))
        return report

    stmt = (select(Account).where(Account.source != primary_source)
            .order_by(Account.source, Account.external_id))
    if only is not None:
        stmt = stmt.where(Account.id.in_(sorted({int(a) for a in only})))
    secondaries = list(session.scalars(stmt))
    merged = _merged_into(session, primary_source)
    if only is None:
        primaries = list(session.scalars(
            select(Account).where(Account.source == primary_source, Account.deleted_at.is_(None))
            .order_by(Account.id)))
    else:
        primaries = _candidates(session, primary_source, secondaries, crm_keys, merged)
    index = _Index.of(primaries, merged)
    moves: list[dict[str, int]] = []
    links: list[tuple[Account, Account]] = []
    for sec in secondaries:
        id_column = ID_FIELD.get(sec.source)
        target, how, reason = _match(sec, id_column, index, crm_keys)
        if target is None:
            report.unmatched.append((sec.source, sec.external_id, sec.name, reason))
            continue
        report.linked.append((sec.source, sec.external_id, target.external_id, how))
        if id_column and not getattr(target, id_column):
            setattr(target, id_column, sec.external_id)
            index.by_field[id_column][sec.external_id] = target
            report.fields_set += 1
        moves.append({"sec": sec.id, "pri": target.id})
        links.append((sec, target))
    if moves:
        report.moved = _repoint(session, moves)
    report.moved += _off_deleted(session, primary_source, links)
    session.flush()
    return report


@dataclass
class _Index:
    """The CRM accounts by what a secondary account can be matched on."""

    by_field: dict[str, dict[str, Account]]
    by_crm_id: dict[str, Account]
    by_domain: dict[str, list[Account]]
    merged: dict[str, str]
    """The CRM ids of accounts merged away -> the id of the record they were merged into."""

    @classmethod
    def of(cls, primaries: Iterable[Account], merged: dict[str, str]) -> _Index:
        """Indexed in the order given (by id): the first account holding a value wins."""
        index = cls({f: {} for f in set(ID_FIELD.values())}, {}, defaultdict(list), merged)
        for acc in primaries:
            for column, values in index.by_field.items():
                value = getattr(acc, column)
                if value:
                    values.setdefault(str(value), acc)
            for value in (acc.external_id, acc.salesforce_id, acc.hubspot_id):
                if value:
                    index.by_crm_id.setdefault(str(value), acc)
            domain = normalise_domain(acc.domain)
            if domain and domain not in FREE_MAIL:
                index.by_domain[domain].append(acc)
        return index

    def named(self, crm_id: str) -> tuple[Account | None, str]:
        """The live account a CRM id names, following merges; how it was found."""
        for hops, step in enumerate(_merge_chain(self.merged, crm_id)):
            if step in self.by_crm_id:
                return self.by_crm_id[step], "crm id" if hops == 0 else "crm id, merged"
        return None, ""


def _merge_chain(merged: dict[str, str], crm_id: str) -> list[str]:
    """``crm_id``, the id it was merged into, that one's, and so on (``merged``:
    :func:`_merged_into`); a cycle in what the CRM said ends the chain."""
    chain = [crm_id]
    while chain[-1] in merged and merged[chain[-1]] not in chain:
        chain.append(merged[chain[-1]])
    return chain


def _merged_into(session: Session, primary_source: str) -> dict[str, str]:
    """Every CRM id (its own, its Salesforce and HubSpot ids) of a ``primary_source``
    account merged away -> the CRM id of the record it was merged into."""
    rows = session.execute(
        select(Account.external_id, Account.salesforce_id, Account.hubspot_id,
               Account.merged_into)
        .where(Account.source == primary_source, Account.deleted_at.is_not(None),
               Account.merged_into.is_not(None)))
    return {str(crm_id): str(into) for *ids, into in rows for crm_id in ids if crm_id}


def _named_ids(sec: Account, crm_keys: tuple[str, ...]) -> list[str]:
    """The CRM ids a secondary account names (custom keys, then its id columns)."""
    custom = _custom(sec)
    named = [custom.get(k) for k in crm_keys] + [sec.salesforce_id, sec.hubspot_id]
    return [str(v).strip() for v in named if v is not None and str(v).strip()]


def _candidates(
    session: Session, primary_source: str, secondaries: list[Account], crm_keys: tuple[str, ...],
    merged: dict[str, str],
) -> list[Account]:
    """Every CRM account that ``secondaries`` could match (a superset, by id): holding one
    of their ids, having one of the ids they name (or the id those were merged into), or
    a domain containing theirs (the exact domain comparison is :func:`_match`'s)."""
    wanted = []
    for source, column in ID_FIELD.items():
        ids = sorted({s.external_id for s in secondaries if s.source == source})
        if ids:
            wanted.append(getattr(Account, column).in_(ids))
    named = sorted({step for s in secondaries for v in _named_ids(s, crm_keys)
                    for step in _merge_chain(merged, v)})
    if named:
        wanted += [Account.external_id.in_(named), Account.salesforce_id.in_(named),
                   Account.hubspot_id.in_(named)]
    domains = sorted({d for s in secondaries if (d := _domain_of(s)) and d not in FREE_MAIL})
    wanted += [func.lower(Account.domain).contains(d, autoescape=True) for d in domains]
    if not wanted:
        return []
    stmt = (select(Account).where(Account.source == primary_source,
                                  Account.deleted_at.is_(None), or_(*wanted))
            .order_by(Account.id))
    return list(session.scalars(stmt))


def _match(
    sec: Account, column: str | None, index: _Index, crm_keys: tuple[str, ...]
) -> tuple[Account | None, str, str]:
    if column and sec.external_id in index.by_field[column]:
        return index.by_field[column][sec.external_id], "id field", ""
    named_ids = _named_ids(sec, crm_keys)
    for value in named_ids:
        target, how = index.named(value)
        if target is not None:
            return target, how, ""
    domain = _domain_of(sec)
    if domain and domain not in FREE_MAIL:
        hits = index.by_domain.get(domain, [])
        if len(hits) == 1:
            return hits[0], "domain", ""
        if len(hits) > 1:
            names = ", ".join(a.external_id for a in hits[:5])
            return None, "", f"domain {domain} matches {len(hits)} CRM accounts ({names})"
    parts = []
    if named_ids:
        parts.append(f"no CRM account with id {', '.join(named_ids)}")
    if domain in FREE_MAIL:
        parts.append(f"free-mail domain {domain} cannot identify a customer")
    elif domain:
        parts.append(f"no CRM account with domain {domain}")
    if not parts:
        parts.append("no CRM id or domain to match on")
    return None, "", "; ".join(parts)


def _repoint(session: Session, moves: list[dict[str, int]]) -> int:
    """Move the secondary accounts' records to their primary; returns the rows moved."""
    conn = session.connection()
    moved = 0
    for keyed in KEYED_CHILDREN:
        table = table_of(keyed)
        stmt = (update(table).where(table.c.account_id == bindparam("sec"))
                .values(account_id=bindparam("pri")))
        moved += _rows(conn.execute(stmt, moves))
    for fact, key in FACT_CHILDREN:
        table = table_of(fact)
        other = table.alias("other")
        clash = exists().where(and_(other.c.account_id == bindparam("pri"),
                                    *(other.c[k] == table.c[k] for k in key)))
        stmt = (update(table).where(table.c.account_id == bindparam("sec"), ~clash)
                .values(account_id=bindparam("pri")))
        moved += _rows(conn.execute(stmt, moves))
    return moved


def _off_deleted(
    session: Session, primary_source: str, links: list[tuple[Account, Account]]
) -> int:
    """Move the records of each linked secondary that a deleted CRM account still holds
    (it was linked there before: its id field names the secondary) to the account the
    secondary is linked to now; returns the rows moved. Only the secondary's own records
    move (those of its source), never the deleted account's CRM records."""
    deleted = exists().where(Account.source == primary_source, Account.deleted_at.is_not(None))
    if not links or not session.scalar(select(deleted)):
        return 0
    moves: list[dict[str, Any]] = []
    for source, column in ID_FIELD.items():
        now = {sec.external_id: target.id for sec, target in links if sec.source == source}
        keys = sorted(now)
        for start in range(0, len(keys), ID_CHUNK):
            held = getattr(Account, column).in_(keys[start : start + ID_CHUNK])
            rows = session.execute(select(Account.id, getattr(Account, column)).where(
                Account.source == primary_source, Account.deleted_at.is_not(None), held))
            moves += [{"src": source, "gone": gone, "pri": now[ext]} for gone, ext in rows
                      if now[ext] != gone]
    if not moves:
        return 0
    conn = session.connection()
    moved = 0
    for keyed in KEYED_CHILDREN:
        table = table_of(keyed)
        stmt = (update(table).where(table.c.account_id == bindparam("gone"),
                                    table.c.source == bindparam("src"))
                .values(account_id=bindparam("pri")))
        moved += _rows(conn.execute(stmt, moves))
    return moved


def _rows(result: Any) -> int:
    count = getattr(result, "rowcount", -1)
    return count if isinstance(count, int) and count > 0 else 0
