"""Retries and rate limits for every connector, in one place.

Each client library reports throttling and server errors its own way (simple-salesforce
exceptions, hubspot ``ApiException``, stripe errors, ``requests`` responses). A connector
only *classifies* an exception into a :class:`Retry` decision; the waiting, the backoff,
honouring ``Retry-After`` and the attempt budget live here, so all sources behave alike.

Never retried, whatever a classifier says: a TLS certificate the machine does not trust
(it will not be trusted five seconds later). A call that fails for good carries a
:class:`CallFailure` (which call, how many attempts) for the words of its error, and the
log says truthfully what happens: "retrying in 2.0s" only before a retry, "giving up after
5 attempts" when the budget is spent.

Network failures are worded here for every connector (registered with
:func:`pulse.kernel.errors.explainer`). Which trust store each library reads: ``requests``
(simple-salesforce, Zendesk, webhooks) takes ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``)
and ignores ``SSL_CERT_FILE``
(https://requests.readthedocs.io/en/latest/user/advanced/#ssl-cert-verification);
urllib3 without a CA file (the HubSpot client, whose ``ssl_ca_cert`` Pulse leaves unset)
loads OpenSSL's defaults, which ``SSL_CERT_FILE``/``SSL_CERT_DIR`` override
(https://docs.python.org/3/library/ssl.html#ssl.SSLContext.load_default_certs,
https://docs.python.org/3/library/ssl.html#ssl.get_default_verify_paths); the Stripe
library verifies against its own bundled CA file (``stripe.ca_bundle_path``) only.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlparse

import requests
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from pulse.kernel.clock import epoch_seconds
from pulse.kernel.errors import UserFacingError, causes, explainer
from pulse.kernel.telemetry import api_retry

log = logging.getLogger("pulse.connectors.retry")
T = TypeVar("T")

MAX_ATTEMPTS = 5
BASE_DELAY = 1.0
MAX_DELAY = 60.0
FAILURE_ATTRIBUTE = "pulse_call_failure"
"""The attribute of an exception that escaped :func:`call_with_retries` holding its
:class:`CallFailure`."""


@dataclass(frozen=True)
class Retry:
    """A classifier's verdict: retry this failure, after ``after`` seconds if the server said."""

    reason: str  # e.g. "429 rate limited", "503 service unavailable"
    after: float | None = None


@dataclass(frozen=True)
class CallFailure:
    """What the retry policy knows of a call that failed for good."""

    call: str  # the ``what`` of call_with_retries, e.g. "Salesforce Account query"
    attempts: int  # how many times it was tried
    retried: bool  # whether the failure was one worth retrying (the budget ran out)


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
    exponential backoff from ``BASE_DELAY``. After ``attempts`` the last error is raised,
    carrying its :class:`CallFailure` (see :func:`call_failure`). An untrusted TLS
    certificate is raised at once.
    """
    tried = 0

    def attempt() -> T:
        nonlocal tried
        tried += 1
        return fn()

    def decision(exc: BaseException | None) -> Retry | None:
        if exc is None or untrusted_certificate(exc) is not None:
            return None
        return classify(exc)

    def wait(state: RetryCallState) -> float:
        verdict = decision(state.outcome.exception() if state.outcome else None)
        if verdict is not None and verdict.after is not None:
            return min(MAX_DELAY, verdict.after)
        return min(MAX_DELAY, BASE_DELAY * 2 ** (state.attempt_number - 1))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        verdict = decision(exc)
        api_retry(what)  # pulse_api_retries_total
        log.warning(
            "%s: %s (attempt %d of %d failed); retrying in %.1fs",
            what,
            verdict.reason if verdict else exc,
            state.attempt_number,
            attempts,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: decision(exc) is not None),
        stop=stop_after_attempt(attempts),
        wait=wait,
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except Exception as exc:
        verdict = decision(exc)
        if verdict is not None:
            log.warning("%s: %s; giving up after %d attempts", what, verdict.reason, tried)
        if not hasattr(exc, FAILURE_ATTRIBUTE):  # an inner call (a login) named it first
            failure = CallFailure(what, tried, retried=verdict is not None)
            with contextlib.suppress(AttributeError):  # an exception with __slots__
                setattr(exc, FAILURE_ATTRIBUTE, failure)
        raise


def call_failure(exc: BaseException) -> CallFailure | None:
    """Which call failed and after how many attempts, when ``exc`` (or what it was
    raised from) escaped :func:`call_with_retries`."""
    for link in causes(exc):
        found = getattr(link, FAILURE_ATTRIBUTE, None)
        if isinstance(found, CallFailure):
            return found
    return None


def attempts_text(exc: BaseException) -> str:
    """" after 5 attempts" when ``exc`` was retried until the budget ran out, else ""."""
    failure = call_failure(exc)
    return f" after {failure.attempts} attempts" if failure and failure.retried else ""


# --- network failures, worded for every connector ---------------------------------------


def _links(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: causes, contexts, a urllib3 ``reason``, and
    exceptions passed as arguments (``requests`` wraps urllib3's errors that way)."""
    queue, seen = [exc], set()
    while queue:
        link = queue.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        nested = (link.__cause__, link.__context__, getattr(link, "reason", None), *link.args)
        queue.extend(e for e in nested if isinstance(e, BaseException))


