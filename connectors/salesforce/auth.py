"""Logging in to Salesforce: which login the environment asks for, and getting a token.

Pulse logs in as an integration user through a connected app (or External Client App),
with one of the OAuth 2.0 server-to-server flows Salesforce recommends:

* **JWT bearer** (``SALESFORCE_CLIENT_ID`` + ``SALESFORCE_PRIVATE_KEY_FILE`` or
  ``SALESFORCE_PRIVATE_KEY`` + ``SALESFORCE_USERNAME``): an RS256-signed assertion with
  ``iss`` the consumer key, ``sub`` the username, ``aud`` the login URL and ``exp`` at most
  three minutes ahead is POSTed as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
  to ``{login_url}/services/oauth2/token``
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm);
* **client credentials** (``SALESFORCE_CLIENT_ID`` + ``SALESFORCE_CLIENT_SECRET``):
  ``grant_type=client_credentials`` with the consumer key and secret, at the org's My
  Domain token URL; the token belongs to the app's "Run As" user
  (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm).

Both answer ``access_token`` and ``instance_url``; a refusal is a 400 with ``error`` and
``error_description``. ``SALESFORCE_LOGIN_URL`` is the login host (default
https://login.salesforce.com; https://test.salesforce.com for a sandbox, or the org's My
Domain URL). Two older ways still work: username/password(+security token) through
simple-salesforce's SOAP login (legacy: Salesforce is retiring it and new orgs have it
off), and a bare ``SALESFORCE_ACCESS_TOKEN`` with ``SALESFORCE_INSTANCE_URL`` (for tests:
it cannot be renewed). A refused login becomes one :class:`SalesforceLoginError` line
naming what the admin must fix. :class:`TokenCache` keeps one token per set of credentials
for the whole process, so a long-running ``pulse serve`` does not log in for every
writeback, and replaces it once when it expires.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import jwt
import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from simple_salesforce import SalesforceLogin

from pulse.kernel.clock import epoch_seconds
from pulse.kernel.errors import UserFacingError

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
"""Where Pulse logs in when ``SALESFORCE_LOGIN_URL`` (or ``SALESFORCE_DOMAIN``) is not set."""
TOKEN_PATH = "/services/oauth2/token"
"""The OAuth 2.0 token endpoint, under the login URL."""
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
"""``grant_type`` of the JWT bearer flow (RFC 7523)."""
ASSERTION_LIFETIME = 180
"""Seconds a JWT assertion is valid: Salesforce wants ``exp`` within three minutes."""
TOKEN_TIMEOUT = 30.0
"""Seconds to wait for the token endpoint."""

Flow = Literal["jwt", "client_credentials", "password", "token"]
FLOW_NAMES: dict[str, str] = {
    "jwt": "JWT bearer",
    "client_credentials": "client credentials",
    "password": "username/password",
    "token": "access token",
}


class SalesforceConfigError(UserFacingError):
    """Missing credentials or an org that lacks what Pulse needs, worded for the admin."""

    def __init__(self, problem: str, fix: str = "", call: str = "") -> None:
        super().__init__("Salesforce", call, problem, fix)


class SalesforceLoginError(SalesforceConfigError):
    """Salesforce refused the login; the message says what to change in the app or env."""


@dataclass(frozen=True)
class Credentials:
    """What the environment provides; :attr:`flow` says which login it makes.

    Secrets are left out of ``repr`` so a logged object shows no key or password.
    """

    instance_url: str | None = None
    access_token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    domain: str = "login"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    login_url: str = DEFAULT_LOGIN_URL

    @property
    def flow(self) -> Flow:
        """JWT with a client id, private key and username; client credentials with a
        client id and secret (and no password); else a bare token; else username/password."""
        if self.client_id and self.private_key and self.username:
            return "jwt"
        if self.client_id and self.client_secret and self.password is None:
            return "client_credentials"
        if self.access_token:
            return "token"
        return "password"

    @property
    def can_login(self) -> bool:
        """Whether Pulse can get a new token by itself (every login but a bare token)."""
        return self.flow != "token"

    @property
    def token_url(self) -> str:
        return self.login_url + TOKEN_PATH

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials:
        """Read the SALESFORCE_* variables; a missing one raises an error naming it."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        login_url, domain = _login_url(get("SALESFORCE_LOGIN_URL"), get("SALESFORCE_DOMAIN"))
        client_id, user = get("SALESFORCE_CLIENT_ID"), get("SALESFORCE_USERNAME")
        if client_id:
            key = _private_key(get("SALESFORCE_PRIVATE_KEY"), get("SALESFORCE_PRIVATE_KEY_FILE"))
            secret = get("SALESFORCE_CLIENT_SECRET")
            if key and not user:
                raise SalesforceConfigError(
                    "SALESFORCE_USERNAME is not set (the JWT login needs the integration "
                    "user's username with SALESFORCE_CLIENT_ID and the private key)"
                )
            if key or (secret and "SALESFORCE_PASSWORD" not in env):
                return cls(client_id=client_id, client_secret=secret, private_key=key,
                           username=user, login_url=login_url, domain=domain)
            if user and "SALESFORCE_PASSWORD" not in env:
                raise SalesforceConfigError(
                    "SALESFORCE_PRIVATE_KEY_FILE is not set (the JWT login needs it with "
                    "SALESFORCE_CLIENT_ID and SALESFORCE_USERNAME; or set "
                    "SALESFORCE_CLIENT_SECRET for the client-credentials login)"
                )
            if not user and "SALESFORCE_PASSWORD" in env:
                raise SalesforceConfigError(
                    "SALESFORCE_USERNAME is not set (it goes with SALESFORCE_PASSWORD)"
                )
            if not user:
                raise SalesforceConfigError(
                    "SALESFORCE_PRIVATE_KEY_FILE (JWT login, with SALESFORCE_USERNAME) or "
                    "SALESFORCE_CLIENT_SECRET (client credentials) is not set; it goes with "
                    "SALESFORCE_CLIENT_ID"
                )
        return _legacy(get, env, login_url, domain)


