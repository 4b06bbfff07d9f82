"""Scoring engine: signals -> components -> score, flags, outlook -> snapshots.

Public API:

* :func:`score_accounts` computes the scores of every live account as of a date and
  returns them as a DataFrame (nothing is written); given a run's cached workspace
  figures (:mod:`scoring.figures`) it can score some accounts only, as that run would;
* :func:`run_scoring` computes and persists one :class:`~storage.models.ScoreSnapshot`
  per account for that date (re-running the same date replaces that date's snapshots);
* :func:`persist_snapshots_for` replaces the snapshots of some accounts only, from a
  workspace-wide :func:`score_accounts` (live rescoring, :mod:`pulse.jobs.live.rescore`);
* :func:`latest_snapshots` and :func:`previous_snapshot` read snapshots back for the CLI;
* :func:`score_signals` is the pure core, usable on hand-built signals in tests.

Everything after the SQL aggregation is vectorised pandas/numpy; per-account Python is
limited to building the lists stored (packed) in snapshots.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from math import isnan
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pulse.kernel.clock import utcnow
from pulse.kernel.collector import collector_paused
from pulse.kernel.config import PulseConfig, ScoringConfig
from pulse.kernel.tiers import HEALTH_TIERS, tier_label
from scoring.components import (
    COMPONENT_KEYS,
    ComponentResult,
    apply_score_overrides,
    combine,
    component_entries,
    compute_components,
    pinned_scores,
    usage_baselines,
)
from scoring.explain import build_reasons
from scoring.figures import PeerTable, WorkspaceFigures, save_figures
from scoring.flags import (
    INSUFFICIENT_DATA,
    absent_core_features,
    compute_flags,
    core_feature_warning,
    flags_by_account,
)
from scoring.learn.inputs import SIGNAL_COUNTS
from scoring.learn.live import (
    LearnedModel,
    LearnedScore,
    account_attributes,
    apply_model,
    learned_entries,
    model_entry,
    rules_entries_for_reference,
)
from scoring.learn.reasons import learned_reasons
from scoring.outlook import expansion, renewal_risk
from scoring.peers import PEER_KEYS, peer_groups, peer_values, percentiles, percentiles_among
from scoring.signals import Signals, load_signals
from storage.models import Account, ScoreSnapshot
from storage.models.snapshots import detach_dependents
from storage.snapshot_copy import (
    SNAPSHOT_COLUMNS,
    SNAPSHOT_COMPONENTS_COLUMNS,
    SNAPSHOT_FLOAT_COLUMNS,
    SNAPSHOT_PACKED_COLUMNS,
    driver_date,
    driver_dates,
    insert_snapshot_rows,
    packed,
)
from storage.snapshot_keyframes import keyframes, pack_explanations


@dataclass(frozen=True)
class ScoringRunSummary:
    """What one scoring run did, for logs, the CLI and the audit log."""

    as_of: date
    accounts: int
    tiers: dict[str, int]
    flags_raised: int
    duration_seconds: float
    computed_at: datetime
    flag_counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    model: str | None = None
    """The learned model's provenance when it scored, else None (the rules score)."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know about this run (an empty at-risk tier, absent data)."""

    def __str__(self) -> str:
        tiers = ", ".join(f"{tier_label(t)} {self.tiers.get(t, 0)}" for t in HEALTH_TIERS)
        by = f"learned model ({self.model})" if self.model else "rules score"
        lines = [
            f"Scored {self.accounts} accounts as of {self.as_of} with the {by} ({tiers}); "
            f"{self.flags_raised} flags raised in {self.duration_seconds:.1f}s"
        ]
        return "\n".join([*lines, *self.warnings])


EMPTY_AT_RISK = (
    "0 accounts at risk: thresholds may not fit this workspace; see pulse tune "
    "(docs/scoring.md)"
)
"""Said whenever a run with scored accounts puts none at risk (never silent)."""


def run_warnings(valid: pd.DataFrame, meta_warnings: Sequence[str]) -> list[str]:
    """The run's warnings: the workspace's (core features absent from the usage data),
    and an empty at-risk tier."""
    out = list(meta_warnings)
    if len(valid) and not (valid["tier"] == "at_risk").any():
        out.append(EMPTY_AT_RISK)
    return out


