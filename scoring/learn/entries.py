"""How a snapshot scored by a learned model stores its explanation (no database, no
fitting: read by the card and ``pulse explain``).

A learned snapshot's ``components`` list holds one entry per input (key
``learned:<input>``, kind ``learned``; their points add up to the score), the rules
components kept for their figures (``counted: false``, no points) and one entry naming
the model (key :data:`MODEL_KEY`, its provenance as ``detail``). Written by
:mod:`scoring.learn.live`.
"""

from __future__ import annotations

from typing import Any

LEARNED_KEY_PREFIX = "learned:"
"""Component entries of a learned score are keyed ``learned:<input>``."""
MODEL_KEY = "learned_model"
"""The component entry that names the model a snapshot was scored with."""


def model_provenance(components: Any) -> str | None:
    """The provenance stored in a snapshot's components, if a learned model scored it."""
    for entry in components or []:
        if isinstance(entry, dict) and entry.get("key") == MODEL_KEY:
            return str(entry.get("detail") or "")
    return None


def counted(components: Any) -> list[dict[str, Any]]:
    """The entries whose points make up the score (rules entries kept beside a learned
    score, and the model's own entry, count none)."""
    return [e for e in components or [] if isinstance(e, dict) and e.get("counted", True)]