def _legacy(
    get: Callable[[str], str | None], env: Mapping[str, str], login_url: str, domain: str
) -> Credentials:
    """A bare access token, or the username/password login (legacy)."""
    token, user = get("SALESFORCE_ACCESS_TOKEN"), get("SALESFORCE_USERNAME")
    if token:
        url = get("SALESFORCE_INSTANCE_URL")
        if not url:
            raise SalesforceConfigError(
                "SALESFORCE_INSTANCE_URL is not set (it goes with SALESFORCE_ACCESS_TOKEN, "
                "e.g. https://yourcompany.my.salesforce.com)"
            )
        return Credentials(instance_url=url, access_token=token, domain=domain,
                           login_url=login_url)
    if user:
        for name in ("SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN"):
            if name not in env:
                raise SalesforceConfigError(
                    f"{name} is not set (it goes with SALESFORCE_USERNAME; or set "
                    "SALESFORCE_CLIENT_ID and SALESFORCE_PRIVATE_KEY_FILE for the JWT login)"
                )
        return Credentials(
            instance_url=get("SALESFORCE_INSTANCE_URL"),
            username=user,
            password=env["SALESFORCE_PASSWORD"],
            security_token=env["SALESFORCE_SECURITY_TOKEN"],
            domain=domain,
            client_id=get("SALESFORCE_CLIENT_ID"),
            client_secret=get("SALESFORCE_CLIENT_SECRET"),
            login_url=login_url,
        )
    if get("SALESFORCE_INSTANCE_URL"):
        raise SalesforceConfigError(
            "SALESFORCE_ACCESS_TOKEN is not set (it goes with SALESFORCE_INSTANCE_URL; for a "
            "login that renews itself set SALESFORCE_CLIENT_ID with "
            "SALESFORCE_PRIVATE_KEY_FILE and SALESFORCE_USERNAME, or SALESFORCE_CLIENT_SECRET)"
        )
    raise SalesforceConfigError(
        "SALESFORCE_CLIENT_ID is not set (with SALESFORCE_PRIVATE_KEY_FILE and "
        "SALESFORCE_USERNAME for the JWT login, or SALESFORCE_CLIENT_SECRET for client "
        "credentials; or SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN)"
    )


