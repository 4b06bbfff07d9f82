"""An account a CSM follows (``/health follow``) shows in their morning digest with its
change, although they do not own it."""

from __future__ import annotations

from sqlalchemy.orm import Session
from workspace import CFG, D1, D2, NOW2, load_people, put_snapshot

from digests.digest_blocks import csm_digest as render_csm
from digests.limits import validate_message
from pulse.services.digest_data import csm_digest
from pulse.services.preferences import follow


def test_a_followed_account_is_in_the_followers_digest(session: Session) -> None:
    ids = load_people(session)
    for name, (before, after) in {"a1": (70.0, 66.0), "a3": (80.0, 71.5)}.items():
        put_snapshot(session, ids[name], D1, score=before)
        put_snapshot(session, ids[name], D2, score=after)
    olga = ids["o1"]  # owns Acme (a1); Globex (a3) is Pete's
    assert csm_digest(session, CFG, olga, NOW2).following == []
    follow(session, "UOLGA", ids["a3"], NOW2)
    follow(session, "UOLGA", ids["a1"], NOW2)  # her own account: not listed twice
    digest = csm_digest(session, CFG, olga, NOW2)
    assert [(line.name, line.why) for line in digest.following] == [
        ("Globex", "score -8.5 since last run")
    ]
    payload = render_csm(digest)
    assert validate_message(payload) == []
    assert "*Accounts you follow* (1)" in str(payload["blocks"])
    assert "Globex" in str(payload["blocks"])
