"""``seen_slack_requests``: the database decides which of identical requests is first."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from storage.seen_requests import first_time, prune

NOW = datetime(2026, 12, 7, 12, 0)


def test_of_identical_keys_sent_at_once_exactly_one_is_first(db_url: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: first_time(db_url, "a" * 64, NOW), range(8)))
    assert answers.count(True) == 1


def test_pruning_forgets_only_the_keys_seen_before_the_cutoff(db_url: str) -> None:
    assert first_time(db_url, "old".ljust(64, "0"), NOW)
    assert first_time(db_url, "new".ljust(64, "0"), NOW + timedelta(minutes=9))
    assert prune(db_url, NOW + timedelta(minutes=5)) == 1
    assert first_time(db_url, "old".ljust(64, "0"), NOW + timedelta(minutes=10))
    assert not first_time(db_url, "new".ljust(64, "0"), NOW + timedelta(minutes=10))
