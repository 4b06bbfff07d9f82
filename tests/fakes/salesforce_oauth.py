"""The fake Salesforce org's OAuth 2.0 token endpoint (``POST /services/oauth2/token``).

The JWT bearer grant is verified with the connected app's public key (RS256; ``iss`` the
consumer key, ``sub`` the pre-authorized user, ``aud`` the login URL posted to, ``exp`` not
passed and at most three minutes ahead), the client-credentials grant against the consumer
key and secret (on the My Domain host only); both answer ``access_token`` and
``instance_url`` (the instance listener's URL), and refusals are 400s with ``error`` /
``error_description`` as Salesforce words them
(https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm,
https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import jwt

from .https import Answer, Request

CONSUMER_KEY = "3MVG9fake.consumer-key"
CONSUMER_SECRET = "fake-consumer-secret"
INTEGRATION_USER = "pulse-integration@example.com"
ASSERTION_MAX_SECONDS = 180
"""Salesforce's limit on how far ahead a JWT assertion's ``exp`` may be."""


class TokenEndpoint:
    """Mixed into :class:`fakes.salesforce.FakeSalesforce`, whose fields these are."""

    valid_tokens: set[str]
    public_key: str | None
    token_requests: list[dict[str, Any]]
    tokens_issued: list[str]
    audiences: dict[str, str]

    @property
    def instance_url(self) -> str:
        raise NotImplementedError

    def _token(self, request: Request) -> Answer:
        host = request.host
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        self.token_requests.append({"host": host, **form})
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            audience = self.audiences.get(request.listener, f"https://{host}")
            refused = self._check_assertion(form.get("assertion", ""), audience)
        elif grant == "client_credentials":
            refused = self._check_client(form, request.listener)
        else:
            refused = ("unsupported_grant_type", "grant type not supported")
        if refused:
            code, description = refused
            return 400, {}, json.dumps({"error": code, "error_description": description})
        token = f"00Dfake!oauth-{len(self.tokens_issued) + 1}"
        self.tokens_issued.append(token)
        self.valid_tokens.add(token)
        answer = {
            "access_token": token,
            "instance_url": self.instance_url,
            "id": f"https://{host}/id/00Dfake000000001/005fake000000001",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "scope": "api",
        }
        return 200, {}, json.dumps(answer)

    def _check_assertion(self, assertion: str, audience: str) -> tuple[str, str] | None:
        """Salesforce's checks of a JWT bearer assertion, with its error words."""
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self.public_key or "",
                algorithms=["RS256"],
                audience=audience,
                options={"require": ["iss", "sub", "aud", "exp"], "verify_iss": False},
            )
        except jwt.InvalidAudienceError:
            return "invalid_grant", "audience is invalid"
        except jwt.ExpiredSignatureError:
            return "invalid_grant", "expired authorization code"
        except jwt.PyJWTError:
            return "invalid_grant", "invalid assertion"
        self.token_requests[-1]["claims"] = claims
        self.token_requests[-1]["header"] = header
        if claims["iss"] != CONSUMER_KEY:
            return "invalid_client_id", "client identifier invalid"
        if claims["exp"] > time.time() + ASSERTION_MAX_SECONDS + 5:
            return "invalid_grant", "invalid assertion"
        if claims["sub"] != INTEGRATION_USER:
            return "invalid_grant", "user hasn't approved this consumer"
        return None

    def _check_client(self, form: dict[str, str], listener: str) -> tuple[str, str] | None:
        """The client-credentials checks: My Domain only, known key, matching secret."""
        if listener != "instance":
            return "invalid_grant", "request not supported on this domain"
        if form.get("client_id") != CONSUMER_KEY:
            return "invalid_client_id", "client identifier invalid"
        if form.get("client_secret") != CONSUMER_SECRET:
            return "invalid_client", "invalid client credentials"
        return None

