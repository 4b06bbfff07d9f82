"""Bounded slow work behind Slack's requests, and the "busy" answer when it is full.

Every Pulse listener acks at once and does its slow part (a ``/health`` lookup, a
button's database work, a modal's submission, the Home tab) in a Bolt *lazy listener*
(https://docs.slack.dev/tools/bolt-python/concepts/lazy-listeners). Bolt starts those on
an executor whose queue has no bound, so under 50 concurrent clients (issue 18) acks
stayed fast while answers queued for up to 87 s and memory grew by 116 MB. Here:

* :class:`WorkPool` runs lazy listeners on ``slack.work_threads`` threads with at most
  ``slack.work_queue`` more waiting; a submission beyond that is refused, not queued;
* :class:`BoundedLazyRunner` is Bolt's lazy-listener runner on that pool. Bolt starts a
  request's lazy listeners on the thread that dispatches the request and produces its
  ack, so a refusal is noted there (:func:`watching`), and
* :func:`busy_answer` then replaces the ack: Slack shows the user "Pulse is busy" at
  once instead of an answer a minute late. A slash command's ack carries an ephemeral
  message (Slack shows an ack body with ``response_type`` as the reply,
  https://api.slack.com/interactivity/slash-commands#responding_to_commands); a modal
  submission's ack keeps the modal open with the notice as the error of its first input
  (``response_action: errors``, what was typed stays); a button's ack body is not shown
  by Slack, so the notice is posted to its ``response_url`` before the ack. An event
  (the Home tab opened) has nobody to tell: the tab keeps what it showed.

Nothing else queues without a bound: each request thread (gunicorn's, a fixed number)
waits for its own ack, so Bolt's ack executor never holds more than one task per thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.lazy_listener.internals import build_runnable_function
from slack_sdk.webhook import WebhookClient

from bot.context import notice
from bot.guard import RefusalLog
from pulse.kernel.config import SlackConfig
from pulse.kernel.telemetry import slack_busy

log = logging.getLogger("pulse.bot.workload")

BUSY = "Pulse is busy right now. Please try again in a minute."
MIN_THREADS = 2
"""Work threads per process at least, whatever the core count: one slow lookup must not
hold up every other answer."""
QUEUE_PER_THREAD = 4
"""Default ``slack.work_queue``: requests that may wait per work thread. A card or pick
list costs 30-100 ms of one core (docs/performance.md), so a full queue is worked off
in well under Slack users' patience; beyond it "busy" now beats an answer a minute late."""
BUSY_NOTICE_SECONDS = 2
"""Timeout of the busy notice posted to a button's ``response_url`` before its ack
(Slack wants the ack within 3 s)."""


def pool_size(config: SlackConfig, cores: int | None = None) -> tuple[int, int]:
    """(work threads, queue) per process: the configured values, else the defaults from
    the number of cores (``os.cpu_count()`` unless given)."""
    threads = config.work_threads or max(MIN_THREADS, cores or os.cpu_count() or 1)
    queue = config.work_queue if config.work_queue is not None else QUEUE_PER_THREAD * threads
    return threads, queue


class WorkPool:
    """``threads`` threads, at most ``queue`` tasks waiting; :meth:`try_submit` refuses
    the rest at once."""

    def __init__(self, threads: int, queue: int) -> None:
        self.threads = threads
        self.queue = queue
        self._slots = threading.BoundedSemaphore(threads + queue)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="work")

    def try_submit(self, work: Callable[[], None]) -> bool:
        """Run ``work`` on the pool (True), or refuse it when running and waiting tasks
        already fill it (False)."""
        if not self._slots.acquire(blocking=False):
            return False
        try:
            self._executor.submit(self._run, work)
        except BaseException:
            self._slots.release()
            raise
        return True

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            self._slots.release()


class _Watch:
    refused = False


_local = threading.local()


@contextmanager
def watching() -> Iterator[_Watch]:
    """Note, for the dispatch running on this thread, whether its slow work was refused."""
    watch, previous = _Watch(), getattr(_local, "watch", None)
    _local.watch = watch
    try:
        yield watch
    finally:
        _local.watch = previous


class BoundedLazyRunner(LazyListenerRunner):
    """Bolt's lazy listeners on a :class:`WorkPool`; a refusal is noted for the ack."""

    def __init__(self, logger: logging.Logger, pool: WorkPool) -> None:
        self.logger = logger
        self.pool = pool

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        runnable = build_runnable_function(func=function, logger=self.logger, request=request)
        if self.pool.try_submit(runnable):
            return
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.refused = True


def _first_input_block(view: dict[str, Any]) -> str | None:
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return None


def _post_notice(response_url: str) -> None:
    try:
        WebhookClient(response_url, timeout=BUSY_NOTICE_SECONDS).send_dict(
            {**notice(BUSY), "response_type": "ephemeral", "replace_original": False})
    except Exception as exc:  # noqa: BLE001 - the click is acked either way
        log.warning("could not post the busy notice: %s", type(exc).__name__)


def busy_answer(req: BoltRequest, acked: BoltResponse, busy_log: RefusalLog) -> BoltResponse:
    """The ack of a request whose slow work was refused: the busy notice where Slack
    shows one (see the module's docstring), else the ack as it was."""
    body = req.body if isinstance(req.body, dict) else {}
    kind = "command" if "command" in body else str(body.get("type") or "event")
    slack_busy(kind)
    busy_log.refused("/slack/events", 200, f"busy: {kind} answered at once, work pool full")
    if kind == "command":
        return BoltResponse(status=200, body={**notice(BUSY), "response_type": "ephemeral"})
    if kind == "view_submission":
        block = _first_input_block(body.get("view") or {})
        if block is not None:
            return BoltResponse(status=200,
                                body={"response_action": "errors", "errors": {block: BUSY}})
    elif kind == "block_actions" and body.get("response_url"):
        _post_notice(str(body["response_url"]))
    return acked
