"""Jobs: the daily pipeline, its scheduler and live rescoring.

They orchestrate services; what Slack should receive is handed to the
:class:`pulse.services.outbox.Delivery` passed in from above (``bot.delivery``, built by
the entry points), so no job talks to Slack itself. :mod:`pulse.jobs.deliver` and
:mod:`pulse.jobs.playbooks` send what the services return.
"""
