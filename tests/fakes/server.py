"""The part every local fake shares: a threaded HTTP server on 127.0.0.1, started and
stopped the same way, usable as a context manager."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def reply(
    req: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer ``req``: status, content type and length, ``headers``, then ``payload``."""
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        req.send_header(name, value)
    req.end_headers()
    req.wfile.write(payload)


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: str | None
    only_later_pages: bool


class ScriptedFailures:
    """Failures a test scripts per endpoint: the next ``times`` requests answered with a
    status (and ``Retry-After``), optionally only past the first page. Thread safe."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[_Failure]] = {}
        self._lock = threading.Lock()

    def add(self, key: str, status: int, times: int = 1, *, retry_after: str | None = None,
            only_later_pages: bool = False) -> None:
        with self._lock:
            self._by_key.setdefault(key, []).append(
                _Failure(status, times, retry_after, only_later_pages))

    def due(self, key: str, later_page: bool) -> tuple[int, dict[str, str]] | None:
        """The status and headers of the next failure due for ``key``, used up; None."""
        with self._lock:
            for failure in self._by_key.get(key, []):
                if failure.remaining <= 0 or (failure.only_later_pages and not later_page):
                    continue
                failure.remaining -= 1
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, headers
        return None


class LocalFake:
    """Base of the fakes: subclasses build a handler class and call :meth:`_serve`."""

    _server: ThreadingHTTPServer | None = None

    def start(self) -> Self:  # pragma: no cover - each fake defines its own
        raise NotImplementedError

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        """Listen on an ephemeral loopback port and serve in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _serve_calls(self, **methods: Callable[[BaseHTTPRequestHandler], None]) -> None:
        """Serve with a quiet handler whose ``do_<METHOD>`` calls ``methods[METHOD]``
        (``GET=self._handle``) with the request."""

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        for verb, call in methods.items():
            setattr(Handler, f"do_{verb}", lambda req, call=call: call(req))
        self._serve(Handler)

    @property
    def server_port(self) -> int:
        assert self._server is not None, f"{type(self).__name__} not started"
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
