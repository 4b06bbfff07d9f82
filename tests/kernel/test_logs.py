"""Logging of the long-running processes: the ``logging`` section and its environment
overrides, JSON lines, and secrets hidden whatever logs them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse.kernel.config import ConfigError, LoggingConfig, load_config
from pulse.kernel.logs import REDACTED, configure_logging, redact, secret_values


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_logging_section_and_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "pulse.yml"
    path.write_text("logging:\n  format: json\n  level: WARNING\n")
    monkeypatch.delenv("PULSE_LOG_FORMAT", raising=False)
    monkeypatch.delenv("PULSE_LOG_LEVEL", raising=False)
    assert load_config(path).logging == LoggingConfig(format="json", level="WARNING")
    monkeypatch.setenv("PULSE_LOG_LEVEL", "debug")
    monkeypatch.setenv("PULSE_LOG_FORMAT", "TEXT")
    assert load_config(path).logging == LoggingConfig(format="text", level="DEBUG")


def test_a_bad_log_setting_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULSE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PULSE_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="PULSE_LOG_FORMAT='xml' is not one of: text, json"):
        load_config()
    monkeypatch.delenv("PULSE_LOG_FORMAT")
    (tmp_path / "pulse.yml").write_text("logging:\n  level: LOUD\n")
    with pytest.raises(ConfigError, match="logging.level"):
        load_config(tmp_path / "pulse.yml")


def test_json_lines_carry_level_message_and_extra_fields(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(LoggingConfig(format="json", level="INFO"), stream=out)
    log = logging.getLogger("pulse.test")
    log.debug("not written at INFO")
    log.info("sync %s ok in %.2fs", "hubspot", 1.5, extra={"outcome": "ok", "duration": 1.5})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "pulse.test"
    assert first["message"] == "sync hubspot ok in 1.50s"
    assert (first["outcome"], first["duration"]) == ("ok", 1.5)
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        ("token xoxb-1234-5678-abcdefABCDEF used", "xoxb-1234-5678-abcdefABCDEF"),
        ("socket xapp-1-A0-123-abcdef", "xapp-1-A0-123-abcdef"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("stripe key sk_live_51Habcdef0123", "sk_live_51Habcdef0123"),
        ("login?user=ana&password=hunter2&x=1", "hunter2"),
        ("db postgresql+psycopg://pulse:pa55word@db:5432/pulse", "pa55word"),
    ],
)
def test_secret_shapes_are_redacted(line: str, hidden: str) -> None:
    out = redact(line)
    assert hidden not in out and REDACTED in out


def test_secret_env_values_are_redacted_in_messages_and_tracebacks(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    monkeypatch.setenv("ZENDESK_API_TOKEN", "zd-plain-token-value")
    monkeypatch.setenv("PULSE_DEBUG", "1")  # short, and not a secret's name
    assert secret_values({"X_TOKEN": "abc"}) == []  # too short to hide word by word
    out = io.StringIO()
    configure_logging(LoggingConfig(format="text", level="INFO"), stream=out)
    log = logging.getLogger("pulse.test")
    log.warning("verifying with %s", "8f742231b10e8888abcd99yyyzzz85a5")
    try:
        raise RuntimeError("zendesk said no to zd-plain-token-value")
    except RuntimeError:
        log.exception("zendesk failed")
    text = out.getvalue()
    assert "8f742231b10e8888abcd99yyyzzz85a5" not in text
    assert "zd-plain-token-value" not in text
    assert text.count(REDACTED) >= 3
