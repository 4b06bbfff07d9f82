"""The account attributes portfolio figures can be broken down by.

The one owner of this vocabulary: ``scoring.metrics`` groups its figures by these
columns, and ``pulse metrics --by`` offers them (its help text names them, so they live
here, where reading them loads no data library).
"""

from __future__ import annotations

BREAKDOWNS = ("segment", "region", "tier", "csm", "health")
"""Every breakdown, in the order help texts and errors list them."""
