"""`/health NAME sentiment red "why" --until DATE`, `override 45 "why"`, `sentiment clear`.

Thin: parse, call :mod:`pulse.services.overrides`, answer with its builder.
"""

from __future__ import annotations

import re
from datetime import date

from slack_bolt import Respond

from bot.context import BotContext, notice
from digests.override_blocks import USAGE, override_reply
from pulse.services import overrides
from pulse.services.overrides import SENTIMENTS, OverrideRequest

_Q = "\"“”'‘’"
_SYNTAX = re.compile(
    rf"^(?P<account>.+?)\s+(?P<verb>sentiment|override)\s+(?P<value>[^\s{_Q}]+)"
    rf"(?:\s+[{_Q}](?P<why>[^{_Q}]*)[{_Q}])?"
    r"(?:\s+--until\s+(?P<until>\S+))?\s*$",
    re.IGNORECASE,
)
_VERB = re.compile(r"\s(sentiment|override)(\s|$)", re.IGNORECASE)


def is_override(text: str) -> bool:
    return bool(_VERB.search(" ".join(text.split())))


def parse_override(text: str) -> OverrideRequest:
    """The request typed after ``/health``; ValueError naming what is wrong otherwise."""
    match = _SYNTAX.match(" ".join(text.split()))
    if match is None:
        raise ValueError(USAGE)
    account = match.group("account").strip()
    verb = match.group("verb").lower()
    value = match.group("value").lower()
    until_text = match.group("until")
    until = None
    if until_text:
        try:
            until = date.fromisoformat(until_text)
        except ValueError:
            raise ValueError(f"--until '{until_text}' is not a date (YYYY-MM-DD).") from None
    why = match.group("why")
    if value == "clear":
        return OverrideRequest(query=account, kind="clear")
    if verb == "sentiment":
        if value not in SENTIMENTS:
            raise ValueError(f"'{value}' is not a sentiment: use green, yellow, red or clear.")
        return OverrideRequest(account, "sentiment", sentiment=value, reason=why, until=until)
    try:
        score = float(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a score: use a number from 0 to 100.") from None
    if not 0 <= score <= 100:
        raise ValueError(f"{value} is outside 0-100.")
    return OverrideRequest(account, "score", score=score, reason=why, until=until)


def handle_override(ctx: BotContext, user_id: str, text: str, respond: Respond) -> None:
    try:
        request = parse_override(text)
    except ValueError as exc:
        respond(**notice(str(exc)), response_type="ephemeral")
        return
    with ctx.session() as session:
        viewer = ctx.viewer(session, user_id)
        try:
            reply = overrides.apply_request(session, ctx.config, viewer, request, ctx.clock())
        except PermissionError as exc:
            respond(**notice(str(exc)), response_type="ephemeral")
            return
    respond(**override_reply(reply), response_type="ephemeral")
