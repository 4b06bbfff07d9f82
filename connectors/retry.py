"""Retries and rate limits for every connector, in one place.

Each client library reports throttling and server errors its own way (simple-salesforce
exceptions, hubspot ``ApiException``, stripe errors, ``requests`` responses). A connector
only *classifies* an exception into a :class:`Retry` decision; the waiting, the backoff,
honouring ``Retry-After`` and the attempt budget live here, so all sources behave alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pulse.kernel.clock import epoch_seconds
from pulse.kernel.telemetry import api_retry

log = logging.getLogger("pulse.connectors.retry")
T = TypeVar("T")

MAX_ATTEMPTS = 5
BASE_DELAY = 1.0
MAX_DELAY = 60.0


@dataclass(frozen=True)
class Retry:
    """A classifier's verdict: retry this failure, after ``after`` seconds if the server said."""

    reason: str  # e.g. "429 rate limited", "503 service unavailable"
    after: float | None = None


Classifier = Callable[[BaseException], Retry | None]


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - epoch_seconds())


def retry_for_status(status: int | None, retry_after: str | None = None) -> Retry | None:
    """The common HTTP rule: 429 and 5xx are worth retrying, anything else is not."""
    if status == 429:
        return Retry("429 rate limited", parse_retry_after(retry_after))
    if status is not None and 500 <= status < 600:
        return Retry(f"{status} server error", parse_retry_after(retry_after))
    return None


def call_with_retries(
    fn: Callable[[], T],
    classify: Classifier,
    *,
    what: str,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``fn``; on a failure ``classify`` deems retryable, wait and try again.

    The wait is the server's ``Retry-After`` when given (capped at ``MAX_DELAY``), else
    exponential backoff from ``BASE_DELAY``. After ``attempts`` the last error is raised.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        decision = classify(exc) if exc else None
        backoff = min(MAX_DELAY, BASE_DELAY * 2 ** (state.attempt_number - 1))
        delay = (
            min(MAX_DELAY, decision.after) if decision and decision.after is not None else backoff
        )
        api_retry(what)  # pulse_api_retries_total
        log.warning(
            "%s: %s; retrying in %.1fs (attempt %d of %d)",
            what,
            decision.reason if decision else exc,
            delay,
            state.attempt_number + 1,
            attempts,
        )
        return delay

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: classify(exc) is not None),
        stop=stop_after_attempt(attempts),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
