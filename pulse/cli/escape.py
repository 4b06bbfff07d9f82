"""Text from the data, made safe for the terminal: the one place CLI views escape it.

Account, owner and contact names, reasons, feature names and errors come from sources
anyone may edit. Printed as they are, ``Rich [/] Close`` crashes rich's markup parser
(``MarkupError``), ``[link=https://evil]`` becomes a link, and raw control characters
(an ANSI ``ESC[...`` sequence, a carriage return, a bidi override) rewrite what the
terminal shows. Every CLI view prints such text through :func:`term` (inside markup)
or :func:`plain` (with ``markup=False``). Slack has its own owner: :mod:`digests.text`.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape as escape_markup

_BREAKS = re.compile(r"[\t\n\r\v\f]+")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0 and C1 control characters (ESC among them), DEL, and the bidi marks and overrides
that reorder what a terminal shows."""


def plain(text: Any) -> str:
    """``text`` on one line, without control characters: for ``markup=False`` prints."""
    return _CONTROL.sub("", _BREAKS.sub(" ", str(text)))


def term(text: Any) -> str:
    """``text`` as literal words inside rich markup: no control characters, no tags."""
    return escape_markup(plain(text))
