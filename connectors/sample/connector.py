"""The ``sample`` source: the generated workspace as a connector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from connectors.base import Connector, register
from connectors.sample.workspace import generate_workspace
from pulse.kernel.config import PulseConfig, SampleSourceConfig
from pulse.kernel.records import ENTITY_ORDER, Batch


@register
class SampleConnector(Connector):
    """The built-in demo source: a generated workspace, identical for a seed and end date."""

    name = "sample"

    def __init__(self, config: PulseConfig, *, end_date: date | None = None) -> None:
        super().__init__(config)
        self.settings = config.sources.sample or SampleSourceConfig()
        self.end_date = end_date or self.settings.end_date or date.today()

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield every entity in dependency order.

        The data is regenerated whole each time (it is deterministic and loads are
        idempotent), so the cursor only records which seed and end date were loaded.
        """
        s = self.settings
        data = generate_workspace(s.seed, self.end_date, accounts=s.accounts, days=s.days)
        new_cursor = f"seed={s.seed};end={self.end_date.isoformat()}"
        for entity in ENTITY_ORDER:
            yield Batch(entity=entity, records=data[entity], cursor=new_cursor)
