"""Customer-health scoring: per-account signals read from storage as of a date
(:mod:`scoring.signals`) become health components, a 0-100 score and tier
(:mod:`scoring.components`), churn flags (:mod:`scoring.flags`), expansion and renewal
outlook (:mod:`scoring.outlook`) and plain-words reasons (:mod:`scoring.explain`), stored
as snapshots by :mod:`scoring.engine`; backtests, weight tuning and portfolio metrics
judge the scores against what happened later, and :mod:`scoring.learn` learns a points
scorecard from that history. Imports only storage and pulse.kernel."""