def _scoring_config(config: PulseConfig | ScoringConfig) -> ScoringConfig:
    return config if isinstance(config, ScoringConfig) else config.scoring


def score_signals(
    signals: Signals,
    config: PulseConfig | ScoringConfig,
    learned: Learned | None = None,
) -> pd.DataFrame:
    """Pure scoring of already-aggregated signals; one row per account
    (:func:`score_with_figures` without figures)."""
    return score_with_figures(signals, config, learned)[0]


def score_with_figures(
    signals: Signals,
    config: PulseConfig | ScoringConfig,
    learned: Learned | None = None,
    figures: WorkspaceFigures | None = None,
) -> tuple[pd.DataFrame, WorkspaceFigures]:
    """Pure scoring of already-aggregated signals; one row per account, and the
    workspace-relative figures it was scored against.

    Without ``figures`` they are derived from the accounts of ``signals`` (the whole
    workspace in a full run). With a run's ``figures`` (:mod:`scoring.figures`; their
    workspace facts are then ``signals.meta``), every account is scored against them,
    so its row does not depend on which other accounts are in ``signals``.

    With ``learned`` (a stored model and the account fields it reads), the score, tier
    and components are the model's (:mod:`scoring.learn.live`): one component entry per
    input whose points add up to the score, the rules components kept beside them for
    their figures (counting no points), and an entry naming the model; the reasons are the
    inputs that cost or earned the most points. Flags, expansion and renewal risk stay
    the rules'. Without it, an account flagged ``insufficient_data`` (contract data
    alone) is never ``healthy`` (``fine`` at best).

    Columns: ``account_id``, ``account_name``, ``owner_id``, ``arr``, ``score``, ``tier``,
    ``components``, ``flags``, ``reasons``, ``expansion_score``, ``expansion_reasons``,
    ``renewal_risk``, ``renewal_risk_score``, ``renewal_reasons``, ``days_to_renewal``,
    ``prev_score``, ``score_change``, ``flag_codes``, then ``value_<component>`` and
    ``points_<component>`` for each component. Accounts with no component that has data
    get ``score`` NaN and tier ``no_data`` (they are not persisted).

    The cyclic garbage collector is paused meanwhile (:func:`collector_paused`).
    """
    with collector_paused():
        return _score_with_figures(signals, _scoring_config(config), learned, figures)


def _score_with_figures(
    signals: Signals,
    cfg: ScoringConfig,
    learned: Learned | None,
    figures: WorkspaceFigures | None,
) -> tuple[pd.DataFrame, WorkspaceFigures]:
    weights = cfg.weights.model_dump()
    frame = signals.frame
    results = compute_components(signals, cfg)
    peers = add_peer_percentiles(results, frame, figures.peers if figures else None)
    values = pd.DataFrame({k: r.value for k, r in results.items()}, index=frame.index)
    combined = combine(values, weights, figures.thresholds if figures else cfg.tiers)
    if figures is None:
        meta = replace(signals.meta, usage_baselines=usage_baselines(signals))
        figures = WorkspaceFigures(meta=meta, peers=peers, thresholds=combined.thresholds)
    apply_score_overrides(combined, signals)
    flags = compute_flags(signals, combined.score, cfg)
    entries = component_entries(results, combined, weights)
    score, tier = combined.score, combined.tier
    if thin := _contract_only(flags):
        tier = tier.where(~(tier.index.isin(thin) & (tier == "healthy")), "fine")
    by_model = None
    if learned is not None:
        by_model = _scored_by_model(learned, signals, values, flags, entries, cfg,
                                    results["csm"].detail)
        score, tier, flags = by_model.score, by_model.tier, by_model.flags
        entries = by_model.entries
    exp = expansion(signals, results, combined, cfg)
    risk = renewal_risk(signals, results, combined, flags, cfg)
    reasons = by_model.reasons if by_model else build_reasons(results, combined, flags)
    flag_lists = flags_by_account(flags, frame.index)

    out = pd.DataFrame(index=frame.index)
    out["account_id"] = frame.index.to_numpy()
    out["account_name"] = frame["account_name"]
    out["owner_id"] = frame["owner_id"]
    out["arr"] = frame["arr"]
    out["score"] = score
    out["tier"] = tier
    out["components"] = pd.Series(entries, index=frame.index, dtype=object)
    out["flags"] = flag_lists
    out["reasons"] = reasons
    out = out.join(exp).join(risk)
    out["days_to_renewal"] = results["contract"].raw["days_to_renewal"]
    out["prev_score"] = frame["prev1_score"]
    out["score_change"] = (score - frame["prev1_score"]).round(1)
    out["flag_codes"] = pd.Series(
        [[f["code"] for f in fl] for fl in flag_lists], index=frame.index, dtype=object
    )
    for key in COMPONENT_KEYS:
        out[f"value_{key}"] = combined.values[key]
        out[f"points_{key}"] = combined.points[key].where(combined.has_data[key], 0.0)
    return out.reset_index(drop=True), figures


