"""The Salesforce client: the session, its renewal, and retries around every call.

Credentials come only from the environment (:class:`connectors.salesforce.auth.Credentials`):
the JWT bearer or client-credentials login of a connected app, the legacy
username/password login, or a bare access token for tests. An access token expires (the
org's session timeout); a call made with an expired one answers 401 ``INVALID_SESSION_ID``
(https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_error_handling_session_exp.htm).
Pulse then logs in again once, through the process-wide
:data:`connectors.salesforce.auth.TOKENS`, and repeats that one call, whether it is a
query, a further query page, a writeback or a bulk job request; with a bare access token
it stops with a "token expired" error. 429 and 5xx are retried by
:mod:`connectors.retry`; 403 ``REQUEST_LIMIT_EXCEEDED`` (the org's API request limit,
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)
is retried only for the transient concurrent-request limit.

Query results are read page by page: the first page comes from ``query`` and every
further page from ``query_more`` following ``nextRecordsUrl`` until ``done`` is true
(https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.md,
https://developer.salesforce.com/docs/platform/api-rest/guide/dome-query.md). Each page is
its own API call wrapped in the shared retry policy and the renewal, so a throttled page 7,
or a token expiring before it, does not restart the query at page 1. Field lengths and
types come from the sObject Describe resource
(https://developer.salesforce.com/docs/platform/api-rest/guide/dome-sobject-describe.md).
The client is simple-salesforce built from ``instance_url`` and ``session_id``
(https://pypi.org/project/simple-salesforce/).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
)

from connectors.retry import (
    Retry,
    attempts_text,
    call_failure,
    call_with_retries,
    parse_retry_after,
    retry_for_status,
)
from connectors.salesforce.auth import (
    FLOW_NAMES,
    TOKENS,
    Credentials,
    SalesforceConfigError,
    SalesforceLoginError,
    Token,
    request_token,
)
from pulse.kernel.config import PulseConfig, SalesforceSourceConfig
from pulse.kernel.errors import UserFacingError, explainer

log = logging.getLogger("pulse.connectors.salesforce")
T = TypeVar("T")


class SalesforceTokenExpired(UserFacingError):
    """The access token expired and Pulse has no way to get a new one (a bare token)."""

    def __init__(self, problem: str, fix: str = "", call: str = "") -> None:
        super().__init__("Salesforce", call, problem, fix)


def error_code(exc: SalesforceError) -> tuple[str | None, str]:
    """The ``errorCode`` and ``message`` of a REST error body (a list of error objects)."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), str(content[0].get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode"), str(content.get("message", ""))
    return None, str(content or "")


def classify_salesforce(exc: BaseException, retry_after: str | None = None) -> Retry | None:
    """Retry decision for a simple-salesforce / requests failure (see :mod:`connectors.retry`).

    429 and 5xx retry (honouring ``Retry-After``); 403 ``REQUEST_LIMIT_EXCEEDED`` retries
    only when it is the concurrent-request limit, because the daily total does not reset
    within a run; connection errors and timeouts retry; everything else (400, 401, 404,
    and 403 permission errors) does not.
    """
    if isinstance(exc, SalesforceExpiredSession):
        return None  # handled once, by logging in again, in SalesforceClient.call
    if isinstance(exc, SalesforceError):
        status = getattr(exc, "status", None)
        if status == 403:
            code, message = error_code(exc)
            if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" in message.lower():
                return Retry("403 concurrent request limit", parse_retry_after(retry_after))
            return None
        return retry_for_status(status, retry_after)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:  # token endpoint
        return retry_for_status(exc.response.status_code, retry_after)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Retry(f"network error ({type(exc).__name__})")
    return None


STATUS_FIX = {
    400: "Check the fields mapped in sources.salesforce (pulse crm check lists them)",
    401: "Check SALESFORCE_ACCESS_TOKEN, or the username, password and security token",
    403: "Give the Salesforce user of Pulse the permissions it lacks (API Enabled, read "
    "access to the objects and fields), or wait for the org's API limit to reset",
    404: "Check SALESFORCE_INSTANCE_URL and that the object exists in the org",
}
"""What to do about a refused call, by HTTP status; any other status is Salesforce's side."""


@explainer
def explain_failure(exc: BaseException) -> UserFacingError | None:
    """A Salesforce REST error in one line: the call, the status, Salesforce's
    ``errorCode`` and message (never the request URL with its encoded SOQL)."""
    if not isinstance(exc, SalesforceError):
        return None
    failure = call_failure(exc)
    code, message = error_code(exc)
    if isinstance(exc, SalesforceAuthenticationFailed):
        code, message = str(exc.code or ""), exc.auth_message
    status = getattr(exc, "status", None)
    problem = f"{status} {code or type(exc).__name__}: {message[:200]}".rstrip(": ")
    fix = STATUS_FIX.get(status or 0, "Salesforce may be down or busy "
                         "(https://status.salesforce.com); the next run tries again")
    return UserFacingError("Salesforce", failure.call if failure else "API call",
                           problem + attempts_text(exc), fix)


