"""The connector contract shared by every source.

A connector pulls everything changed since a cursor and yields
:class:`pulse.kernel.records.Batch` objects in dependency order (owners, accounts,
contacts, then the rest); the records' keys are described there. Storage upserts each
batch idempotently on ``(source, external_id)`` and stores the batch's cursor only once the
batch is committed, so a failure mid-run resumes without gaps or duplicates.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import ClassVar

from pulse.kernel.config import PulseConfig
from pulse.kernel.records import Batch

MAX_LISTED_REJECTIONS = 1_000
"""Row rejections a connector lists per file or query; beyond this one summary line carries
the count, so a systematic error (say every date in the wrong format) cannot flood the sync
report."""


class Connector(ABC):
    """Pull since cursor, yield batches; the sync service stores and reports."""

    name: ClassVar[str]

    def __init__(self, config: PulseConfig) -> None:
        self.config = config
        self.warnings: list[str] = []  # non-fatal notes of the last pull, shown in the report

    @abstractmethod
    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield every record changed since ``cursor`` (everything when ``full``).

        ``cursor`` is the stored one in both cases: a full pull reads everything but
        carries the stored cursor's parts it has not reached yet in its batches' cursors,
        so a full run that stops half-way does not make the next run read everything."""


REGISTRY: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make a connector available to ``pulse sync`` by its name."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"connector name '{cls.name}' registered twice")
    REGISTRY[cls.name] = cls
    return cls


MODULES: dict[str, str] = {
    "sample": "connectors.sample",
    "files": "connectors.files",
    "warehouse": "connectors.warehouse",
    "salesforce": "connectors.salesforce",
    "hubspot": "connectors.hubspot",
    "stripe": "connectors.stripe_billing",
    "zendesk": "connectors.zendesk",
}
"""Source name -> module that registers it: imported on demand, so a sync of one source
does not load every other source's client library."""


def get_connector(name: str) -> Callable[[PulseConfig], Connector]:
    if name not in REGISTRY and name in MODULES:
        importlib.import_module(MODULES[name])
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(set(REGISTRY) | set(MODULES)))
        raise KeyError(f"unknown source '{name}' (known sources: {known})") from None