def _login_url(url: str | None, domain: str | None) -> tuple[str, str]:
    """The login URL and simple-salesforce's ``domain`` for the SOAP login, from
    ``SALESFORCE_LOGIN_URL`` or (older) ``SALESFORCE_DOMAIN`` (``login``, ``test``)."""
    if not url:
        domain = domain or "login"
        return f"https://{domain}.salesforce.com", domain
    parsed = urlparse(url if "://" in url else f"https://{url}")
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise SalesforceConfigError(
            f"SALESFORCE_LOGIN_URL '{url}' is not a URL (e.g. https://login.salesforce.com, "
            "https://test.salesforce.com or https://yourcompany.my.salesforce.com)"
        )
    host = parsed.netloc
    soap_domain = domain or host.removesuffix(".salesforce.com")
    return f"{parsed.scheme}://{host}", soap_domain


def _private_key(text: str | None, path: str | None) -> str | None:
    """The PEM private key from ``SALESFORCE_PRIVATE_KEY`` or the file
    ``SALESFORCE_PRIVATE_KEY_FILE`` names, checked to be an unencrypted private key."""
    name = "SALESFORCE_PRIVATE_KEY"
    if not text and path:
        name = "SALESFORCE_PRIVATE_KEY_FILE"
        try:
            text = Path(path).expanduser().read_text()
        except OSError as exc:
            raise SalesforceConfigError(
                f"SALESFORCE_PRIVATE_KEY_FILE '{path}' cannot be read ({exc.strerror or exc})"
            ) from exc
    if not text:
        return None
    text = text.replace("\\n", "\n")  # a PEM pasted into one line of a .env file
    try:
        load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SalesforceConfigError(
            f"{name} is not an unencrypted PEM private key (the key whose certificate is "
            f"uploaded to the connected app; {exc})"
        ) from exc
    return text


@dataclass(frozen=True)
class Token:
    """An access token and the instance it is for (``https://...my.salesforce.com``)."""

    access_token: str = field(repr=False)
    instance_url: str


def request_token(creds: Credentials, http: requests.Session, api_version: str) -> Token:
    """Log in with ``creds``' flow; a refusal raises :class:`SalesforceLoginError`."""
    if creds.flow == "token":
        return Token(creds.access_token or "", creds.instance_url or "")
    if creds.flow == "password":
        session_id, instance = SalesforceLogin(
            username=creds.username,
            password=creds.password,
            security_token=creds.security_token,
            domain=creds.domain,
            sf_version=api_version,
            session=http,
        )
        return Token(session_id, f"https://{instance}")
    if creds.flow == "jwt":
        claims = {
            "iss": creds.client_id,
            "sub": creds.username,
            "aud": creds.login_url,
            "exp": int(epoch_seconds()) + ASSERTION_LIFETIME,
        }
        assertion = jwt.encode(claims, creds.private_key or "", algorithm="RS256")
        form = {"grant_type": JWT_GRANT, "assertion": assertion}
    else:
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id or "",
            "client_secret": creds.client_secret or "",
        }
    response = http.post(creds.token_url, data=form, timeout=TOKEN_TIMEOUT)
    if response.status_code >= 500 or response.status_code == 429:
        response.raise_for_status()  # retried by the caller's policy
    body = _json(response)
    if response.status_code != 200 or not body.get("access_token"):
        raise login_problem(creds, response.status_code, body)
    return Token(str(body["access_token"]), str(body.get("instance_url") or creds.login_url))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


