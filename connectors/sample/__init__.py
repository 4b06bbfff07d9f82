"""A deterministic, believable B2B SaaS workspace, exposed as the ``sample`` source.

Demos, tests and benchmarks need data that looks like a real customer base (tiers, seats,
weekly rhythms, billing, tickets, surveys) and that holds a few known problems, so the
scorer, the flags and the bot have something recognisable to find. Everything comes from
``numpy`` generators seeded by ``seed``; dates are laid out relative to ``end_date``, so
the same seed and end date always give identical data, and a different end date gives the
same story shifted in time.

Planted stories (see :data:`PLANTED`) sit on accounts with fixed external ids that are
otherwise healthy, so that each story is the distinctive problem of its account; the
generic generator is kept from producing the same problems strongly elsewhere.

The parts: :mod:`.vocabulary` (shared names), :mod:`.context` (one run's window, random
streams and arrays), :mod:`.stories` (the planted stories), the sections
:mod:`.accounts`, :mod:`.people`, :mod:`.usage`, :mod:`.integrations`, :mod:`.billing`,
:mod:`.support` and :mod:`.revenue`, :mod:`.workspace` (:func:`generate_workspace`) and
:mod:`.connector` (:class:`SampleConnector`, registered on import of this package).
"""

from connectors.sample.connector import SampleConnector
from connectors.sample.stories import ACME, CHURNED, PLANTED, churned_ids
from connectors.sample.vocabulary import CORE_FEATURES, FEATURES
from connectors.sample.workspace import generate_workspace

__all__ = [
    "ACME",
    "CHURNED",
    "CORE_FEATURES",
    "FEATURES",
    "PLANTED",
    "SampleConnector",
    "churned_ids",
    "generate_workspace",
]
