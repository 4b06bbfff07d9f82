"""Check a running Pulse stack from outside, as Slack and a monitoring system would.

    python3 deploy/check_stack.py --url http://127.0.0.1:3000 --secret "$SLACK_SIGNING_SECRET" \
        --listen-port 8765 --callback-host host.containers.internal

1. ``GET /healthz`` answers 200 (waits up to ``--wait`` seconds for the server to start);
2. ``GET /readyz`` answers 200 with ``"ready": true`` (database reachable, schema current);
3. ``GET /metrics`` is Prometheus' text format with Pulse's request histogram;
4. a ``/health help`` slash command, signed as Slack signs it, is acknowledged with 200,
   and its answer reaches ``response_url`` (a listener this script runs): Bolt, the lazy
   listener and the outgoing call all work;
5. a ``/health <account>`` command goes through the database (the user is looked up with
   ``users.info`` on the same listener, which the stack reaches as ``SLACK_API_URL``) and
   is answered with something other than the error notice;
6. the same request with a wrong signature is refused with 401.

Standard library only: it runs on the host, outside the image. Exit 0 when every check
passes, 1 otherwise, with one line per check.
Slack's signing: https://api.slack.com/authentication/verifying-requests-from-slack
(``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

REFUSAL = "I can't show that account"
SORRY = "Sorry, something went wrong"
HELP = "Pulse commands:"


def sign(secret: str, body: str, timestamp: int) -> dict[str, str]:
    """Slack's headers for ``body``: ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature``."""
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


class Listener(ThreadingHTTPServer):
    """Slack's side of the conversation: ``response_url`` and the Web API's ``users.info``."""

    def __init__(self, port: int) -> None:
        super().__init__(("0.0.0.0", port), Handler)
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()


class Handler(BaseHTTPRequestHandler):
    server: Listener

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.path.startswith("/api/users.info"):
            answer: dict[str, Any] = {"ok": True, "user": {
                "id": "U0CHECK01", "name": "check", "profile": {"email": "check@example.com"}}}
        elif self.path.startswith("/api/"):
            answer = {"ok": True}
        else:  # a response_url
            self.server.replies.put({"path": self.path, **json.loads(body or "{}")})
            answer = {"ok": True}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
          timeout: float = 10) -> tuple[int, str]:
    """The status and body of a request; status 0 and the reason when nothing answered."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:  # refused, reset, timed out
        return 0, str(exc)


def wait_for(url: str, seconds: float) -> tuple[int, str]:
    deadline = time.monotonic() + seconds
    while True:
        status, body = fetch(url, timeout=3)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(1)


def slash(base: str, secret: str, text: str, response_url: str, *, forged: bool = False
          ) -> int:
    body = urlencode({
        "token": "unused", "team_id": "T0CHECK01", "team_domain": "check",
        "channel_id": "C0CHECK01", "channel_name": "check", "user_id": "U0CHECK01",
        "user_name": "check", "command": "/health", "text": text,
        "api_app_id": "A0CHECK01", "response_url": response_url,
        "trigger_id": "1.2.3",
    })
    headers = sign(secret + ("x" if forged else ""), body, int(time.time()))
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    status, _ = fetch(f"{base}/slack/events", body.encode(), headers)
    return status


def reply_to(listener: Listener, path: str, seconds: float = 30) -> dict[str, Any] | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            reply = listener.replies.get(timeout=1)
        except queue.Empty:
            continue
        if reply["path"] == path:
            return reply
    return None


def run_checks(args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    base = args.url.rstrip("/")
    results: list[tuple[str, bool, str]] = []
    status, body = wait_for(f"{base}/healthz", args.wait)
    results.append(("GET /healthz", status == 200, f"{status} {body.strip()[:60]}"))
    status, body = wait_for(f"{base}/readyz", args.wait)
    try:
        document = json.loads(body)
        ready, body = document.get("ready") is True, json.dumps(document)
    except ValueError:
        ready = False
    results.append(("GET /readyz", status == 200 and ready, f"{status} {body.strip()[:200]}"))
    status, body = fetch(f"{base}/metrics")
    has_series = "pulse_http_request_duration_seconds" in body
    results.append(("GET /metrics", status == 200 and has_series,
                    f"{status}, {len(body.splitlines())} lines, request histogram "
                    f"{'present' if has_series else 'MISSING'}"))

    listener = Listener(args.listen_port)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    callback = f"http://{args.callback_host}:{args.listen_port}"
    try:
        status = slash(base, args.secret, "help", f"{callback}/respond/help")
        reply = reply_to(listener, "/respond/help") if status == 200 else None
        text = (reply or {}).get("text", "")
        results.append(("signed /health help", status == 200 and text.startswith(HELP),
                        f"ack {status}; reply: {text[:70] or 'none'}"))
        status = slash(base, args.secret, "Acme", f"{callback}/respond/acme")
        reply = reply_to(listener, "/respond/acme") if status == 200 else None
        text = (reply or {}).get("text", "")
        results.append(("signed /health Acme (database)",
                        status == 200 and bool(text) and not text.startswith(SORRY),
                        f"ack {status}; reply: {text[:70] or 'none'}"))
        status = slash(base, args.secret, "help", f"{callback}/respond/forged", forged=True)
        results.append(("wrongly signed /health", status == 401, f"{status}"))
    finally:
        listener.shutdown()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--secret", required=True, help="the stack's SLACK_SIGNING_SECRET")
    parser.add_argument("--listen-port", type=int, default=8765,
                        help="port of this script's response_url and Slack API listener")
    parser.add_argument("--callback-host", default="host.containers.internal",
                        help="how the stack reaches this machine")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for start")
    args = parser.parse_args()
    results = run_checks(args)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
