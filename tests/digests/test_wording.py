"""Figures are worded one way, in Slack and in the terminal alike."""

from __future__ import annotations

import math

import pytest

from digests.wording import money, plural, signed
from pulse.kernel.tiers import tier_label


@pytest.mark.parametrize(
    ("value", "words"),
    [(0.0, "$0"), (950.0, "$950"), (10_400.0, "$10k"), (392_000.0, "$392k"),
     (1_790_000.0, "$1.79M"), (-12_000.0, "$-12k"), (None, "$0"), (math.nan, "$0")],
)
def test_money(value: float | None, words: str) -> None:
    assert money(value) == words


@pytest.mark.parametrize(
    ("value", "words"), [(-9.5, "-9.5"), (0.0, "+0.0"), (2.04, "+2.0"), (None, "new"),
                         (math.nan, "new")],
)
def test_signed_changes_and_first_snapshots(value: float | None, words: str) -> None:
    assert signed(value) == words


def test_plural_and_tier_labels() -> None:
    assert (plural(1, "account"), plural(3, "account"), plural(2, "reply", "replies")) == (
        "1 account", "3 accounts", "2 replies")
    assert [tier_label(t) for t in ("healthy", "fine", "at_risk", "odd", None)] == [
        "Healthy", "Fine", "At risk", "odd", "unscored"]
