"""The ``files`` connector: discovers the entity files of a directory and streams each,
validated, as batches; the cursor is the newest file's modification time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import MAX_LISTED_REJECTIONS, Connector, register
from connectors.files.sources import GZIP_SUFFIX, CsvSource, FileError, ParquetSource
from connectors.files.specs import FILE_SPECS, Kind
from connectors.files.validation import SeenKeys, empty_records, plan_columns, validate_chunk
from pulse.kernel.config import FilesSourceConfig, PulseConfig
from pulse.kernel.records import ENTITY_ORDER, Batch, Entity, Rejection

log = logging.getLogger("pulse.connectors.files")

CHUNK_ROWS = 500_000
"""Rows per Batch: big usage files stream through in slices so memory stays flat."""
PARQUET_SUFFIX = ".parquet"
SUFFIXES = (".csv", ".csv" + GZIP_SUFFIX, PARQUET_SUFFIX)
"""The file forms of an entity read (``usage.csv``, ``usage.csv.gz``, ``usage.parquet``);
any other file named after an entity (``accounts.xlsx``, ``usage.csv.zip``) is rejected,
and any other file at all gets a warning: nothing is ignored silently."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mtime_us(path: Path) -> int:
    return path.stat().st_mtime_ns // 1_000


def _cursor_text(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()


def _cursor_us(cursor: str) -> int:
    at = datetime.fromisoformat(cursor)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1)


