"""The shared retry policy: Retry-After honoured, backoff otherwise, budget enforced."""

from __future__ import annotations

import pytest

from connectors.retry import Retry, call_with_retries, parse_retry_after, retry_for_status


class Throttled(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def classify(exc: BaseException) -> Retry | None:
    if isinstance(exc, Throttled):
        return retry_for_status(exc.status, exc.retry_after)
    return None


def _flaky(failures: list[Exception]):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    return fn, calls


def test_retry_after_is_honoured_then_success() -> None:
    slept: list[float] = []
    fn, calls = _flaky([Throttled(429, "7"), Throttled(503)])
    assert call_with_retries(fn, classify, what="test", sleep=slept.append) == "ok"
    assert calls["n"] == 3
    assert slept == [7.0, 2.0]  # server's 7 s, then backoff for attempt 2


def test_client_errors_are_not_retried() -> None:
    slept: list[float] = []
    fn, calls = _flaky([Throttled(400)])
    with pytest.raises(Throttled):
        call_with_retries(fn, classify, what="test", sleep=slept.append)
    assert calls["n"] == 1 and slept == []


def test_budget_exhausted_raises_the_last_error() -> None:
    fn, calls = _flaky([Throttled(500)] * 10)
    with pytest.raises(Throttled):
        call_with_retries(fn, classify, what="test", attempts=3, sleep=lambda _: None)
    assert calls["n"] == 3


def test_retry_after_http_date_and_garbage() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after(" 3 ") == 3.0
