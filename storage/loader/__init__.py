"""Idempotent loading of connector batches into storage.

Every entity is keyed: records from source systems on ``(source, external_id)``, daily
facts on their natural key (account, user, feature, day). A record identical to what is
stored is counted as unchanged and not written, so loading the same data twice changes
nothing. References (``account_external_id`` ...) resolve against records of the same
source, or of ``Batch.ref_source`` when the batch names one; a record whose required
reference is unknown is skipped with a reason naming it, and the rest of the batch still
loads. An unknown optional reference is reported too, but the record loads, and a link
stored earlier is kept (:mod:`~storage.loader.keyed`).

Parts: :mod:`~storage.loader.batch` (one batch, by entity), :mod:`~storage.loader.keyed`
(records upserted on their key), :mod:`~storage.loader.facts` (daily facts, in two
halves a sync overlaps), :mod:`~storage.loader.stored` (the stored rows a batch of
facts can match), :mod:`~storage.loader.refs` (reference resolution),
:mod:`~storage.loader.fast_insert` (COPY / executemany), :mod:`~storage.loader.result`
(the counts and rejections reported).
"""

from __future__ import annotations

from storage.loader.batch import load_batch
from storage.loader.facts import FACTS, PreparedFacts, load_facts_prepared, write_facts
from storage.loader.fast_insert import CopyData, bulk_insert, copy_data
from storage.loader.keyed import KEYED
from storage.loader.refs import RefCache
from storage.loader.result import LoadResult

__all__ = [
    "FACTS",
    "KEYED",
    "CopyData",
    "LoadResult",
    "PreparedFacts",
    "RefCache",
    "bulk_insert",
    "copy_data",
    "load_batch",
    "load_facts_prepared",
    "write_facts",
]