class SalesforceClient:
    """A simple-salesforce connection with the shared retries and one re-login on expiry.

    Every API call goes through :meth:`call`, the one place that retries (via
    :func:`connectors.retry.call_with_retries`) and renews an expired session. Tokens come
    from the process-wide :data:`connectors.salesforce.auth.TOKENS`, so clients built one
    after another share one login.
    """

    def __init__(
        self,
        api_version: str = "59.0",
        *,
        credentials: Credentials | None = None,
        sf: Salesforce | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_version = api_version
        self.credentials = credentials
        self.sleep = sleep
        self.http = requests.Session()
        self.http.hooks["response"].append(self._remember_headers)
        self._retry_after: str | None = None
        if sf is not None:
            self._sf: Salesforce | None = sf
            sf.session.hooks["response"].append(self._remember_headers)
        else:
            self._sf = None

    @classmethod
    def from_env(
        cls,
        api_version: str = "59.0",
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SalesforceClient:
        return cls(api_version, credentials=Credentials.from_env(env), sleep=sleep)

    def _remember_headers(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # simple-salesforce exceptions carry status and body but not headers: keep the
        # last response's Retry-After so the classifier can honour it.
        self._retry_after = response.headers.get("Retry-After")

    def _classify(self, exc: BaseException) -> Retry | None:
        return classify_salesforce(exc, self._retry_after)

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self._connect()
        assert self._sf is not None
        return self._sf

    def _connect(self, stale: str | None = None) -> None:
        """Build the simple-salesforce session from a token: the bare one, or the process's
        login for these credentials (a new login when ``stale`` is the token it holds)."""
        creds = self.credentials
        if creds is None:
            raise SalesforceConfigError("no Salesforce credentials")
        if creds.can_login:
            token = TOKENS.get(creds, self._login, stale=stale)
        else:
            token = request_token(creds, self.http, self.api_version)  # the bare token
        self._sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            version=self.api_version,
            session=self.http,
        )

    def _login(self) -> Token:
        """A new token (network failures and 5xx retried); an unreachable login host is
        one line naming SALESFORCE_LOGIN_URL."""
        assert self.credentials is not None
        creds = self.credentials
        log.info("Salesforce %s login at %s", FLOW_NAMES[creds.flow], creds.login_url)
        try:
            return call_with_retries(
                lambda: request_token(creds, self.http, self.api_version),
                self._classify,
                what="Salesforce login",
                sleep=self.sleep,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SalesforceLoginError(
                f"{creds.login_url} could not be reached ({type(exc).__name__})",
                "Check SALESFORCE_LOGIN_URL (the org's login or My Domain URL) and this "
                "machine's network",
                call="login",
            ) from exc

    def call(self, fn: Callable[[Salesforce], T], *, what: str) -> T:
        """Run one API call with retries; on an expired session log in again once and
        repeat the call."""
        try:
            return call_with_retries(
                lambda: fn(self.sf), self._classify, what=what, sleep=self.sleep
            )
        except SalesforceExpiredSession as exc:
            if self.credentials is None or not self.credentials.can_login:
                raise SalesforceTokenExpired(
                    "access token expired or invalid (401 INVALID_SESSION_ID)",
                    "Set a fresh SALESFORCE_ACCESS_TOKEN, or set SALESFORCE_CLIENT_ID with "
                    "SALESFORCE_PRIVATE_KEY_FILE and SALESFORCE_USERNAME (or "
                    "SALESFORCE_CLIENT_SECRET) so Pulse can log in by itself",
                    call=what,
                ) from exc
            log.warning("%s: Salesforce session expired; logging in again", what)
            stale = self._sf.session_id if self._sf is not None else None
            self._sf = None
            self._connect(stale=stale)
            return call_with_retries(
                lambda: fn(self.sf), self._classify, what=what, sleep=self.sleep
            )

    def query_pages(
        self, soql: str, *, what: str, include_deleted: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the records of ``soql`` page by page, following ``nextRecordsUrl``; with
        ``include_deleted`` through the QueryAll resource, which also returns the records
        deleted or merged away that are still in the recycle bin (``IsDeleted`` true)."""
        page = self.call(lambda sf: sf.query(soql, include_deleted=include_deleted), what=what)
        n = 1
        while True:
            yield [_strip(r) for r in page.get("records", [])]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            n += 1
            page = self.call(
                partial(_query_more, url=page["nextRecordsUrl"]), what=f"{what} (page {n})"
            )

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.call(lambda sf: getattr(sf, sobject).describe(), what=f"describe {sobject}")

    def fields(self, sobject: str) -> dict[str, dict[str, Any]]:
        """Field name -> describe entry of ``sobject`` (fields visible to this user)."""
        return {f["name"]: f for f in self.describe(sobject).get("fields", [])}


def _query_more(sf: Salesforce, url: str) -> dict[str, Any]:
    """The query page at ``url`` (a ``nextRecordsUrl``)."""
    page: dict[str, Any] = sf.query_more(url, identifier_is_url=True)
    return page


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "attributes"}


def as_client(sf: Salesforce | SalesforceClient | None, api_version: str) -> SalesforceClient:
    """``sf`` as a :class:`SalesforceClient`; None builds one from the environment."""
    if isinstance(sf, SalesforceClient):
        return sf
    if sf is None:
        return SalesforceClient.from_env(api_version)
    return SalesforceClient(api_version, sf=sf)


def source_config(config: PulseConfig | SalesforceSourceConfig) -> SalesforceSourceConfig:
    """The ``sources.salesforce`` settings (the defaults when pulse.yml has none)."""
    if isinstance(config, SalesforceSourceConfig):
        return config
    return config.sources.salesforce or SalesforceSourceConfig()
