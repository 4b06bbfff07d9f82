"""The threads of a bulk load: the connector one slice ahead, two slices written at once.

A connector parses the next page or file slice while the database stores the current one
(both release the GIL in I/O and in Arrow/numpy), so a bulk load uses both cores.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy.orm import Session

from pulse.kernel.records import Batch
from pulse.services.sync.report import sync_state
from storage.loader import LoadResult

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    A connector parses the next page or file slice while this thread waits on the
    database for the current one (both release the GIL in I/O and in Arrow/numpy), so a
    bulk load uses both cores. Order is kept; an exception in the connector is raised
    here at the same position; when the consumer stops early the producer stops after
    its current item and the generator is closed in its own thread.
    """
    box: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            box.put((_DONE, exc))
            return
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()
        box.put((_DONE, None))

    worker = threading.Thread(target=produce, name="pulse-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = box.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                box.get(timeout=0.1)


WRITERS = 2
"""Slices written at once on PostgreSQL, so the server has the next slice while one waits
for its turn to commit (3 measured no faster on 2 cores: docs/performance.md)."""


class OrderedWriter:
    """Background threads that store fact slices and commit them strictly in order.

    The server ingesting a slice (COPY into the primary key) is the slowest part of a
    bulk load, so on PostgreSQL two slices are written at once on two connections, each committing
    only after the slice before it did, so the stored cursor never passes a slice that
    is not stored. Two slices write at once only when the connector vouches that no two
    of its slices share a fact key (``Batch.distinct_keys``); other slices start writing
    after the one before them is committed, since they may update its rows.

    ``submit`` hands a slice over and returns the slices committed meanwhile; ``drain``
    waits for all of them. After the first failure nothing more is committed; the failure
    is raised by the next ``submit``/``drain``, and ``finish`` returns what was stored.
    """

    def __init__(self, factory: Callable[[], Session], source: str, workers: int = 2) -> None:
        self._factory = factory
        self._source = source
        self._todo: queue.Queue[tuple[int, Batch, Callable[[Session], LoadResult]] | None] = (
            queue.Queue(1)
        )
        self._done: list[tuple[Batch, LoadResult]] = []
        self._turn = threading.Condition()
        self._submitted = 0
        self._committed = 0  # sequence number of the last slice committed (or given up)
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, name=f"pulse-writer-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def _wait_turn(self, seq: int) -> None:
        with self._turn:
            self._turn.wait_for(lambda: self._committed == seq - 1)

    def _run(self) -> None:
        while (item := self._todo.get()) is not None:
            seq, batch, work = item
            session = self._factory()
            try:
                self._store(seq, batch, work, session)
            finally:
                session.close()
                with self._turn:
                    self._committed = seq
                    self._turn.notify_all()

    def _store(
        self, seq: int, batch: Batch, work: Callable[[Session], LoadResult], session: Session
    ) -> None:
        error: BaseException | None = None
        result: LoadResult | None = None
        if not batch.distinct_keys:
            self._wait_turn(seq)
        try:
            if self._error is None:
                result = work(session)
        except BaseException as exc:  # noqa: BLE001 - raised in the sync's thread
            error = exc
        self._wait_turn(seq)
        if self._error is not None or error is not None or result is None:
            session.rollback()
            if self._error is None:
                self._error = error
            return
        try:
            if batch.cursor is not None:
                sync_state(session, self._source).cursor = batch.cursor
            session.commit()
        except BaseException as exc:  # noqa: BLE001
            session.rollback()
            self._error = exc
            return
        with self._turn:
            self._done.append((batch, result))

    def _take(self) -> list[tuple[Batch, LoadResult]]:
        with self._turn:
            done, self._done = self._done, []
        return done

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(
        self, batch: Batch, work: Callable[[Session], LoadResult]
    ) -> list[tuple[Batch, LoadResult]]:
        self._raise()
        self._submitted += 1
        self._todo.put((self._submitted, batch, work))
        return self._take()

    def finish(self) -> list[tuple[Batch, LoadResult]]:
        """Wait for every slice handed over; what was stored, even after a failure."""
        self._wait_turn(self._submitted + 1)
        return self._take()

    def drain(self) -> list[tuple[Batch, LoadResult]]:
        done = self.finish()
        if self._error is not None:
            with self._turn:
                self._done[:0] = done  # kept for the failure report's ``finish``
            self._raise()
        return done

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()
