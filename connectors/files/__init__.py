"""The ``files`` source: import Pulse's entities from a directory of CSV or Parquet files.

This is how a team without a supported CRM/billing integration gets data in: one file per
entity (``accounts.csv``, ``usage.parquet``, ...), column names equal to the record keys of
:mod:`pulse.kernel.records`. The column format is documented in ``docs/import-format.md``.

Validation happens here, per row, because a person edits these files by hand: a bad value
rejects its row (with ``file:line`` and the reason) and every other row still loads; a file
that cannot be read, or lacks a required column, is rejected whole. References between
records are *not* checked here (the account may already be stored from an earlier drop);
every record carries ``_where`` ("contacts.csv:14") so the loader can name the line when a
reference turns out to be unknown.

The parts: :mod:`.specs` (each entity's columns), :mod:`.sources` (reading CSV and
Parquet in chunks), :mod:`.parsing` (typed values of one column), :mod:`.validation`
(header and rows) and :mod:`.connector` (:class:`FilesConnector`, registered on import of
this package).
"""

from connectors.files.connector import FilesConnector
from connectors.files.specs import FILE_SPECS

__all__ = ["FILE_SPECS", "FilesConnector"]
