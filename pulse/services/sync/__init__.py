"""Running a connector into storage: batches, cursors and the run report.

Each batch is stored in its own transaction together with the cursor that follows it, so
a failure mid-run keeps everything already stored and the next run resumes from the last
fully stored batch, without gaps or duplicates.

Parts: ``run`` (:func:`run_sync`), ``report`` (:class:`SyncReport`, stored per source),
``threads`` (the connector read ahead, slices written in order), ``usage_bulk`` (a first
usage load without the table's indexes).
"""

from __future__ import annotations

from pulse.services.sync.report import SyncReport
from pulse.services.sync.run import ProgressHook, run_sync
from pulse.services.sync.threads import prefetched
from pulse.services.sync.usage_bulk import BULK_MIN_ROWS

__all__ = ["BULK_MIN_ROWS", "ProgressHook", "SyncReport", "prefetched", "run_sync"]
