"""A churn model learned from the workspace's own history, explained in points.

Parts: :mod:`~scoring.learn.inputs` (what a model may read on an as-of date),
:mod:`~scoring.learn.folds` (held-out folds by time or by account, and the minimum
history), :mod:`~scoring.learn.scorecard` (the points scorecard: fitting it, and
applying it with numpy alone), :mod:`~scoring.learn.references` (the models it is
compared with), :mod:`~scoring.learn.fit` (:func:`~scoring.learn.fit.learn`: folds,
comparison, threshold, final fit) and :mod:`~scoring.learn.document` (the readable file).
The database side is :mod:`pulse.services.learn`; docs/scoring.md explains the choice.
"""
