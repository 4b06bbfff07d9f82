"""The App Home tab: rows, empty states and a huge portfolio cut to 100 blocks."""

from __future__ import annotations

import pytest
from digest_samples import AS_OF, all_mrkdwn, assert_escaped, by_action, huge_portfolio, line, texts

from digests.home import home_view
from digests.limits import validate_home
from digests.views import HomeView


@pytest.mark.parametrize("limit", [10, 40, 96, 500])
def test_home_view_of_a_huge_portfolio(limit: int) -> None:
    big = huge_portfolio()
    view = home_view(HomeView("Priscilla Tan", "csm", AS_OF, big, 37), limit=limit)
    assert validate_home(view) == []
    assert len(view["blocks"]) <= 100
    assert_escaped(view)
    shown = len(by_action(view, "health_pick"))
    assert shown == min(limit, 95)
    more = [t for _, t in texts(view) if t.startswith("…and ")]
    assert more == [f"…and {500 - shown} more — use `/health NAME` for any account"]


def test_home_view_rows_and_empty_states() -> None:
    view = home_view(HomeView("Priscilla Tan", "csm", AS_OF, [line(1), line(2)], 3))
    body = all_mrkdwn(view)
    assert "Evergreen Associates 1" in body and ":red_circle: At risk" in body
    assert (
        "*49.2* (-9.5)" in body and "$10k ARR" in body and "renews 2026-12-08 (in 13 days)" in body
    )
    assert "last activity 2026-11-20" in body and "1 open alert" in body
    assert [e["value"] for e in by_action(view, "health_pick")] == ["1", "2"]
    assert not any(t.startswith("…and") for _, t in texts(view))
    unscored = home_view(HomeView("Priscilla Tan", "csm", None, [], 0))
    assert "not scored" in all_mrkdwn(unscored) and validate_home(unscored) == []
    empty = home_view(HomeView("Priscilla Tan", "csm", AS_OF, [], 0))
    assert "No accounts" in all_mrkdwn(empty) and validate_home(empty) == []
