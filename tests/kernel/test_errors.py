"""The one line an error is printed and stored as: system, call, problem, what to do;
no credentials, no URL-encoded query, never more than one line."""

from __future__ import annotations

import copy
import pickle

from pulse.kernel.errors import (
    ERROR_LINE_CHARS,
    UserFacingError,
    clip,
    one_line,
    redact,
    user_error,
)


def test_the_line_names_system_call_problem_and_fix_once() -> None:
    error = UserFacingError("Salesforce", "Account query", "403 INSUFFICIENT_ACCESS", "Grant it")
    assert error.line == "Salesforce Account query: 403 INSUFFICIENT_ACCESS. Grant it."
    assert str(error) == error.line
    repeated = UserFacingError("HubSpot", "HubSpot owners", "401 Unauthorized.", "")
    assert repeated.line == "HubSpot owners: 401 Unauthorized."
    assert UserFacingError("", "", "pulse.yml: bad\n  key").line == "pulse.yml: bad key."


def test_library_dumps_lose_the_query_and_the_credentials() -> None:
    dump = (
        "Malformed request https://acme.my.salesforce.com/services/data/v59.0/query/"
        "?q=SELECT%20Id%2C%20Name%20FROM%20Account Response content: [{'errorCode': "
        "'MALFORMED_QUERY'}] {'Authorization': 'Bearer 00D5g000004SxYz!AQ4AQH.abc', "
        "'password': 'hunter2'} access_token=abc123&x=1 sk_live_51Hxyz pat-na1-1234abcd-"
        "aaaa-bbbb-cccc-1234567890ab"
    )
    clean = redact(dump)
    assert "%20" not in clean and "SELECT" not in clean
    assert "/services/data/v59.0/query/?..." in clean
    for secret in ("00D5g000004SxYz", "AQ4AQH", "hunter2", "abc123", "sk_live", "pat-na1"):
        assert secret not in clean, secret
    assert "'Authorization': 'Bearer [redacted]'" in clean
    assert redact("postgresql+psycopg://pulse:s3cret@db:5432/pulse refused") == (
        "postgresql+psycopg://pulse:[redacted]@db:5432/pulse refused")
    # words that only look like keys stay
    assert redact("unexpected token: FROM") == "unexpected token: FROM"


def test_an_unexpected_error_is_its_type_and_first_line_clipped() -> None:
    error = RuntimeError("boom\nHTTP response headers: HTTPHeaderDict({'x': 'y'})")
    assert one_line(error) == "RuntimeError: boom"
    assert user_error(error) is None
    long = clip("x" * (ERROR_LINE_CHARS * 2))
    assert len(long) == ERROR_LINE_CHARS and long.endswith("...")


def test_the_words_of_a_cause_are_used() -> None:
    try:
        try:
            raise UserFacingError("Zendesk", "tickets", "HTTP 503", "Try later")
        except UserFacingError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert one_line(outer) == "Zendesk tickets: HTTP 503. Try later."


class _SourceError(UserFacingError):
    def __init__(self, problem: str, fix: str = "", call: str = "") -> None:
        super().__init__("Source", call, problem, fix)


def test_an_error_survives_pickle_and_copy_whatever_its_arguments() -> None:
    error = _SourceError("HTTP 500", "Try later", call="tickets")
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(again) is _SourceError and again.line == "Source tickets: HTTP 500. Try later."
