"""The operations endpoints next to Slack's: ``GET /healthz``, ``/readyz`` and ``/metrics``.

* ``/healthz``: the process is up and serving (200 ``ok``); it touches nothing else, so
  a liveness probe never restarts Pulse because the database is slow.
* ``/readyz``: :func:`pulse.services.readiness.check_readiness` as JSON; 200 when ready,
  503 naming what is not (database unreachable, migrations behind).
* ``/metrics``: Prometheus' text format (:mod:`pulse.kernel.telemetry`).

None of them needs Slack's signature: they say nothing about any customer. Keep them off
the public route at the proxy if the metrics should stay private (docs/deploy.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pulse.kernel.telemetry import exposition
from pulse.services.readiness import check_readiness

StartResponse = Callable[..., Any]

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
PATHS = (HEALTH_PATH, READY_PATH, METRICS_PATH)


def _answer(start_response: StartResponse, status: str, body: bytes, content_type: str
            ) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


class Probes:
    """WSGI app for :data:`PATHS` (GET or HEAD only) against the database at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                      ("Content-Length", "0")])
            return [b""]
        path = environ.get("PATH_INFO")
        if path == HEALTH_PATH:
            return _answer(start_response, "200 OK", b"ok\n", "text/plain; charset=utf-8")
        if path == READY_PATH:
            ready = check_readiness(self.url)
            body = (json.dumps(ready.as_dict(), indent=1) + "\n").encode()
            status = "200 OK" if ready.ready else "503 Service Unavailable"
            return _answer(start_response, status, body, "application/json")
        body, content_type = exposition()
        return _answer(start_response, "200 OK", body, content_type)
