"""The ``sample`` source: the generated workspace as a connector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from connectors.base import Connector, register
from connectors.sample.workspace import generate_workspace
from pulse.kernel.clock import local_date, utcnow
from pulse.kernel.config import PulseConfig, SampleSourceConfig
from pulse.kernel.records import ENTITY_ORDER, Batch


@register
class SampleConnector(Connector):
    """The built-in demo source: a generated workspace, identical for a seed and end date.

    The end date is ``end_date``, else ``sources.sample.end_date``, else the workspace's
    today (``workspace.timezone``).
    """

    name = "sample"

    def __init__(self, config: PulseConfig, *, end_date: date | None = None) -> None:
        super().__init__(config)
        self.settings = config.sources.sample or SampleSourceConfig()
        self.end_date = (
            end_date
            or self.settings.end_date
            or local_date(config.workspace.timezone, utcnow())
        )

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield every entity in dependency order.

        The data is regenerated whole each time (it is deterministic and loads are
        idempotent), so the cursor only records which seed and end date were loaded.
        """
        settings = self.settings
        data = generate_workspace(
            settings.seed, self.end_date, accounts=settings.accounts, days=settings.days
        )
        new_cursor = f"seed={settings.seed};end={self.end_date.isoformat()}"
        for entity in ENTITY_ORDER:
            yield Batch(entity=entity, records=data[entity], cursor=new_cursor)