def _contract_only(flags: pd.DataFrame) -> list[int]:
    """Accounts flagged as scored on contract data alone: never healthy on the rules."""
    if flags.empty:
        return []
    return flags.loc[flags["code"] == INSUFFICIENT_DATA, "account_id"].astype("int64").tolist()


@dataclass(frozen=True)
class Learned:
    """A stored model to score with, and the account fields it may read."""

    model: LearnedModel
    attributes: pd.DataFrame
    """:func:`scoring.learn.live.account_attributes` of the workspace."""


@dataclass(frozen=True)
class _ByModel:
    """What the learned model decides for every account (index: account id)."""

    score: pd.Series
    tier: pd.Series
    flags: pd.DataFrame
    entries: list[list[dict[str, Any]]]
    reasons: pd.Series
    """From the model's points (:mod:`scoring.learn.reasons`), not the rules'."""


def _scored_by_model(
    learned: Learned,
    signals: Signals,
    values: pd.DataFrame,
    flags: pd.DataFrame,
    rules: list[list[dict[str, Any]]],
    cfg: ScoringConfig,
    csm_detail: pd.Series,
) -> _ByModel:
    """Score, tier, flags, component entries and reasons under the learned model.

    A CSM's score override pins the learned score as it pins the rules': the rules'
    ``csm`` entry then counts the difference (override minus the model's score), so the
    points still add up to the score, and the override leads the reasons."""
    lscore = apply_model(learned.model, signals.frame, values, flags,
                         signals.meta.windows.as_of, learned.attributes)
    pinned = pinned_scores(signals.frame).where(lscore.health.notna())
    adjust = (pinned - lscore.health).round(1)
    health = pinned.fillna(lscore.health)
    tier = lscore.tier.where(pinned.isna(), learned.model.tiers(health))
    reasons = learned_reasons(lscore.points, lscore.most, lscore.bins, lscore.values)
    if pinned.notna().any():
        lead = ("CSM: " + csm_detail).where(pinned.notna())
        reasons = pd.Series([[why, *rest] if isinstance(why, str) else rest
                             for why, rest in zip(lead, reasons, strict=True)],
                            index=reasons.index, dtype=object)
    return _ByModel(
        score=health,
        tier=tier,
        # the score-drop flag follows the score shown
        flags=_read_by_model(compute_flags(signals, health, cfg), lscore.values),
        entries=_learned_components(lscore, rules, learned.model, adjust),
        reasons=reasons,
    )


