"""Slack user -> email lookups (cached users.info) and the app's construction from env."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.harness import TOKEN
from fakes.slack_api import FakeSlack
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from bot.app import MissingSetting, app_from_env, require_env
from bot.delivery import DEFAULT_API_URL, api_url, web_client
from bot.users import FAILURE_TTL_SECONDS, UserDirectory
from pulse.kernel.config import PulseConfig


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as f:
        f.add_user("U1", "ana@example.com", "Ana Silva")
        f.add_user("U2", None, "No Email")  # as when users:read.email is not granted
        yield f


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lookup_is_cached_for_the_ttl(fake: FakeSlack) -> None:
    clock = Clock()
    users = UserDirectory(web_client(TOKEN, fake.base_url), ttl_seconds=300, clock=clock)
    first = users.get("U1")
    assert (first.email, first.name) == ("ana@example.com", "Ana Silva")
    assert users.get("U1") == first
    assert len(fake.calls_to("users.info")) == 1
    clock.now += 301
    users.get("U1")
    assert len(fake.calls_to("users.info")) == 2


def test_missing_email_and_unknown_user(fake: FakeSlack) -> None:
    clock = Clock()
    users = UserDirectory(web_client(TOKEN, fake.base_url), ttl_seconds=300, clock=clock)
    assert users.get("U2").email is None
    unknown = users.get("U404")
    assert unknown.email is None and unknown.id == "U404"
    users.get("U404")
    assert len(fake.calls_to("users.info", ok_only=False)) == 2  # failure cached...
    clock.now += FAILURE_TTL_SECONDS + 1
    users.get("U404")
    assert len(fake.calls_to("users.info", ok_only=False)) == 3  # ...but only briefly


def test_ratelimited_users_info_is_retried(fake: FakeSlack) -> None:
    fake.fail_next("users.info", 1, "ratelimited", retry_after=1)
    users = UserDirectory(web_client(TOKEN, fake.base_url))
    assert users.get("U1").email == "ana@example.com"
    assert [c.status for c in fake.calls_to("users.info", ok_only=False)] == [429, 200]


def test_app_from_env_makes_no_call_at_start(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """App(token=...) would call auth.test on slack.com at construction; ours must not."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("SLACK_API_URL", fake.base_url.rstrip("/"))
    app = app_from_env(PulseConfig())
    assert fake.calls == []
    assert app.client.base_url == fake.base_url
    assert any(isinstance(h, RateLimitErrorRetryHandler) for h in app.client.retry_handlers)


def test_missing_variables_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    with pytest.raises(MissingSetting, match="SLACK_BOT_TOKEN"):
        app_from_env(PulseConfig())
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    with pytest.raises(MissingSetting, match="SLACK_SIGNING_SECRET"):
        app_from_env(PulseConfig())
    monkeypatch.setenv("SLACK_APP_TOKEN", "  ")
    with pytest.raises(MissingSetting, match="SLACK_APP_TOKEN"):
        require_env("SLACK_APP_TOKEN")


def test_default_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    assert api_url() == DEFAULT_API_URL == "https://slack.com/api/"
