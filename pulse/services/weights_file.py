"""Writing suggested signal weights into ``pulse.yml`` without disturbing the rest of it.

People comment their ``pulse.yml`` (why a threshold is what it is, who asked for a
playbook), so ``pulse tune --write`` edits only the values under ``scoring.weights``,
line by line, keeping every other line, comment and key order. The edited text must
parse to exactly the old configuration with the new weights; when the file is laid out
in a way the line edit does not understand (flow-style ``scoring: {...}``, anchors...)
the whole file is re-dumped from its parsed data instead: every key and value is kept,
comments and formatting are not, and the caller says so. The new file is validated
before it replaces the old one, and replaced atomically.

When no ``pulse.yml`` exists, ``--write`` creates one holding only the weights (every
other setting keeps its default), at the path Pulse would read it from.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pulse.kernel.config import DEFAULT_CONFIG_PATH, ConfigError, parse_config
from scoring.components import COMPONENT_KEYS

_TOP_SCORING = re.compile(r"^scoring\s*:\s*(#.*)?$")
_KEY_LINE = re.compile(
    r"^(?P<indent>[ ]+)(?P<q>[\"']?)(?P<key>[A-Za-z_][\w-]*)(?P=q)(?P<sep>\s*:)"
    r"(?P<gap>\s*)(?P<value>[^#]*?)(?P<comment>\s+#.*)?$"
)


@dataclass(frozen=True)
class WriteOutcome:
    """What ``write_weights`` did, for the CLI to tell the user."""

    path: Path
    created: bool
    comments_kept: bool


def config_path() -> Path:
    """The file Pulse reads its configuration from (same rule as ``load_config``)."""
    return Path(os.environ.get("PULSE_CONFIG", DEFAULT_CONFIG_PATH))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, parent_indent: int) -> int:
    """Index after the last line belonging to the block opened at ``start``."""
    end = start + 1
    last = start + 1
    while end < len(lines):
        line = lines[end]
        if not _blank_or_comment(line):
            if _indent(line) <= parent_indent:
                break
            last = end + 1
        end += 1
    return last


def edit_weights_text(text: str, weights: Mapping[str, float]) -> str | None:
    """``text`` with ``scoring.weights`` set to ``weights``, or None if the layout is odd."""
    lines = text.splitlines()
    ordered = [(k, weights[k]) for k in COMPONENT_KEYS if k in weights]
    scoring_at = next((i for i, line in enumerate(lines) if _TOP_SCORING.match(line)), None)
    if scoring_at is None:
        if any(re.match(r"^scoring\s*:", line) for line in lines):
            return None  # flow style or something else on the line
        block = ["scoring:", "  weights:", *(f"    {k}: {_number(v)}" for k, v in ordered)]
        sep = [""] if lines and lines[-1].strip() else []
        return "\n".join([*lines, *sep, *block]) + "\n"
    end = _block_end(lines, scoring_at, 0)
    children = [i for i in range(scoring_at + 1, end) if not _blank_or_comment(lines[i])]
    child_indent = _indent(lines[children[0]]) if children else 2
    weights_at = next(
        (
            i
            for i in children
            if _indent(lines[i]) == child_indent
            and (m := _KEY_LINE.match(lines[i])) is not None
            and m["key"] == "weights"
        ),
        None,
    )
    pad = " " * child_indent
    if weights_at is None:
        block = [f"{pad}weights:", *(f"{pad}{pad}{k}: {_number(v)}" for k, v in ordered)]
        return "\n".join([*lines[: scoring_at + 1], *block, *lines[scoring_at + 1 :]]) + "\n"
    head = _KEY_LINE.match(lines[weights_at])
    assert head is not None
    if head["value"].strip():
        return None  # flow mapping or an alias: leave it to the full re-dump
    w_end = _block_end(lines, weights_at, child_indent)
    entries = [i for i in range(weights_at + 1, w_end) if not _blank_or_comment(lines[i])]
    inner = _indent(lines[entries[0]]) if entries else child_indent * 2
    remaining = dict(ordered)
    out = list(lines)
    for i in entries:
        match = _KEY_LINE.match(lines[i])
        if match is None or _indent(lines[i]) != inner:
            return None
        key = match["key"]
        if key in remaining:
            value = _number(remaining.pop(key))
            out[i] = (
                f"{match['indent']}{match['q']}{key}{match['q']}{match['sep']}"
                f"{match['gap'] or ' '}{value}"
                f"{match['comment'] or ''}"
            )
    insert_at = entries[-1] + 1 if entries else weights_at + 1
    added = [f"{' ' * inner}{k}: {_number(v)}" for k, v in remaining.items()]
    out[insert_at:insert_at] = added
    return "\n".join(out) + "\n"


def _expected(data: dict[str, Any], weights: Mapping[str, float]) -> dict[str, Any]:
    new = copy.deepcopy(data)
    scoring = new.setdefault("scoring", {})
    if not isinstance(scoring, dict):
        raise ConfigError("key 'scoring' is not a mapping; cannot set its weights")
    current = scoring.get("weights") or {}
    scoring["weights"] = {**current, **{k: weights[k] for k in weights}}
    return new


def write_weights(weights: Mapping[str, float], path: Path | None = None) -> WriteOutcome:
    """Set ``scoring.weights`` in ``path`` (default :func:`config_path`); see the module."""
    path = path or config_path()
    created = not path.exists()
    text = "" if created else path.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    expected = _expected(data, weights)
    parse_config(expected, str(path))  # refuse to write a file Pulse would not start with
    if created:
        header = "# Pulse configuration (see pulse.example.yml). Weights written by `pulse tune`.\n"
        new_text: str | None = header + (edit_weights_text("", weights) or "")
    else:
        new_text = edit_weights_text(text, weights)
    comments_kept = True
    if new_text is None or _safe_load(new_text) != expected:
        new_text = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)
        comments_kept = created or "#" not in text
    replace_atomically(path, new_text)
    return WriteOutcome(path=path, created=created, comments_kept=comments_kept)


def _safe_load(text: str) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None


def replace_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, keeping the file's permissions."""
    directory = path.resolve().parent
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
