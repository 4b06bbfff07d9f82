"""Pulse's Slack messages as Block Kit: pure builders from view models to payloads.

Services (``pulse.services``) read the database and fill the view models of
:mod:`digests.views`; the builders here turn them into ``{"blocks": [...], "text": ...}``
messages, modals and the App Home (:mod:`digests.cards`, :mod:`digests.digest_blocks`,
:mod:`digests.home` and the ``*_blocks`` modules) without a session or a Slack client,
and their callers send what they return. Shared parts: :mod:`digests.text` (escaping and
clipping), :mod:`digests.blocks` (Block Kit objects within :mod:`digests.limits`),
:mod:`digests.rows` (the account row) and :mod:`digests.wording` (money, signs, plurals,
shared with the terminal). :mod:`digests.chart` and :mod:`digests.backtest_chart` draw
PNG charts.
"""
