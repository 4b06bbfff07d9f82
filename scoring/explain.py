"""Plain-words explanations of scores: top reasons, changes between runs, CLI breakdowns.

CSMs must be able to explain every number, so everything here works from what a snapshot
stores (component points, raw figures, detail text) and never recomputes the score:
:func:`explain_change` attributes a score change to components whose point changes add up
exactly to it (points are stored rounded to tenths and the score is their sum), including
the part caused by weights being renormalised when a component gained or lost data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pulse.kernel.tiers import tier_label
from scoring.components import (
    COMPONENT_KEYS,
    COMPONENT_LABELS,
    OPTIONAL_COMPONENTS,
    Combined,
    ComponentResult,
    as_number,
)
from scoring.learn.entries import LEARNED_KEY_PREFIX, MODEL_KEY, counted, model_provenance

MAX_NEGATIVE_REASONS = 4
"""Flags and weak components listed at most per account."""
MAX_POSITIVE_REASONS = 2
"""Strong components listed at most per account."""
MAX_MISSING_REASONS = 2
"""Components without data listed at most per account."""
NEGATIVE_BELOW = 0.5
"""A component below half marks is a reason against the account."""
POSITIVE_FROM = 0.8
"""A component at 80% or more is a reason for it."""
FLAG_STRENGTH = {"critical": 100.0, "warning": 15.0}
"""Flags rank among negatives as if they cost this many points (critical always first)."""

Snapshot = Any
"""A :class:`storage.models.ScoreSnapshot`, or any mapping with the same keys."""


# ---------------------------------------------------------------------------------------
# Top reasons (computed for every account when scoring)


CSM_GROUP, NEGATIVE_GROUP, POSITIVE_GROUP, MISSING_GROUP = -1, 0, 1, 2
"""Reason groups in the order they are listed (a CSM's judgement first)."""
GROUP_CAPS = {
    CSM_GROUP: 1,
    NEGATIVE_GROUP: MAX_NEGATIVE_REASONS,
    POSITIVE_GROUP: MAX_POSITIVE_REASONS,
    MISSING_GROUP: MAX_MISSING_REASONS,
}


def _candidates(
    account_ids: Any, group: int, strength: Any, texts: Sequence[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": account_ids,
            "group": group,
            "strength": strength,
            "text": np.array(texts, dtype=object),
        }
    )


def _component_candidates(
    key: str, res: ComponentResult, combined: Combined
) -> list[pd.DataFrame]:
    """One component's reasons: below half marks, at 80%+, or without data."""
    index = combined.values.index
    value = combined.values[key]
    eff = combined.effective_weights[key]
    has = combined.has_data[key]
    label = COMPONENT_LABELS[key]
    if key in OPTIONAL_COMPONENTS:
        # A CSM's judgement always leads the reasons when there is one (it is why a
        # number may disagree with the data); its absence is not worth a line.
        if not has.any():
            return []
        texts = [f"{label}: {d}" for d in res.detail[has].tolist()]
        return [_candidates(index[has.to_numpy()], CSM_GROUP, 0.0, texts)]
    lost = (1.0 - value) * eff * 100.0
    neg = has & (value < NEGATIVE_BELOW) & (eff > 0)
    pos = has & (value >= POSITIVE_FROM) & (eff > 0)
    parts = []
    for mask, group, strength in (
        (neg, NEGATIVE_GROUP, lost),
        (pos, POSITIVE_GROUP, combined.points[key]),
        (~has, MISSING_GROUP, pd.Series(0.0, index=index)),
    ):
        if not mask.any():
            continue
        if group == MISSING_GROUP:
            texts = [f"{label}: {t} (weight renormalised)" for t in res.detail[mask].tolist()]
        else:
            texts = [f"{label}: {t}" for t in res.reason_text[mask].tolist()]
        parts.append(
            _candidates(index[mask.to_numpy()], group, strength[mask].to_numpy(), texts)
        )
    return parts


def _top_per_account(cands: pd.DataFrame, index: pd.Index) -> pd.Series:
    """The ranked candidates, capped per group, as one list of texts per account."""
    cands = cands.sort_values(
        ["account_id", "group", "strength"], ascending=[True, True, False], kind="stable"
    )
    rank = cands.groupby(["account_id", "group"], sort=False).cumcount().to_numpy()
    cands = cands[rank < cands["group"].map(GROUP_CAPS).to_numpy()]
    ids = cands["account_id"].to_numpy()
    texts = cands["text"].to_numpy(dtype=object)
    uniq, starts = np.unique(ids, return_index=True)
    bounds = [*starts.tolist(), len(ids)]
    by_id = {int(a): texts[bounds[i] : bounds[i + 1]].tolist() for i, a in enumerate(uniq.tolist())}
    return pd.Series([by_id.get(int(a), []) for a in index], index=index, dtype=object)


def build_reasons(
    results: Mapping[str, ComponentResult],
    combined: Combined,
    flags: pd.DataFrame,
) -> pd.Series:
    """Top reasons per account: strongest negatives, then positives, then missing data.

    Negatives are flags (critical first) and components below half marks ranked by the
    points they lose; positives are components at 80%+ ranked by points earned; finally
    components without data, so a renormalised score is never presented silently.
    Vectorised: candidates are collected in one long frame, ranked, and split per account.
    """
    index = combined.values.index
    parts: list[pd.DataFrame] = []
    for key, res in results.items():
        if key in combined.values.columns:
            parts.extend(_component_candidates(key, res, combined))
    if not flags.empty:
        parts.append(
            _candidates(
                flags["account_id"].to_numpy(),
                NEGATIVE_GROUP,
                flags["severity"].map(FLAG_STRENGTH).to_numpy(),
                (flags["label"] + ": " + flags["detail"]).to_numpy(),
            )
        )
    if not parts:
        return pd.Series([[] for _ in index], index=index, dtype=object)
    return _top_per_account(pd.concat(parts, ignore_index=True), index)


# ---------------------------------------------------------------------------------------
# Snapshot access helpers


def _get(snapshot: Snapshot, key: str, default: Any = None) -> Any:
    if isinstance(snapshot, Mapping):
        return snapshot.get(key, default)
    return getattr(snapshot, key, default)


def _components(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in (_get(snapshot, "components") or []) if c["key"] != MODEL_KEY}


def _tenths(x: float | None) -> int:
    return 0 if x is None else int(round(float(x) * 10))


def _fmt_tenths(t: int, signed: bool = False) -> str:
    sign = "-" if t < 0 else ("+" if signed else "")
    t = abs(t)
    return f"{sign}{t // 10}.{t % 10}"


def _arrow(prev: Any, curr: Any, fmt: str = "{:.0f}") -> str | None:
    """ "a -> b" when both known and different after formatting."""
    p, c = as_number(prev), as_number(curr)
    if p is None and c is None:
        return None
    ps = "none" if p is None else fmt.format(p)
    cs = "none" if c is None else fmt.format(c)
    return None if ps == cs else f"{ps} -> {cs}"


def _pct(x: Any) -> float | None:
    v = as_number(x)
    return None if v is None else v * 100.0


def _value_phrase(key: str, prev: Mapping[str, Any], curr: Mapping[str, Any]) -> str | None:
    """What moved inside one component, from the raw figures of both snapshots."""
    p = prev.get("raw") or {}
    c = curr.get("raw") or {}
    if key.startswith(LEARNED_KEY_PREFIX):
        name = str(curr.get("label") or prev.get("label") or key[len(LEARNED_KEY_PREFIX):])
        was, now = p.get("bin"), c.get("bin")
        return f"{name} {was} -> {now}" if was and now and was != now else name
    bits: list[str] = []

    def add(label: str, a: Any, b: Any, fmt: str = "{:.0f}") -> None:
        arrow = _arrow(a, b, fmt)
        if arrow:
            bits.append(f"{label} {arrow}")

    if key == "seats":
        add("active seats", _pct(p.get("ratio")), _pct(c.get("ratio")), "{:.0f}%")
        if not bits:
            add("active users", p.get("active_users"), c.get("active_users"))
    elif key == "usage":
        add("active days per user", p.get("active_days_per_user"), c.get("active_days_per_user"))
        add(
            "value-weighted actions per active user",
            p.get("weighted_per_active_user_30d"),
            c.get("weighted_per_active_user_30d"),
        )
    elif key == "breadth":
        add("features used", p.get("features_used"), c.get("features_used"))
        add("core features used", p.get("core_features_used"), c.get("core_features_used"))
    elif key == "engagement":
        po = as_number(p.get("open_urgent_high")) or 0
        co = as_number(c.get("open_urgent_high")) or 0
        if co > po:
            bits.append(f"{co - po:.0f} new open urgent/high ticket{'s' if co - po != 1 else ''}")
        elif co < po:
            bits.append(f"{po - co:.0f} urgent/high ticket{'s' if po - co != 1 else ''} closed")
        add("NPS", p.get("nps_latest"), c.get("nps_latest"))
        add("CSAT", p.get("csat_avg"), c.get("csat_avg"), "{:.1f}")
        add("bad-rated tickets", p.get("bad_satisfaction_90d"), c.get("bad_satisfaction_90d"))
        add(
            "negative-sentiment tickets",
            p.get("negative_sentiment_90d"),
            c.get("negative_sentiment_90d"),
        )
    elif key == "contract":
        add("days overdue", p.get("max_days_overdue"), c.get("max_days_overdue"))
        if p.get("lifecycle") != c.get("lifecycle"):
            bits.append(f"{p.get('lifecycle')} -> {c.get('lifecycle')}")
        if _arrow(p.get("renewal_score"), c.get("renewal_score"), "{:.2f}"):
            add("days to renewal", p.get("days_to_renewal"), c.get("days_to_renewal"))
    elif key == "trend":
        add("activity trend", p.get("change_pct"), c.get("change_pct"), "{:+.0f}%")
    if bits:
        return ", ".join(bits)
    label = COMPONENT_LABELS.get(key, key).lower()
    arrow = _arrow(prev.get("value"), curr.get("value"), "{:.2f}")
    return f"{label} {arrow}" if arrow else None


# ---------------------------------------------------------------------------------------
# Change between two snapshots


EMPTY_COMPONENT: dict[str, Any] = {"points": 0.0, "has_data": False, "raw": {}, "value": None}
"""A component missing from one of the two snapshots."""


def _change_items(
    keys: Sequence[str],
    prev_c: Mapping[str, Mapping[str, Any]],
    curr_c: Mapping[str, Mapping[str, Any]],
    data_changed: Sequence[str],
) -> list[tuple[int, str]]:
    """Every component whose points changed, with its change in tenths, largest first."""
    items: list[tuple[int, str]] = []
    for key in keys:
        p = prev_c.get(key, EMPTY_COMPONENT)
        c = curr_c.get(key, EMPTY_COMPONENT)
        delta = _tenths(c.get("points")) - _tenths(p.get("points"))
        if delta == 0:
            continue
        label = str(c.get("label") or p.get("label") or COMPONENT_LABELS.get(key, key))
        label = label if key.startswith(LEARNED_KEY_PREFIX) else label.lower()
        if key in data_changed:
            if c.get("has_data"):
                phrase = f"{label} now has data ({c.get('detail')}), weights renormalised"
            else:
                phrase = f"{label} lost its data ({c.get('detail')}), weights renormalised"
        else:
            phrase = _value_phrase(key, p, c) or label
            pw, cw = as_number(p.get("effective_weight")), as_number(c.get("effective_weight"))
            if pw is not None and cw is not None and round(pw * 100) != round(cw * 100):
                phrase += f", weight {pw:.0%} -> {cw:.0%}"
                if data_changed:
                    phrase += " (weights renormalised)"
        items.append((delta, f"{phrase} ({_fmt_tenths(delta, signed=True)})"))
    items.sort(key=lambda it: -abs(it[0]))
    return items


def _data_lines(
    data_changed: Sequence[str],
    prev_c: Mapping[str, Mapping[str, Any]],
    curr_c: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """One line per component that gained or lost its data."""
    lines = []
    for key in data_changed:
        label = COMPONENT_LABELS.get(key, key)
        c = curr_c.get(key, EMPTY_COMPONENT)
        p = prev_c.get(key, EMPTY_COMPONENT)
        if c.get("has_data"):
            lines.append(f"{label} gained data; weights renormalised over the components with data")
        else:
            lines.append(
                f"{label} has no data now ({c.get('detail') or p.get('detail')}); "
                "weights renormalised over the components with data"
            )
    return lines


def _tier_and_flag_lines(prev_snapshot: Snapshot, curr_snapshot: Snapshot) -> list[str]:
    """The tier change, and the flags raised and cleared."""
    lines = []
    prev_tier, curr_tier = _get(prev_snapshot, "tier"), _get(curr_snapshot, "tier")
    if prev_tier and curr_tier and prev_tier != curr_tier:
        lines.append(f"Tier: {tier_label(prev_tier)} -> {tier_label(curr_tier)}")
    prev_flags = {f["code"]: f for f in (_get(prev_snapshot, "flags") or [])}
    curr_flags = {f["code"]: f for f in (_get(curr_snapshot, "flags") or [])}
    for code, f in curr_flags.items():
        if code not in prev_flags:
            lines.append(f"New flag: {f['label']} ({f['detail']})")
    for code, f in prev_flags.items():
        if code not in curr_flags:
            lines.append(f"Flag cleared: {f['label']}")
    return lines

def _method_change(prev_snapshot: Snapshot, curr_snapshot: Snapshot) -> str | None:
    """One line when the two snapshots were scored differently (the rules, a learned
    model, another learned model): their points do not compare input by input."""
    before = model_provenance(_get(prev_snapshot, "components"))
    after = model_provenance(_get(curr_snapshot, "components"))
    if before == after:
        return None
    prev_score = as_number(_get(prev_snapshot, "score"))
    curr_score = as_number(_get(curr_snapshot, "score"))
    scores = _arrow(prev_score, curr_score, "{:.1f}") or f"{curr_score or 0.0:.1f}"
    by = f"a learned model ({after})" if after else "the rules score"
    return f"{scores}: now scored with {by}; the points do not compare with the last snapshot's"


def explain_change(prev_snapshot: Snapshot, curr_snapshot: Snapshot) -> list[str]:
    """Why the score moved, as lines for a human.

    The first line reads like ``"78.0 -> 65.0: active seats 82% -> 51% (-9.0), 3 new open
    urgent/high tickets (-4.0)"``: every component whose points changed, largest first,
    and the numbers in brackets add up exactly to the score change. A component that gained
    or lost data, and the other components whose share of the weight changed because of
    it, say "weights renormalised". Further lines list data gained/lost, the tier change
    and flags raised or cleared.
    """
    method = _method_change(prev_snapshot, curr_snapshot)
    if method is not None:
        return [method, *_tier_and_flag_lines(prev_snapshot, curr_snapshot)]
    prev_c = _components(prev_snapshot)
    curr_c = _components(curr_snapshot)
    keys = [k for k in COMPONENT_KEYS if k in prev_c or k in curr_c]
    keys += [k for k in {**prev_c, **curr_c} if k not in keys]
    empty = EMPTY_COMPONENT
    prev_total = sum(_tenths(prev_c.get(k, empty).get("points")) for k in keys)
    curr_total = sum(_tenths(curr_c.get(k, empty).get("points")) for k in keys)
    data_changed = [
        k
        for k in keys
        if bool(prev_c.get(k, empty).get("has_data")) != bool(curr_c.get(k, empty).get("has_data"))
    ]
    items = _change_items(keys, prev_c, curr_c, data_changed)
    head = f"{_fmt_tenths(prev_total)} -> {_fmt_tenths(curr_total)}"
    lines = [head + (": " + ", ".join(t for _, t in items) if items else ": no change")]
    lines.extend(_data_lines(data_changed, prev_c, curr_c))
    lines.extend(_tier_and_flag_lines(prev_snapshot, curr_snapshot))
    return lines


# ---------------------------------------------------------------------------------------
# CLI breakdown


def render_breakdown(snapshot: Snapshot) -> list[str]:
    """Lines for a terminal: score and tier, one line per component, flags and outlook.

    A snapshot scored by a learned model lists its inputs' points (which add up to the
    score) and says how the model was learned; the rules components kept beside them
    count no points and are not listed.
    """
    stored = _get(snapshot, "components") or []
    comps = counted(stored)
    learned = model_provenance(stored)
    as_of = _get(snapshot, "as_of")
    as_of_text = as_of.isoformat() if isinstance(as_of, date) else str(as_of or "")
    score = as_number(_get(snapshot, "score"))
    lines = [
        f"Score {score:.1f}/100 ({tier_label(_get(snapshot, 'tier'))})"
        + (f" as of {as_of_text}" if as_of_text else "")
        if score is not None
        else "No score"
    ]
    if learned:
        lines.append(f"Learned score: {learned}.")
    head = "input" if learned else "component"
    width = max([16, *(len(str(c.get("label") or "")) for c in comps)]) if learned else 16
    lines.append(f"{head:<{width}} {'weight':>6} {'value':>6} {'points':>7}  detail")
    for c in comps:
        label = c.get("label") or COMPONENT_LABELS.get(str(c.get("key")), c.get("key"))
        eff = as_number(c.get("effective_weight")) or 0.0
        if c.get("has_data"):
            value = as_number(c.get("value"))
            value_text = "-" if value is None else f"{value:.2f}"
            if c.get("kind") == "learned":
                value_text = _learned_value(c.get("value"))
            weight_text = f"{eff:>6.0%}" if not learned else f"{'':>6}"
            detail = c.get("detail") or ""
            lines.append(
                f"{label:<{width}} {weight_text} {value_text:>6} "
                f"{c.get('points', 0.0):>7.1f}  {detail}"
            )
        else:
            detail = c.get("detail") or "no data"
            if "weight renormalised" not in detail:
                detail += "; weight renormalised"
            lines.append(f"{label:<{width}} {'-':>6} {'n/a':>6} {0.0:>7.1f}  no data: {detail}")
    total_t = sum(_tenths(c.get("points")) for c in comps)
    lines.append(f"{'total':<{width}} {'':>6} {'':>6} {_fmt_tenths(total_t):>7}")
    flags: Sequence[Mapping[str, Any]] = _get(snapshot, "flags") or []
    for f in flags:
        lines.append(f"[{f.get('severity')}] {f.get('label')}: {f.get('detail')}")
        lines.append(f"    -> {f.get('action')}")
    reasons: Sequence[str] = _get(snapshot, "reasons") or []
    if reasons:
        lines.append("Reasons: " + "; ".join(reasons))
    exp = as_number(_get(snapshot, "expansion_score"))
    if exp is not None:
        lines.append(f"Expansion score {exp:.1f}/100")
    risk = _get(snapshot, "renewal_risk")
    if risk:
        rs = as_number(_get(snapshot, "renewal_risk_score"))
        lines.append(f"Renewal risk {risk}" + (f" ({rs:.0f}/100)" if rs is not None else ""))
    return lines


def _learned_value(value: Any) -> str:
    """A learned input's value as read: a number to 4 figures, a category, or "-"."""
    if value is None:
        return "-"
    number = as_number(value)
    return f"{number:.4g}" if number is not None else str(value)
