"""The components as stored in a snapshot: JSON-ready entries, one list per account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scoring.components.base import OPTIONAL_COMPONENTS, ComponentResult
from scoring.components.combine import Combined


def component_entries(
    results: Mapping[str, ComponentResult],
    combined: Combined,
    weights: Mapping[str, float],
) -> list[list[dict[str, Any]]]:
    """The JSON list stored in ``ScoreSnapshot.components``, one list per account.

    Built column-wise (numpy rounding, ``tolist``) and zipped into dicts, because this is
    the one place that creates Python objects per account and it must stay cheap.
    """
    per_key: list[list[dict[str, Any]]] = []
    for key, res in results.items():
        raw_records = json_records(res.raw)
        label = res.label
        weight = float(weights.get(key, 0.0))
        has = combined.has_data[key].to_numpy().tolist()
        values = py_list(np.round(combined.values[key].to_numpy(dtype="float64"), 3))
        eff = np.round(combined.effective_weights[key].to_numpy(dtype="float64"), 4).tolist()
        pts = np.round(combined.points[key].to_numpy(dtype="float64"), 1).tolist()
        details = res.detail.tolist()
        per_key.append(
            [
                {
                    "key": key,
                    "label": label,
                    "weight": weight,
                    "effective_weight": e,
                    "value": v if h else None,
                    "points": p,
                    "has_data": h,
                    "raw": r,
                    "detail": d if h else f"{d}; weight renormalised",
                }
                for v, e, p, h, r, d in zip(
                    values, eff, pts, has, raw_records, details, strict=True
                )
            ]
        )
    return [
        [e for e in row if e["has_data"] or e["key"] not in OPTIONAL_COMPONENTS]
        for row in zip(*per_key, strict=True)
    ]


def py_list(arr: np.ndarray) -> list[Any]:
    """Floats as Python values; NaN/inf -> None; all-whole columns -> int (JSON-friendly)."""
    finite = np.isfinite(arr)
    whole = bool(np.all(arr[finite] == np.floor(arr[finite]))) and bool(
        np.all(np.abs(arr[finite]) < 2**53)
    )
    out: list[Any] = np.where(finite, arr, 0).astype(np.int64).tolist() if whole else arr.tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            out[i] = None
    return out


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts (None for missing, ints for whole columns)."""
    keys = [str(k) for k in frame.columns]
    columns: list[list[Any]] = []
    for _, col in frame.items():
        if pd.api.types.is_float_dtype(col.dtype) or pd.api.types.is_integer_dtype(col.dtype):
            columns.append(py_list(col.to_numpy(dtype="float64")))
        elif pd.api.types.is_bool_dtype(col.dtype):
            columns.append(col.to_numpy().tolist())
        else:
            vals = col.to_numpy(dtype=object)
            missing = pd.isna(vals)
            out = vals.tolist()
            for i in np.flatnonzero(missing).tolist():
                out[i] = None
            columns.append(out)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
