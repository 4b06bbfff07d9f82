"""Failures a person running Pulse can fix, and how any failure reads in one line.

A connector raises (or wraps a library's exception in) a :class:`UserFacingError`: the
system, the call, what happened and what to do. Library exceptions that must keep their
own type inside a connector (a writeback that goes on after one refused batch) are
described instead by an *explainer* the connector registers with :func:`explainer`; so the
CLI, the services and what they store need to know no client library:
:func:`user_error` finds the words for an exception, :func:`one_line` is what is printed
and stored (tokens redacted, URL query strings dropped, cut to :data:`ERROR_LINE_CHARS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

ERROR_LINE_CHARS = 500
"""An error line is cut to this many characters (with an ellipsis) before it is printed
or stored: the sync report, pipeline steps and writeback outcomes keep one readable line,
never a library's dump of a whole response."""


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?" else text + "."


class UserFacingError(Exception):
    """An expected failure, worded for the person running Pulse.

    ``system`` ("Salesforce"), ``call`` ("Account query"), ``problem`` (what happened)
    and ``fix`` (what to do) read as ``Salesforce Account query: <problem>. <fix>``.
    ``system`` may be empty when ``call`` names it (the retry policy knows only the call,
    "Salesforce Account query"); a ``call`` that already starts with the system's name
    does not repeat it.
    """

    def __init__(self, system: str, call: str, problem: str, fix: str = "") -> None:
        self.system = system
        self.call = call
        self.problem = problem
        self.fix = fix
        super().__init__(self.line)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy rebuild from the four parts: subclasses take other arguments
        return (_rebuild, (type(self), self.system, self.call, self.problem, self.fix))

    @property
    def subject(self) -> str:
        """"Salesforce Account query": the system and the call, each once."""
        if self.call.lower().startswith(self.system.lower()):
            return self.call
        return f"{self.system} {self.call}".strip()

    @property
    def line(self) -> str:
        """The whole error in one line: ``<system> <call>: <problem>. <fix>``."""
        head = f"{self.subject}: " if self.subject else ""
        text = head + _sentence(self.problem)
        return f"{text} {_sentence(self.fix)}" if self.fix else text


def _rebuild(
    cls: type[UserFacingError], system: str, call: str, problem: str, fix: str
) -> UserFacingError:
    error = cls.__new__(cls)
    UserFacingError.__init__(error, system, call, problem, fix)
    return error


Explainer = Callable[[BaseException], UserFacingError | None]
EXPLAINERS: list[Explainer] = []
"""What connectors registered with :func:`explainer`, asked in order."""


def explainer(fn: Explainer, *, first: bool = False) -> Explainer:
    """Register ``fn``: it words the exceptions it knows (a library's), None for others.

    ``first`` puts it before the ones registered so far (a cause that overrides any
    library's wording, such as an untrusted TLS certificate)."""
    if fn in EXPLAINERS:
        return fn
    if first:
        EXPLAINERS.insert(0, fn)
    else:
        EXPLAINERS.append(fn)
    return fn


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def user_error(exc: BaseException) -> UserFacingError | None:
    """The words for ``exc``: itself or a cause when it is a :class:`UserFacingError`,
    else what a registered explainer says of it or a cause; None when it is unexpected."""
    for link in causes(exc):
        if isinstance(link, UserFacingError):
            return link
        for fn in EXPLAINERS:
            found = fn(link)
            if found is not None:
                return found
    return None


_KEYS = (r"(?:access_token|refresh_token|token|password|passwd|secret|client_secret|"
         r"api_key|apikey|session_?id|assertion)")
_SECRETS = (
    # "Authorization: Bearer xyz", "'Authorization': 'Basic xyz'", "Bearer xyz"
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(\w+\s+)?[^\s'\",}]+"),
     r"\1\2[redacted]"),
    (re.compile(r"(?i)\b(bearer)\s+[\w\-.~+/=!]+"), r"\1 [redacted]"),
    # key=value (forms, query strings) and "key": "value" (JSON, dict reprs)
    (re.compile(rf"(?i)(\b{_KEYS}=)[^\s&\"',}}]+"), r"\1[redacted]"),
    (re.compile(rf"(?i)([\"']{_KEYS}[\"']\s*:\s*[\"'])[^\"']+"), r"\1[redacted]"),
    (re.compile(r"(\b[a-z][\w+.-]*://[^:/\s@]+:)[^@\s/]+@"), r"\1[redacted]@"),  # URL password
    (re.compile(r"\b00D\w{12,15}![\w.\-]+"), "[redacted]"),  # Salesforce session id
    (re.compile(r"\b(?:sk|rk)_(?:live|test)_\w+"), "[redacted]"),  # Stripe secret key
    (re.compile(r"\bpat-\w{2,4}-[\w-]{20,}"), "[redacted]"),  # HubSpot private app token
    (re.compile(r"\bxox[abpr]-[\w-]+"), "[redacted]"),  # Slack token
)
_QUERY = re.compile(r"(https?://[^\s?#'\"]+)\?[^\s'\")]*")


def redact(text: str) -> str:
    """``text`` without credentials (tokens, passwords, keys) and without URL query
    strings (a Salesforce query URL carries the whole URL-encoded SOQL)."""
    text = _QUERY.sub(r"\1?...", text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def clip(text: str, limit: int = ERROR_LINE_CHARS) -> str:
    """``text`` on one line, redacted, and cut to ``limit`` characters."""
    text = redact(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def one_line(exc: BaseException) -> str:
    """What to print or store for ``exc``: its words (:func:`user_error`), or for an
    unexpected error its type and the first line of its message; always clipped."""
    found = user_error(exc)
    if found is not None:
        return clip(found.line)
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return clip(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
