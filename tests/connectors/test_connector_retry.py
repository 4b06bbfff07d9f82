"""The shared retry policy: Retry-After honoured, backoff otherwise, budget enforced, an
untrusted certificate never retried, and a log that says what really happens."""

from __future__ import annotations

import logging
import ssl

import pytest
import requests

from connectors.retry import Retry, call_with_retries, parse_retry_after, retry_for_status
from pulse.kernel.errors import one_line


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


def test_the_log_says_retrying_only_before_a_retry_and_gives_up_truthfully(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fn, calls = _flaky([Throttled(503)] * 10)
    with caplog.at_level(logging.WARNING, "pulse.connectors.retry"), pytest.raises(Throttled):
        call_with_retries(fn, classify, what="Salesforce Account query", sleep=lambda _: None)
    assert calls["n"] == 5
    assert [r.getMessage() for r in caplog.records] == [
        "Salesforce Account query: 503 server error (attempt 1 of 5 failed); retrying in 1.0s",
        "Salesforce Account query: 503 server error (attempt 2 of 5 failed); retrying in 2.0s",
        "Salesforce Account query: 503 server error (attempt 3 of 5 failed); retrying in 4.0s",
        "Salesforce Account query: 503 server error (attempt 4 of 5 failed); retrying in 8.0s",
        "Salesforce Account query: 503 server error; giving up after 5 attempts",
    ]


def test_a_failure_not_worth_retrying_is_not_announced(caplog: pytest.LogCaptureFixture) -> None:
    fn, _ = _flaky([Throttled(503), Throttled(400)])
    with caplog.at_level(logging.WARNING, "pulse.connectors.retry"), pytest.raises(Throttled):
        call_with_retries(fn, classify, what="test", sleep=lambda _: None)
    assert [r.getMessage() for r in caplog.records] == [
        "test: 503 server error (attempt 1 of 5 failed); retrying in 1.0s"
    ]


def test_an_untrusted_certificate_is_never_retried() -> None:
    """Even when the connector's classifier retries every connection error."""
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    untrusted = requests.exceptions.SSLError(verify)
    fn, calls = _flaky([untrusted, untrusted])
    with pytest.raises(requests.exceptions.SSLError) as caught:
        call_with_retries(fn, lambda _: Retry("network error"), what="X call", sleep=lambda _: None)
    assert calls["n"] == 1
    assert one_line(caught.value).startswith(
        "X call: TLS certificate of the server not trusted (self-signed certificate). "
    )
