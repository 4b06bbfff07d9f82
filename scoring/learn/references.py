"""The models a learned scorecard is compared with on the same folds.

* **Spline logistic regression**: each number through a quantile transform and a cubic
  B-spline basis (a smooth learned shape), a missing-value indicator, categories one-hot,
  L2-regularised logistic regression. Explainable too (each input's curve adds to the
  log-odds), but its points are a curve, not a table.
* **Logistic regression**: numbers standardised, missing values at the median plus an
  indicator, categories one-hot: the plain linear reference.
* **Gradient boosting** (``HistGradientBoostingClassifier``): interactions and any shape,
  native missing values and categories; the "how much is left on the table" reference.

Each builder returns an unfitted scikit-learn estimator taking the learning frame as it
is (numbers as floats with NaN, categories as text or None).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

SPLINE_KNOTS = 5
"""Knots per input of the spline model: enough for a bend or two, not for wiggles."""
SPLINE_C = 0.1
"""Inverse L2 strength of the spline model (many basis columns, so fairly strong)."""
PLAIN_C = 1.0
"""Inverse L2 strength of the plain logistic regression (scikit-learn's default)."""
BOOSTING_ITERATIONS = 100
"""At most this many trees; boosting stops early when a tenth held aside stops improving."""
MISSING_CATEGORY = "(missing)"
QUANTILES = 100


def _split(names: Sequence[str], categorical: Sequence[str]) -> tuple[list[str], list[str]]:
    cats = [n for n in names if n in categorical]
    return [n for n in names if n not in categorical], cats


def prepared(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Numbers as float, categories as text with missing as :data:`MISSING_CATEGORY`."""
    out = {}
    for col in frame.columns:
        if col in categorical:
            out[col] = frame[col].astype(object).where(frame[col].notna(), MISSING_CATEGORY)
            out[col] = out[col].map(str)
        else:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _one_hot() -> Any:
    from sklearn.preprocessing import OneHotEncoder

    return OneHotEncoder(handle_unknown="ignore", sparse_output=False)


def _missing() -> Any:
    from sklearn.impute import MissingIndicator

    return MissingIndicator(features="all")


def spline_logistic(names: Sequence[str], categorical: Sequence[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import QuantileTransformer, SplineTransformer

    nums, cats = _split(names, categorical)
    curve = make_pipeline(
        SimpleImputer(strategy="median"),
        QuantileTransformer(n_quantiles=QUANTILES),
        SplineTransformer(n_knots=SPLINE_KNOTS, degree=3),
    )
    columns = ColumnTransformer(
        [("curve", curve, nums), ("missing", _missing(), nums), ("category", _one_hot(), cats)]
    )
    return make_pipeline(columns, LogisticRegression(C=SPLINE_C, max_iter=3000))


def plain_logistic(names: Sequence[str], categorical: Sequence[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    nums, cats = _split(names, categorical)
    columns = ColumnTransformer(
        [
            ("number", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
            ("missing", _missing(), nums),
            ("category", _one_hot(), cats),
        ]
    )
    return make_pipeline(columns, LogisticRegression(C=PLAIN_C, max_iter=3000))


def boosting(names: Sequence[str], categorical: Sequence[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    nums, cats = _split(names, categorical)
    columns = ColumnTransformer(
        [
            ("category", OrdinalEncoder(handle_unknown="use_encoded_value",
                                        unknown_value=np.nan), cats),
            ("number", "passthrough", nums),
        ]
    )
    model = HistGradientBoostingClassifier(
        max_iter=BOOSTING_ITERATIONS,
        early_stopping=True,
        categorical_features=list(range(len(cats))) or None,
        random_state=0,
    )
    return make_pipeline(columns, model)


REFERENCES: dict[str, Callable[[Sequence[str], Sequence[str]], Any]] = {
    "spline logistic regression": spline_logistic,
    "logistic regression": plain_logistic,
    "gradient boosting": boosting,
}
"""Label -> builder of each reference model, in the order they are printed."""
