"""Signed JSON webhooks from playbooks, and the check a receiver runs.

The scheme follows Slack's request signing (which Pulse already verifies for its own
inbound requests): the sender puts the Unix time in ``X-Pulse-Request-Timestamp`` and
``v1=<hex HMAC-SHA256 of "v1:<timestamp>:<body>">`` in ``X-Pulse-Signature``. A
receiver recomputes the HMAC with the shared key over the exact body bytes, compares in
constant time, and refuses timestamps more than five minutes old (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import requests

from connectors.retry import Retry, call_with_retries, retry_for_status
from pulse.kernel.clock import epoch_seconds

VERSION = "v1"
MAX_AGE_SECONDS = 300
TIMEOUT_SECONDS = 10
ATTEMPTS = 4


class WebhookError(Exception):
    """The receiver refused the webhook or could not be reached after every retry."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str, *, now: float | None = None,
           max_age: int = MAX_AGE_SECONDS) -> bool:
    """What a receiver checks: the signature over the exact body, and a fresh timestamp."""
    try:
        age = abs((now if now is not None else epoch_seconds()) - int(timestamp))
    except ValueError:
        return False
    return age <= max_age and hmac.compare_digest(signature(secret, timestamp, body), given)


class _Failed(Exception):
    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}: {response.text[:200]}")
        self.response = response


def _classify(exc: BaseException) -> Retry | None:
    if isinstance(exc, _Failed):
        return retry_for_status(exc.response.status_code, exc.response.headers.get("Retry-After"))
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Retry(f"unreachable ({type(exc).__name__})")
    return None


def post_signed(
    url: str,
    payload: dict[str, Any],
    secret: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    attempts: int = ATTEMPTS,
    session: requests.Session | None = None,
) -> int:
    """POST ``payload`` signed; retried with backoff on 429/5xx/unreachable. Returns the
    status; raises :class:`WebhookError` naming the last failure."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    http = session or requests.Session()

    def send() -> int:
        timestamp = str(int(clock()))  # signed afresh on every try: retries stay fresh
        response = http.post(url, data=body, timeout=TIMEOUT_SECONDS, headers={
            "Content-Type": "application/json",
            "User-Agent": "Pulse-Webhook/1",
            "X-Pulse-Request-Timestamp": timestamp,
            "X-Pulse-Signature": signature(secret, timestamp, body),
        })
        if response.status_code >= 300:
            raise _Failed(response)
        return response.status_code

    try:
        return call_with_retries(send, _classify, what=f"webhook {url}", attempts=attempts,
                                 sleep=sleep)
    except _Failed as exc:
        raise WebhookError(str(exc)) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise WebhookError(f"unreachable: {type(exc).__name__}") from None