def _read_by_model(flags: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``flags`` without "insufficient data" where the model read a value for the account.

    The flag warns that the rules score rests on contract data alone; a learned model
    whose inputs (account fields, tenure, days to renewal...) have values for the account
    was judged on held-out data with those very inputs, so the warning would be wrong
    there. Counts do not count (they are zero when nothing happened, as when there is no
    usage data at all): the flag stays on accounts where the model read nothing else.
    """
    if flags.empty:
        return flags
    known = values.drop(columns=[c for c in values.columns if c in SIGNAL_COUNTS])
    read = known.index[known.notna().any(axis=1)]
    drop = (flags["code"] == INSUFFICIENT_DATA) & flags["account_id"].isin(read)
    return flags.loc[~drop].reset_index(drop=True)


def _learned_components(
    lscore: LearnedScore,
    rules: list[list[dict[str, Any]]],
    model: LearnedModel,
    pinned_by: pd.Series,
) -> list[list[dict[str, Any]]]:
    """The model's entries, the rules' kept for reference, the model's own; where a CSM
    pinned the score (``pinned_by``: override minus the model's score, else NaN) the
    rules' ``csm`` entry counts that difference."""
    head = model_entry(model)
    out = []
    for mine, theirs, by in zip(learned_entries(lscore), rules, pinned_by.tolist(),
                                strict=True):
        kept = rules_entries_for_reference(theirs)
        if not isnan(by):  # pinned
            kept = [e | {"points": by, "counted": True} if e["key"] == "csm" else e
                    for e in kept]
        out.append([*mine, *kept, head])
    return out


def add_peer_percentiles(
    results: dict[str, ComponentResult], frame: pd.DataFrame, stored: PeerTable | None = None
) -> PeerTable:
    """Put each usage component's peer percentile into its raw figures (and so into the
    snapshot), where the card and the App Home read it; ranked among the accounts of
    ``frame``, or among a run's ``stored`` peer values. Returns the values ranked among."""
    groups = peer_groups(frame["segment"], frame["licensed_seats"])
    table: PeerTable = {}
    for key in PEER_KEYS:
        res = results.get(key)
        if res is None:
            continue
        if stored is None:
            table[key] = peer_values(res.value, groups)
            peers = percentiles(res.value, groups)
        else:
            table[key] = stored.get(key, {})
            peers = percentiles_among(res.value, groups, table[key])
        res.raw = res.raw.assign(
            peer_pct=peers["peer_pct"].round(0),
            peer_group=peers["peer_group"].where(peers["peer_pct"].notna(), None),
            peers=peers["peers"],
        )
    return table


def score_accounts(
    session: Session,
    config: PulseConfig | ScoringConfig,
    as_of: date,
    model: LearnedModel | None = None,
    *,
    figures: WorkspaceFigures | None = None,
    only: Collection[int] | None = None,
) -> pd.DataFrame:
    """Score every account alive on ``as_of`` from data dated on or before it; no writes.

    With ``model`` (``pulse tune --write``'s, read by the caller) the score is the model's.
    With a run's ``figures`` of ``as_of`` (:mod:`scoring.figures`), accounts are scored
    against them, and ``only`` limits the scoring to those accounts (live rescoring).
    """
    return score_accounts_with_figures(session, config, as_of, model, figures=figures,
                                       only=only)[0]


def score_accounts_with_figures(
    session: Session,
    config: PulseConfig | ScoringConfig,
    as_of: date,
    model: LearnedModel | None = None,
    *,
    figures: WorkspaceFigures | None = None,
    only: Collection[int] | None = None,
) -> tuple[pd.DataFrame, WorkspaceFigures]:
    """:func:`score_accounts`, and the workspace figures the accounts were scored against."""
    cfg = _scoring_config(config)
    if only is not None and figures is None:
        raise ValueError("scoring some accounts only needs a run's workspace figures")
    meta = figures.meta if figures is not None else None
    with collector_paused():  # the rows read: many small containers
        signals = load_signals(session, cfg, as_of, meta=meta, only=only)
    learned = None if model is None else Learned(model, account_attributes(session, only))
    scored, figures = score_with_figures(signals, cfg, learned, figures)
    scored.attrs["timings"] = signals.timings
    absent = absent_core_features(signals.meta, cfg.core_features)
    warning = core_feature_warning(absent, cfg.core_features)
    scored.attrs["warnings"] = [warning] if warning else []
    return scored, figures


def persist_snapshots(
    session: Session, scored: pd.DataFrame, as_of: date, computed_at: datetime
) -> int:
    """Replace the snapshots of ``as_of`` with ``scored`` (idempotent), in bulk.

    Deleting the date first and inserting all rows keeps re-runs idempotent on both
    SQLite and PostgreSQL without dialect-specific upserts, and also removes snapshots of
    accounts that are no longer scored on that date; later snapshots whose components
    are deltas against a deleted one are packed alone first
    (:func:`~storage.models.snapshots.detach_dependents`). The components, flags and
    reasons are packed once here (the components against each account's keyframe,
    :mod:`storage.snapshot_keyframes`) and rows go through the driver's bulk path
    (:mod:`storage.snapshot_copy`). Runs in the caller's transaction.
    """
    rows = scored[scored["score"].notna()]
    detach_dependents(session.connection(), lambda s: s.as_of == as_of, as_of, as_of)
    session.execute(delete(ScoreSnapshot).where(ScoreSnapshot.as_of == as_of))
    session.flush()
    return _insert_snapshots(session, rows, as_of, computed_at, None)


def persist_snapshots_for(
    session: Session,
    scored: pd.DataFrame,
    as_of: date,
    computed_at: datetime,
    account_ids: Collection[int],
) -> int:
    """Replace the ``as_of`` snapshots of ``account_ids`` only (live rescoring,
    :mod:`pulse.jobs.live.rescore`): an event about one account must not rewrite every
    other account's snapshot (their stored figures are what their cards, alerts and CRM
    fields were built from), even when ``scored`` holds the whole workspace (scored
    without cached workspace figures). So only
    these accounts' rows of ``scored`` are written; an affected account that no longer
    scores (churned, no data) loses its ``as_of`` snapshot, as in a full run (its later
    deltas against it packed alone first). Runs in the caller's transaction.
    """
    ids = sorted({int(a) for a in account_ids})
    if not ids:
        return 0

    def doomed(s: Any) -> Any:
        return (s.as_of == as_of) & s.account_id.in_(ids)

    detach_dependents(session.connection(), doomed, as_of, as_of)
    session.execute(delete(ScoreSnapshot).where(doomed(ScoreSnapshot)))
    session.flush()
    rows = scored[scored["account_id"].isin(ids) & scored["score"].notna()]
    return _insert_snapshots(session, rows, as_of, computed_at, ids)


def _insert_snapshots(
    session: Session,
    rows: pd.DataFrame,
    as_of: date,
    computed_at: datetime,
    account_ids: list[int] | None,
) -> int:
    """Insert scored rows as snapshots through the driver's bulk path, in the column order
    of :data:`~storage.snapshot_copy.SNAPSHOT_COLUMNS`; the explanations against the
    keyframes of ``account_ids`` (of every account when None)."""
    if rows.empty:
        return 0
    day, stamp = driver_dates(session, as_of, computed_at)
    fixed = {"as_of": day, "computed_at": stamp}
    ids = rows["account_id"].astype("int64").tolist()
    columns: list[Iterable[Any]] = []
    for name in SNAPSHOT_COLUMNS[: -len(SNAPSHOT_COMPONENTS_COLUMNS)]:
        if name in fixed:
            columns.append([fixed[name]] * len(rows))
        elif name == "account_id":
            columns.append(ids)
        elif name in SNAPSHOT_PACKED_COLUMNS:
            # lazily: on PostgreSQL the rows are packed while a writer thread streams
            # the previous ones to the server, so encoding and ingest overlap
            columns.append(packed(name, rows[name].tolist()))
        elif name in SNAPSHOT_FLOAT_COLUMNS:
            columns.append(rows[name].astype("float64").tolist())
        else:
            columns.append(rows[name].tolist())
    found = keyframes(session, as_of, account_ids)
    explanations = pack_explanations(
        ids, rows["components"].tolist(), rows["reasons"].tolist(), found, driver_date(session)
    )
    records = (
        (*head, *tail)
        for head, tail in zip(zip(*columns, strict=True), explanations, strict=True)
    )
    insert_snapshot_rows(session, records, as_of, computed_at)
    return len(rows)


def run_scoring(
    session: Session,
    config: PulseConfig | ScoringConfig,
    as_of: date,
    computed_at: datetime | None = None,
    model: LearnedModel | None = None,
) -> ScoringRunSummary:
    """Score and persist one snapshot per account for ``as_of`` (with the learned
    ``model`` when one is given, see :func:`score_accounts`).

    With the whole :class:`PulseConfig`, each stored component also records how old the
    data behind it is and whether it is stale (:mod:`scoring.freshness`). The run's
    workspace figures are stored for live rescoring (:func:`scoring.figures.save_figures`).

    Writes happen in the caller's session and are flushed, not committed: wrap the call
    in ``storage.db.session_scope`` (or commit) so a failed run leaves nothing behind.
    The cyclic garbage collector is paused for the run (:func:`collector_paused`): the
    rows read, the explanations built and the rows written are millions of small
    containers, and its passes over them were about 0.3 s of a 2.3 s run at 20,000
    accounts (docs/performance.md).
    """
    started = time.perf_counter()
    # Data age is measured at ``computed_at`` when given (tests, backfills), else now (UTC).
    now = utcnow()
    fresh_at = computed_at or now
    computed_at = computed_at or now.replace(microsecond=0)
    with collector_paused():
        scored, figures = score_accounts_with_figures(session, config, as_of, model)
        save_figures(session, _scoring_config(config), figures, computed_at)
        if isinstance(config, PulseConfig):
            from scoring.freshness import annotate, freshness

            scored = annotate(scored, freshness(session, config, fresh_at))
        t_persist = time.perf_counter()
        written = persist_snapshots(session, scored, as_of, computed_at)
    timings = dict(scored.attrs.get("timings", {}))
    timings["persist"] = time.perf_counter() - t_persist
    valid = scored[scored["score"].notna()]
    flag_counts: Counter[str] = Counter()
    for codes in valid["flag_codes"]:
        flag_counts.update(codes)
    tiers = {t: int((valid["tier"] == t).sum()) for t in HEALTH_TIERS}
    return ScoringRunSummary(
        model=model.provenance if model is not None else None,
        warnings=run_warnings(valid, scored.attrs.get("warnings", ())),
        as_of=as_of,
        accounts=written,
        tiers=tiers,
        flags_raised=int(sum(flag_counts.values())),
        duration_seconds=round(time.perf_counter() - started, 3),
        computed_at=computed_at,
        flag_counts=dict(flag_counts),
        timings=timings,
    )


def latest_snapshots(session: Session, as_of: date | None = None) -> pd.DataFrame:
    """The latest snapshot of every account on or before ``as_of`` (latest overall if None).

    Per account, so an account that stopped being scored (churned) keeps its last
    snapshot with its older ``as_of``; filter on ``as_of`` for one run's portfolio.
    Columns: every ScoreSnapshot column plus ``account_name`` and ``owner_id``, lowest
    score first.
    """
    snapshot = ScoreSnapshot
    latest = select(snapshot.account_id, func.max(snapshot.as_of).label("as_of"))
    if as_of is not None:
        latest = latest.where(snapshot.as_of <= as_of)
    latest_sq = latest.group_by(snapshot.account_id).subquery("latest")
    stmt = (
        select(
            snapshot.account_id,
            Account.name.label("account_name"),
            Account.owner_id.label("owner_id"),
            snapshot.as_of,
            snapshot.computed_at,
            snapshot.score,
            snapshot.tier,
            snapshot.components,
            snapshot.expansion_score,
            snapshot.renewal_risk,
            snapshot.renewal_risk_score,
            snapshot.flags,
            snapshot.reasons,
        )
        .join(
            latest_sq,
            (latest_sq.c.account_id == snapshot.account_id) & (latest_sq.c.as_of == snapshot.as_of),
        )
        .join(Account, Account.id == snapshot.account_id)
        .order_by(snapshot.score, snapshot.account_id)
    )
    with collector_paused():  # each row's explanation: many small containers
        result = session.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def previous_snapshot(session: Session, account_id: int, before: date) -> ScoreSnapshot | None:
    """The account's most recent snapshot strictly before ``before`` (None if none)."""
    stmt = (
        select(ScoreSnapshot)
        .where(ScoreSnapshot.account_id == account_id, ScoreSnapshot.as_of < before)
        .order_by(ScoreSnapshot.as_of.desc())
        .limit(1)
    )
    return session.execute(stmt).scalars().first()
