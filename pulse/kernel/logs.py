"""How the long-running processes log: text or JSON lines, a level, and no secrets.

:func:`configure_logging` is called once by an entry point (``pulse serve``, ``pulse
scheduler``) with the ``logging`` section of the configuration (``PULSE_LOG_FORMAT`` and
``PULSE_LOG_LEVEL`` already applied by :func:`pulse.kernel.config.load_config`). Every
line goes to stderr through one handler that carries :class:`RedactingFilter`, so
whatever a library or a traceback says, a token, a signing secret or a password is
replaced by ``[REDACTED]`` before it is written.

A line that reports an outcome (a pipeline step, a sync, a webhook, an HTTP request)
passes ``extra={"outcome": ..., "duration": seconds, ...}``; the JSON format writes those
fields beside ``time``, ``level``, ``logger`` and ``message``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pulse.kernel.config import LoggingConfig

REDACTED = "[REDACTED]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

SECRET_PATTERNS = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),  # Slack bot/user/legacy tokens
    re.compile(r"xapp-[A-Za-z0-9-]+"),  # Slack app-level tokens (Socket Mode)
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+"),  # Stripe secret/restricted keys
    re.compile(r"\bwhsec_[A-Za-z0-9]+"),  # Stripe webhook signing secrets
    re.compile(r"\bpat-[a-z0-9]+-[A-Za-z0-9-]+"),  # HubSpot private app tokens
    re.compile(r"(?i)((?:password|passwd|pwd|secret|token|api_key)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"),
    re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"),  # the password of a URL (DATABASE_URL)
)
"""Shapes of secrets, whatever variable they came from; a group before the secret (e.g.
``password=``) is kept so the line still says what was hidden."""

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|_KEY$")
"""Environment variables whose values are secrets (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SALESFORCE_PASSWORD, STRIPE_API_KEY, ...): their values are hidden wherever they appear."""

QUIET_LOGGERS = {"apscheduler": logging.WARNING}
"""Libraries whose INFO lines say nothing an operator needs (APScheduler logs every job
it runs, every 15 s); they still log warnings and errors."""

MIN_SECRET_LENGTH = 6
"""Shorter values are not hidden word by word (a variable set to "1" would hide every 1)."""

STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName",
}


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The values of the secret environment variables, longest first."""
    values = {v.strip() for k, v in environ.items()
              if SECRET_NAME.search(k.upper()) and len(v.strip()) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, values: Iterable[str] = ()) -> str:
    """``text`` with every known secret value and every secret-shaped word hidden."""
    for value in values:
        text = text.replace(value, REDACTED)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: "".join(g or "" for g in m.groups()[:1]) + REDACTED
                           + "".join(g or "" for g in m.groups()[1:]), text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with :func:`redact`; it filters out
    nothing. Put on the handler, so records propagated from every logger pass through it.
    The secret values are read from the environment when the filter is made."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.values = secret_values(os.environ if environ is None else environ)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.values)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.values)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.values)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, any ``extra`` fields (``outcome``, ``duration`` ...), and ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def make_handler(config: LoggingConfig, stream: Any = None) -> logging.Handler:
    """A stderr handler (or ``stream``'s) in the configured format, redacting secrets."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(config: LoggingConfig, stream: Any = None) -> logging.Handler:
    """Route every logger through one redacting handler at the configured level
    (replacing the root logger's handlers); returns the handler."""
    handler = make_handler(config, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(level, logging.getLevelName(config.level)))
    return handler