ADVICE: dict[str, str] = {
    "user hasn't approved this consumer": (
        "pre-authorize the integration user: in the connected app's policies set Permitted "
        "Users to 'Admin approved users are pre-authorized' and add the user's profile or "
        "permission set"
    ),
    "user is not admin approved to access this app": (
        "add the integration user's profile or permission set to the connected app's "
        "policies (Manage Profiles / Manage Permission Sets)"
    ),
    "invalid assertion": (
        "the JWT signature does not match the app's certificate: upload the certificate of "
        "the key in SALESFORCE_PRIVATE_KEY_FILE (or SALESFORCE_PRIVATE_KEY) to the app "
        "('Enable JWT Bearer Flow'; connected app: 'Use digital signatures')"
    ),
    "audience is invalid": (
        "set SALESFORCE_LOGIN_URL to https://login.salesforce.com, https://test.salesforce.com "
        "(sandbox) or the org's My Domain URL"
    ),
    "expired authorization code": "the assertion expired on arrival: check this machine's clock",
    "client identifier invalid": (
        "SALESFORCE_CLIENT_ID is not the consumer key of a connected app in this org (a new "
        "app can take up to 10 minutes to be usable; a sandbox needs "
        "SALESFORCE_LOGIN_URL=https://test.salesforce.com)"
    ),
    "invalid client credentials": (
        "SALESFORCE_CLIENT_SECRET is not the connected app's consumer secret: copy it again "
        "from the app's Consumer Key and Secret page"
    ),
    "no client credentials user enabled": (
        "enable the Client Credentials Flow in the connected app's policies and choose its "
        "Run As user"
    ),
    "request not supported on this domain": (
        "set SALESFORCE_LOGIN_URL to the org's My Domain URL "
        "(https://yourcompany.my.salesforce.com): client credentials are not accepted at "
        "login.salesforce.com or test.salesforce.com"
    ),
    "grant type not supported": (
        "enable the flow in the app ('Enable Client Credentials Flow', or 'Enable JWT Bearer "
        "Flow'; connected app: 'Use digital signatures')"
    ),
}
"""What the admin must change, for each ``error_description`` Salesforce's token endpoint
answers (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm)."""


def login_problem(creds: Credentials, status: int, body: Mapping[str, Any]) -> SalesforceLoginError:
    """The refusal in one line: which login failed, Salesforce's words, and what to change
    (``Salesforce JWT bearer login: refused (400 invalid_grant: ...). Pre-authorize ...``)."""
    call = f"{FLOW_NAMES[creds.flow]} login"
    code, description = body.get("error"), str(body.get("error_description") or "")
    if not code:
        return SalesforceLoginError(
            f"{creds.token_url} answered {status} without an OAuth error",
            "Check SALESFORCE_LOGIN_URL (the org's login or My Domain URL)",
            call=call,
        )
    advice = ADVICE.get(description.strip().lower())
    if advice is None:
        advice = (
            "check SALESFORCE_CLIENT_ID, SALESFORCE_USERNAME and the private key"
            if creds.flow == "jwt"
            else "check SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET and the app's Run As user"
        )
    said = f"{code}: {description}" if description else str(code)
    return SalesforceLoginError(f"refused ({status} {said})", advice[0].upper() + advice[1:],
                                call=call)


class TokenCache:
    """One token per set of credentials, shared by every client in the process.

    :meth:`get` logs in only when there is no token yet, or when the caller's token is the
    one that just expired (``stale``): a client whose token another thread already renewed
    gets the new one without a second login.
    """

    def __init__(self) -> None:
        self._tokens: dict[Credentials, Token] = {}
        self._lock = threading.Lock()

    def get(
        self, creds: Credentials, login: Callable[[], Token], *, stale: str | None = None
    ) -> Token:
        with self._lock:
            token = self._tokens.get(creds)
            if token is None or token.access_token == stale:
                token = login()
                self._tokens[creds] = token
            return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()
"""The process's tokens (a ``pulse serve`` keeps its login between writebacks)."""
