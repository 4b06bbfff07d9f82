"""The HubSpot client, and the retries and error wording around every call.

The official ``hubspot-api-client`` is built as ``HubSpot(access_token=..., host=...)``
(``host`` is set on every generated ``Configuration``; ``hubspot/discovery/discovery_base.py``)
with the token only from ``HUBSPOT_ACCESS_TOKEN`` and the host from ``HUBSPOT_API_URL``
(default ``https://api.hubapi.com``). Its own urllib3 retries (which would honour
``Retry-After`` on 429/503 by themselves) are switched off: every call goes through
:func:`connectors.retry.call_with_retries` with :func:`classify`, like every other source.
Responses are read as raw JSON (``_preload_content=False``) in the documented shapes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry as Urllib3Retry

from connectors.retry import Retry, attempts_text, call_failure, call_with_retries, retry_for_status
from pulse.kernel.errors import UserFacingError, explainer

DEFAULT_HOST = "https://api.hubapi.com"
ERROR_TEXT_MAX = 300
"""Characters of a non-JSON error body kept as its message."""
NO_CLIENT_RETRIES = Urllib3Retry(total=0, redirect=False, respect_retry_after_header=False)
"""The client's own urllib3 retries, switched off: :func:`call` retries every call."""

Sleep = Callable[[float], None]


class HubSpotError(UserFacingError):
    """A HubSpot problem worded for the person running Pulse."""

    def __init__(self, problem: str, fix: str = "", call: str = "") -> None:
        super().__init__("HubSpot", call, problem, fix)


SCOPES = (
    "crm.objects.owners.read",
    "crm.objects.companies.read",
    "crm.objects.contacts.read",
    "crm.objects.deals.read",
    "crm.schemas.companies.read",
    "crm.objects.companies.write",
    "crm.schemas.companies.write",
    "crm.objects.contacts.write",
)
"""What Pulse needs (https://developers.hubspot.com/docs/api/scopes);
``crm.objects.contacts.write`` is for a playbook's ``crm_task`` and a note logged from
Slack (HubSpot's tasks and notes APIs require it)."""


def make_client() -> HubSpot:
    """A client for ``HUBSPOT_API_URL`` authenticated with ``HUBSPOT_ACCESS_TOKEN``."""
    token = os.environ.get("HUBSPOT_ACCESS_TOKEN", "").strip()
    if not token:
        raise HubSpotError(
            "HUBSPOT_ACCESS_TOKEN is not set",
            "Create a service key in HubSpot (Development > Keys > Service keys; or use an "
            "existing legacy private app's token) with the scopes of docs/connectors.md and "
            "export it",
        )
    host = (os.environ.get("HUBSPOT_API_URL") or DEFAULT_HOST).rstrip("/")
    return HubSpot(access_token=token, host=host, retry=NO_CLIENT_RETRIES)


def is_api_exception(exc: BaseException) -> bool:
    """Whether ``exc`` is an HTTP error answer of the HubSpot API (it has a ``status``)."""
    # every generated package (crm.companies, crm.owners, ...) has its own ApiException
    return type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    if value is None and isinstance(headers, dict):
        for key, val in headers.items():
            if str(key).lower() == name.lower():
                return str(val)
    return None if value is None else str(value)


def classify(exc: BaseException) -> Retry | None:
    """hubspot ``ApiException``: 429 and 5xx retry (after ``Retry-After`` when sent);
    connection-level urllib3 errors retry; everything else is final."""
    if is_api_exception(exc):
        status = getattr(exc, "status", None)
        return retry_for_status(status, _header(getattr(exc, "headers", None), "Retry-After"))
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return Retry(f"connection error ({type(exc).__name__})")
    return None


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON error body of an API exception (``message``, ``category``, ``context``)."""
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {"message": str(body)[:ERROR_TEXT_MAX]}
    return data if isinstance(data, dict) else {}


def describe_error(exc: BaseException) -> str:
    """An API exception in one line: ``400 VALIDATION_ERROR: <message>``."""
    data = error_body(exc)
    status = getattr(exc, "status", None)
    message = data.get("message") or getattr(exc, "reason", None) or type(exc).__name__
    category = data.get("category")
    return f"{status} {category + ': ' if category else ''}{message}"


def _json(response: Any) -> dict[str, Any]:
    data = response.data if hasattr(response, "data") else response
    if not data:
        return {}
    parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else {}


def call(fn: Callable[[], Any], what: str, sleep: Sleep) -> dict[str, Any]:
    """One API call under the shared retry policy, returning its JSON body."""
    try:
        return _json(call_with_retries(fn, classify, what=what, sleep=sleep))
    except Exception as exc:
        if is_api_exception(exc) and getattr(exc, "status", None) == 401:
            raise HubSpotError(
                "HubSpot rejected the access token (401 Unauthorized)",
                "Check HUBSPOT_ACCESS_TOKEN (the service key or private app token, not "
                "expired or rotated)",
                call=what,
            ) from exc
        if is_api_exception(exc) and getattr(exc, "status", None) == 403:
            raise HubSpotError(
                f"HubSpot refused the request ({describe_error(exc)})",
                f"Give the service key (or private app) the scopes {', '.join(SCOPES)} "
                "(docs/connectors.md says what each is for)",
                call=what,
            ) from exc
        raise


@explainer
def explain_failure(exc: BaseException) -> UserFacingError | None:
    """A HubSpot API error in one line: the call, the status, HubSpot's category and
    message (never the response headers the library's text carries)."""
    if not is_api_exception(exc):
        return None
    failure = call_failure(exc)
    status = getattr(exc, "status", None)
    if status in (401, 403):
        fix = "Check HUBSPOT_ACCESS_TOKEN and the scopes of its service key or private app"
    elif status is not None and 400 <= status < 500 and status != 429:
        fix = "Check the properties mapped in sources.hubspot (pulse crm check lists them)"
    else:
        fix = "HubSpot may be down or busy (https://status.hubspot.com); the next run tries again"
    return HubSpotError(describe_error(exc)[:300] + attempts_text(exc), fix,
                        call=failure.call if failure else "API call")
