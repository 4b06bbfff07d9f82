"""A webhook receiver on 127.0.0.1 that checks Pulse's signature like a customer's would."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from connectors.signed_webhook import verify

from .server import LocalFake


@dataclass
class Delivery:
    status: int
    verified: bool
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class WebhookReceiver(LocalFake):
    secret: str = "whsec-test"
    failures: list[int] = field(default_factory=list)  # statuses to answer first, in order
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hooks/pulse"

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify(fake.secret, self.headers.get("X-Pulse-Request-Timestamp", ""), raw,
                            self.headers.get("X-Pulse-Signature", ""))
                with fake._lock:
                    status = fake.failures.pop(0) if fake.failures else (200 if ok else 401)
                    fake.deliveries.append(Delivery(status, ok, json.loads(raw or b"{}"),
                                                    dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 300 else b'{"error": "nope"}')

        self._serve(Handler)
        return self
