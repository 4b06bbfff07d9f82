"""Pausing Python's cyclic garbage collector while a run builds many small objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (as it was after).

    Building a scoring run's per-account lists and dicts (components, flags, reasons:
    hundreds of thousands of containers) set off the collector's generational passes
    over every object alive, about a fifth of the pandas scoring time
    (docs/performance.md). Those objects hold no reference cycles, so reference counting
    frees them as before; the collector only skips looking. Process-wide: a thread
    running beside the block gets no passes either until it ends.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
