"""Who sees what: roles from config and the CRM, and the account scope of each role."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from workspace import ACCOUNTS, CFG, load_people

from pulse.kernel.config import parse_config
from pulse.services.access import can_see, resolve_viewer, visible
from storage.models import Account

ACCESS = parse_config(
    {
        "access": {
            "admins": ["Boss@Vendor.com"],
            "read_only": ["UREADER"],
            "account_executives": ["quinn@vendor.com"],
            "user_map": {"UALIAS": "pete@vendor.com", "UGHOST": "nobody@vendor.com"},
        }
    }
)


def _names(session: Session, scope: ColumnElement[bool]) -> set[str]:
    return set(session.scalars(select(Account.name).where(scope)))


def test_roles_come_from_config_lists_then_the_crm_owner(session: Session) -> None:
    ids = load_people(session)
    admin = resolve_viewer(session, ACCESS, "UBOSS", "boss@vendor.com")
    assert (admin.role, admin.can_act) == ("admin", True)
    reader = resolve_viewer(session, ACCESS, "UREADER", None)
    assert (reader.role, reader.can_act) == ("read_only", False)
    ae = resolve_viewer(session, ACCESS, "UQUINN", "QUINN@vendor.com")
    assert (ae.role, ae.can_act, ae.owner_id) == ("account_executive", False, ids["o4"])
    # CRM owner by email, case-insensitively
    olga = resolve_viewer(session, ACCESS, "UOTHER", "olga@VENDOR.com")
    assert (olga.role, olga.owner_id, olga.team, olga.name) == (
        "csm",
        ids["o1"],
        "Enterprise",
        "Olga CSM",
    )
    # ... else by the owner's Slack id
    maya = resolve_viewer(session, ACCESS, "UMAYA", None)
    assert (maya.role, maya.owner_id, maya.can_act) == ("manager", ids["m1"], True)
    # user_map overrides the email lookup (and does not fall back when it names no owner)
    alias = resolve_viewer(session, ACCESS, "UALIAS", "olga@vendor.com")
    assert (alias.role, alias.owner_id) == ("csm", ids["o2"])
    ghost = resolve_viewer(session, ACCESS, "UGHOST", "olga@vendor.com")
    assert (ghost.role, ghost.can_act) == ("none", False)
    stranger = resolve_viewer(session, ACCESS, "UNOBODY", "someone@else.com")
    assert (stranger.role, stranger.owner_id, stranger.name) == ("none", None, "someone@else.com")


def test_each_role_sees_its_scope(session: Session) -> None:
    ids = load_people(session)
    every = {a[1] for a in ACCOUNTS}

    def scope(slack_id: str, email: str | None = None) -> set[str]:
        viewer = resolve_viewer(session, ACCESS, slack_id, email)
        return _names(session, visible(session, viewer))

    assert scope("UBOSS", "boss@vendor.com") == every
    assert scope("UREADER") == every
    assert scope("UOLGA") == {"Acme Corp", "Initech"}
    assert scope("UPETE") == {"Acme Labs", "Globex"}
    # a manager: own accounts plus those of their direct reports (Olga, Rita)
    assert scope("UMAYA") == {"Acme Corp", "Initech", "Hooli", "Vandelay"}
    assert scope("UNATE") == {"Acme Labs", "Globex"}
    assert scope("UQUINN", "quinn@vendor.com") == {"Umbrella"}
    assert scope("UNOBODY") == set()

    olga = resolve_viewer(session, CFG, "UOLGA", None)
    assert can_see(session, olga, ids["a1"])
    assert not can_see(session, olga, ids["a3"])
    assert not can_see(session, olga, 999_999)
