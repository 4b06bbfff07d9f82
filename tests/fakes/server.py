"""The part every local fake shares: a threaded HTTP server on 127.0.0.1, started and
stopped the same way, usable as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


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
