"""Loading one connector batch: keyed records or daily facts, by entity."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from pulse.kernel.records import Batch
from storage.loader.facts import FACTS, load_facts_prepared, write_facts
from storage.loader.keyed import KEYED, load_keyed
from storage.loader.refs import RefCache
from storage.loader.result import LoadResult
from storage.loader.sql import plain


def load_batch(
    session: Session, source: str, batch: Batch, cache: RefCache | None = None
) -> LoadResult:
    """Upsert one batch; the caller owns the transaction (and the cursor that goes with it).

    ``cache`` (one per sync run) resolves fact references against whole-table maps.
    """
    if batch.entity in FACTS:
        # the batch's own rejections are listed by load_facts_prepared
        return write_facts(session, source, load_facts_prepared(session, source, batch, cache))
    if batch.entity in KEYED:
        records = batch.records
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        result = load_keyed(
            session, source, batch.entity, [plain(r) for r in records], batch.ref_source,
            batch.unlinked_ok,
        )
        if cache is not None:
            cache.forget(KEYED[batch.entity][0])
        result.skipped[:0] = batch.rejected
        return result
    raise ValueError(f"unknown entity '{batch.entity}'")