@register
class FilesConnector(Connector):
    """Import CSV/Parquet files from a directory; the cursor is the newest file's mtime.

    ``path`` overrides ``sources.files.path``; ``chunk_rows`` is the rows per Batch (tests
    make it tiny to exercise streaming). ``warnings`` holds the last pull's non-fatal notes
    (ignored columns, stray files), which are also logged. When scoring reads usage where
    it lives (``scoring.usage.engine`` is not ``pulse``: DuckDB reads the drop's usage
    file in place), the usage file is not imported.
    """

    name = "files"

    def __init__(self, config: PulseConfig, *, path: str | Path | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        super().__init__(config)
        if path is None:
            path = (config.sources.files or FilesSourceConfig()).path
        self.path = Path(path).expanduser()
        self.chunk_rows = max(1, chunk_rows)
        self.usage_in_place = config.scoring.usage.engine != "pulse"

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        log.warning("%s", message)

    def pull(self, cursor: str | None, *, full: bool = False) -> Iterator[Batch]:
        """Yield each entity file's rows in dependency order; unchanged files are skipped.

        Only the last batch carries the new cursor, so a run that stops half-way leaves
        the stored cursor alone and the next run re-reads every file it had not finished.
        """
        self.warnings = []
        if not self.path.is_dir():
            raise FileNotFoundError(
                f"files source: directory '{self.path}' not found (sources.files.path)"
            )
        since: int | None = None
        if cursor and not full:
            try:
                since = _cursor_us(cursor)
            except (ValueError, TypeError):
                self._warn(f"ignoring unreadable cursor '{cursor}': reading every file")
        found, clashes, unreadable = self._discover()
        mtimes = [_mtime_us(p) for p in found.values()]
        mtimes += [_mtime_us(p) for ps in clashes.values() for p in ps]
        new_cursor = _cursor_text(max(mtimes)) if mtimes else None

        pending: Batch | None = None
        for batch in self._batches(found, clashes, unreadable, since):
            if pending is not None:
                yield pending
            pending = batch
        if pending is not None:
            pending.cursor = new_cursor
            yield pending

    def _discover(self) -> tuple[dict[Entity, Path], dict[Entity, list[Path]],
                                 dict[Entity, list[Path]]]:
        """Map entity -> file (names matched case-insensitively), entity -> its files when
        there are several (a clash), and entity -> files named after it in a form Pulse
        cannot read (``accounts.xlsx``); any other file gets a warning. Hidden files
        (``.DS_Store``, editors' ``.~lock`` files) are left alone."""
        by_name = {p.name.lower(): p for p in sorted(self.path.iterdir())
                   if p.is_file() and not p.name.startswith(".")}
        found: dict[Entity, Path] = {}
        clashes: dict[Entity, list[Path]] = {}
        unreadable: dict[Entity, list[Path]] = {}
        for entity in ENTITY_ORDER:
            hits = [by_name.pop(n) for n in [f"{entity}{suffix}" for suffix in SUFFIXES]
                    if n in by_name]
            others = [by_name.pop(n) for n in list(by_name) if n.startswith(f"{entity}.")]
            if others:
                unreadable[entity] = others
            if len(hits) > 1:
                clashes[entity] = hits
            elif hits:
                found[entity] = hits[0]
        for p in by_name.values():
            self._warn(f"{p.name}: not an import file name, ignored (expected one of "
                       f"{', '.join(f'{e}.csv' for e in ENTITY_ORDER)}, or .csv.gz or "
                       ".parquet instead of .csv)")
        return found, clashes, unreadable

    def _batches(self, found: dict[Entity, Path], clashes: dict[Entity, list[Path]],
                 unreadable: dict[Entity, list[Path]], since: int | None) -> Iterator[Batch]:
        for entity in ENTITY_ORDER:
            for stray in unreadable.get(entity, []):
                forms = ", ".join(f"{entity}{suffix}" for suffix in SUFFIXES)
                yield self._reject_file(entity, stray.name, "not a form Pulse reads, not "
                                        f"imported; save it as one of {forms}")
            if entity in clashes:
                names = " and ".join(p.name for p in clashes[entity])
                yield self._reject_file(entity, ", ".join(p.name for p in clashes[entity]),
                                        f"both {names} present; keep only one")
                continue
            path = found.get(entity)
            if path is None:
                continue
            if entity == "usage" and self.usage_in_place:
                log.info("%s not imported: scoring.usage.engine reads usage where it lives",
                         path.name)
                continue
            if since is not None and _mtime_us(path) <= since:
                log.info("%s unchanged since last import, skipped", path.name)
                continue
            yield from self._read_file(entity, path)

    def _reject_file(self, entity: Entity, where: str, reason: str) -> Batch:
        log.warning("%s rejected: %s", where, reason)
        rejection = Rejection(where, reason)
        return Batch(entity, empty_records(FILE_SPECS[entity]), rejected=[rejection])

    def _read_file(self, entity: Entity, path: Path) -> Iterator[Batch]:
        """Validate one file chunk by chunk; a file unreadable before its first batch
        went out is rejected whole."""
        spec = FILE_SPECS[entity]
        file = path.name
        try:
            source: CsvSource | ParquetSource = (
                ParquetSource(path, self.chunk_rows) if file.lower().endswith(PARQUET_SUFFIX)
                else CsvSource(path, self.chunk_rows)
            )
            plan = plan_columns(spec, source.header)
        except FileError as exc:
            yield self._reject_file(entity, file, exc.reason)
            return
        except OSError as exc:
            yield self._reject_file(entity, file, f"cannot read file: {exc}")
            return
        if plan.unknown:
            self._warn(f"{file}: ignoring unknown column(s): {', '.join(plan.unknown)}")
        by_name = spec.by_name
        wanted: dict[int, Kind] = {pos: by_name[name].kind for name, pos in plan.fields.items()}
        wanted.update({pos: "str" for pos in plan.custom.values()})

        seen = SeenKeys()
        listed = 0
        unlisted = 0
        pending: Batch | None = None
        sent_any = False
        try:
            for chunk in source.chunks(wanted):
                records, rejected = validate_chunk(spec, plan, chunk, seen, file, source.unit)
                room = max(0, MAX_LISTED_REJECTIONS - listed)
                unlisted += max(0, len(rejected) - room)
                rejected = rejected[:room]
                listed += len(rejected)
                if pending is not None:
                    yield pending
                    sent_any = True
                pending = Batch(entity, records, rejected=rejected, distinct_keys=True)
        except (FileError, OSError) as exc:
            reason = exc.reason if isinstance(exc, FileError) else f"cannot read file: {exc}"
            if not sent_any:
                yield self._reject_file(entity, file, f"{reason}; no row of the file was imported")
                return
            log.warning("%s partly imported: %s", file, reason)
            assert pending is not None
            pending.rejected.append(Rejection(file, f"{reason}; rows before it were imported"))
        if pending is None:
            pending = Batch(entity, empty_records(spec))
        if unlisted:
            pending.rejected.append(Rejection(
                file, f"{unlisted} more rejected row(s) not listed (only the first "
                      f"{MAX_LISTED_REJECTIONS} are)"))
        yield pending