def _host(exc: BaseException) -> str | None:
    """The host the failed request went to, when an exception in the chain says."""
    for link in _links(exc):
        request = getattr(link, "request", None)
        url = getattr(request, "url", None) or getattr(link, "url", None)
        host = getattr(getattr(link, "pool", None), "host", None)
        if host:
            return str(host)
        if isinstance(url, str) and urlparse(url).hostname:
            return urlparse(url).hostname
    return None


def _library(exc: BaseException) -> str:
    """"stripe", "requests" or "urllib3": the outermost HTTP library in the chain."""
    modules = [type(link).__module__.split(".")[0] for link in _links(exc)]
    for name in ("stripe", "requests"):
        if name in modules:
            return name
    return "urllib3"


TRUST_FIX = {
    "requests": "If a proxy or a private CA signs it, set REQUESTS_CA_BUNDLE to a PEM file "
    "holding that CA (requests ignores SSL_CERT_FILE); check the URL otherwise",
    "urllib3": "If a proxy or a private CA signs it, set SSL_CERT_FILE to a PEM file holding "
    "that CA; check the URL otherwise",
    "stripe": "The Stripe library trusts only its own CA bundle: let the Stripe API through "
    "without TLS inspection, or check STRIPE_API_BASE",
}
"""What to do about an untrusted certificate, by the library that made the request."""


def untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure inside ``exc``, if that is what it is."""
    for link in _links(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return link
    return None


def tls_error(exc: BaseException, call: str = "") -> UserFacingError | None:
    """``exc`` worded as an untrusted TLS certificate, or None when it is not one."""
    failure = untrusted_certificate(exc)
    if failure is None:
        return None
    reason = failure.verify_message or failure.reason or str(failure)
    host = _host(exc) or "the server"
    found = call_failure(exc)
    return UserFacingError("", call or (found.call if found else ""),
                           f"TLS certificate of {host} not trusted ({reason})",
                           TRUST_FIX[_library(exc)])


def _os_reason(exc: BaseException) -> str:
    """"connection refused", "timed out", ...: the innermost socket error, briefly."""
    for link in reversed(list(_links(exc))):
        if isinstance(link, TimeoutError):
            return "timed out"
        if isinstance(link, OSError) and link.strerror:
            return link.strerror.lower()
    return type(exc).__name__


def network_error(exc: BaseException) -> UserFacingError | None:
    """A request that never got an HTTP answer (refused, reset, timed out, unknown host),
    worded with its host and attempts; None for anything else."""
    network = (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError)
    if not any(isinstance(link, network) for link in _links(exc)):
        return None
    found = call_failure(exc)
    host = _host(exc) or "the server"
    return UserFacingError(
        "", found.call if found else "",
        f"no answer from {host} ({_os_reason(exc)}){attempts_text(exc)}",
        "Check the URL and that this machine can reach it (network, proxy, firewall); "
        "the next run tries again",
    )


explainer(tls_error, first=True)
explainer(network_error)
