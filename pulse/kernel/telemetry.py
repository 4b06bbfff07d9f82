"""Pulse's Prometheus metrics (``GET /metrics`` of ``pulse serve``, docs/deploy.md).

Every series is defined here, once, and incremented where the thing happens: the HTTP
server times requests by route (:mod:`bot.server`), the pipeline runner records each
step (:mod:`pulse.jobs.pipeline`), a sync its records (:mod:`pulse.services.sync.run`),
the alert evaluation what it raised (:mod:`pulse.services.alerts.evaluate`), Slack
delivery its refused calls and retries (:mod:`bot.delivery`), the connectors' shared
retry loop each retry (:mod:`connectors.retry`), the Slack app each request it answered
"busy" (:mod:`bot.workload`) and the writeback and sync services each
CRM call that failed for good.

With several ``pulse serve`` workers, each process counts on its own; prometheus-client's
multiprocess mode (the ``PROMETHEUS_MULTIPROC_DIR`` environment variable, which ``pulse
serve`` sets when it is not set) keeps the values in files there, and :func:`exposition`
adds them up. Only counters and histograms are used: they add up across processes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_ENV):  # a command run beside the server, where the server's
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)  # directory may not exist yet

REQUEST_SECONDS = Histogram(
    "pulse_http_request_duration_seconds",
    "Time to answer an HTTP request, by route, method and status code.",
    ["route", "method", "status"],
)
PIPELINE_STEPS = Counter(
    "pulse_pipeline_steps_total",
    "Pipeline steps finished, by step and outcome (ok, failed, skipped).",
    ["step", "outcome"],
)
PIPELINE_STEP_SECONDS = Histogram(
    "pulse_pipeline_step_duration_seconds",
    "Time a pipeline step took (all its attempts), by step and outcome.",
    ["step", "outcome"],
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
RECORDS_SYNCED = Counter(
    "pulse_records_synced_total",
    "Records a sync stored, by source and change (inserted, updated).",
    ["source", "change"],
)
SYNCS = Counter(
    "pulse_syncs_total", "Syncs finished, by source and outcome (ok, partial, failed).",
    ["source", "outcome"],
)
ALERTS_RAISED = Counter(
    "pulse_alerts_raised_total",
    "Alerts raised and stored, by change (raised: new, reopened: a quiet alert open again).",
    ["change"],
)
API_ERRORS = Counter(
    "pulse_api_errors_total",
    "Calls to an outside API that failed for good (after retries), by API "
    "(slack, salesforce, hubspot, stripe, zendesk, ...).",
    ["api"],
)
API_RETRIES = Counter(
    "pulse_api_retries_total",
    "Calls to an outside API retried (rate limited, server error, connection lost), by API.",
    ["api"],
)
SLACK_BUSY = Counter(
    "pulse_slack_busy_total",
    "Slack requests answered 'Pulse is busy' at once because the slow-work pool was full, "
    "by kind (command, block_actions, view_submission, event_callback, other).",
    ["kind"],
)
BUSY_KINDS = ("command", "block_actions", "view_submission", "event_callback")

KNOWN_APIS = ("slack", "salesforce", "hubspot", "stripe", "zendesk", "webhook")
"""The ``api`` label's values; anything else counts as ``other`` (a label's values must
stay few)."""


def api_label(what: str) -> str:
    """The API a free-text description names (``"Salesforce login"`` -> ``salesforce``)."""
    lowered = what.lower()
    return next((name for name in KNOWN_APIS if name in lowered), "other")


def api_retry(what: str) -> None:
    """Count one retry of a call to the API ``what`` names."""
    API_RETRIES.labels(api_label(what)).inc()


def api_error(what: str) -> None:
    """Count one call to the API ``what`` names that failed for good."""
    API_ERRORS.labels(api_label(what)).inc()


def slack_busy(kind: str) -> None:
    """Count one Slack request told "busy" (``kind``: command, or the payload's type)."""
    SLACK_BUSY.labels(kind if kind in BUSY_KINDS else "other").inc()


def alerts_changed(raised: int, reopened: int) -> None:
    """Count an evaluation's committed alerts (daily pipeline, snooze checks, live)."""
    ALERTS_RAISED.labels("raised").inc(raised)
    ALERTS_RAISED.labels("reopened").inc(reopened)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type; in multiprocess
    mode, the sum over every process's files."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Tell multiprocess mode a worker is gone (gunicorn's ``child_exit`` hook)."""
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.mark_process_dead(pid)
