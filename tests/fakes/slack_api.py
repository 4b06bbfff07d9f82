"""A fake Slack Web API on 127.0.0.1, good enough for slack_sdk's WebClient and Bolt.

Point a ``WebClient(base_url=fake.base_url)`` at it. Every call is recorded (method name,
the parsed query/form/JSON arguments, the token) and answered the way Slack answers:
``{"ok": true, ...}`` with the fields callers read (``chat.postMessage`` returns channel
and ts, ``conversations.open`` a DM channel id, ``users.info`` the profile email,
``users.lookupByEmail`` the user of an email (or ``users_not_found``), the
``files_upload_v2`` trio an upload URL served by this same fake). It can be told to
answer the next N calls of a method with HTTP 429 + ``Retry-After`` (``ratelimited``) or
with ``invalid_auth``, so retry and error paths run through the real client code, or
hold a method's calls unanswered until released (a slow Slack).

It also serves response URLs (``fake.response_url("key")``): what Bolt's ``respond()``
posts there is recorded as calls of the pseudo-method ``"response_url"``.

Why a real server instead of mocking the client: the bot's correctness depends on what
actually crosses the wire (JSON vs form bodies, retry handlers, Bolt's per-request
client copies), and a mock would skip exactly that.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .server import LocalFake

RESPONSE_URL_METHOD = "response_url"
UPLOAD_METHOD = "file_upload"


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received."""

    method: str  # e.g. "chat.postMessage", or "response_url" / "file_upload"
    args: dict[str, Any]  # query + form + JSON arguments merged; JSON-looking strings parsed
    token: str | None
    status: int  # HTTP status the fake answered with
    ok: bool  # the "ok" field it answered with
    at: float = field(default_factory=time.monotonic)
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    remaining: int
    error: str
    status: int
    retry_after: int | None


@dataclass
class FakeUser:
    id: str
    email: str | None
    name: str
    real_name: str
    is_bot: bool = False


def _maybe_json(value: str) -> Any:
    """Slack form arguments such as ``blocks`` or ``files`` are JSON strings: parse them so
    tests can assert on structure whichever encoding the client chose."""
    text = value.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


class FakeSlack(LocalFake):
    """The fake server. Use as a context manager or call ``start()`` / ``stop()``."""

    BOT_USER_ID = "U0PULSEBOT"
    BOT_ID = "B0PULSEBOT"
    TEAM_ID = "T0PULSE01"

    def __init__(self, token: str | None = "xoxb-test-token") -> None:
        self.token = token  # when set, calls with another bearer token get invalid_auth
        self.calls: list[RecordedCall] = []
        self.history: list[RecordedCall] = []  # every call ever; ``reset()`` keeps it
        self.users: dict[str, FakeUser] = {}
        self.uploads: dict[str, bytes] = {}
        self._failures: dict[str, _Failure] = {}
        self._held: dict[str, threading.Event] = {}
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # quiet: tests assert on recorded calls, not on logs

            def do_GET(self) -> None:
                fake._handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fake._handle(self, self.rfile.read(length) if length else b"")

        self._serve(Handler)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeSlack not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What to pass as ``WebClient(base_url=...)`` / ``SLACK_API_URL``."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "default") -> str:
        """A response_url for slash-command and block_actions payloads."""
        return f"http://127.0.0.1:{self.port}/respond/{key}"

    # ------------------------------------------------------------------ setup
    def add_user(
        self, user_id: str, email: str | None, name: str | None = None, *, is_bot: bool = False
    ) -> None:
        """Make ``users.info`` know this user (with ``profile.email`` when given)."""
        real = name or user_id
        handle = real.lower().replace(" ", ".")
        with self._lock:
            self.users[user_id] = FakeUser(user_id, email, handle, real, is_bot)

    def remove_user(self, user_id: str) -> None:
        """The user leaves the workspace: ``users.info`` no longer knows them, and
        ``users.lookupByEmail`` answers ``users_not_found`` as Slack documents for a
        deactivated user."""
        with self._lock:
            self.users.pop(user_id, None)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        error: str = "ratelimited",
        *,
        retry_after: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error.

        ``ratelimited`` is sent as Slack sends it: HTTP 429, ``Retry-After`` header and
        ``{"ok": false, "error": "ratelimited"}``. Any other error (``invalid_auth``,
        ``channel_not_found``...) is HTTP 200 with ``ok: false``.
        """
        status = 429 if error == "ratelimited" else 200
        with self._lock:
            self._failures[method] = _Failure(
                times, error, status, retry_after if status == 429 else None
            )

    def hold(self, method: str) -> None:
        """Make calls of ``method`` wait, unanswered, until :meth:`release` (a slow Slack:
        what keeps a handler busy for as long as a test needs)."""
        with self._lock:
            self._held[method] = threading.Event()

    def release(self, method: str) -> None:
        """Answer the held calls of ``method``, and the later ones at once."""
        with self._lock:
            held = self._held.pop(method, None)
        if held is not None:
            held.set()

    def reset(self) -> None:
        """Forget recorded calls and pending failures (users stay)."""
        with self._lock:
            self.calls.clear()
            self._failures.clear()

    # ------------------------------------------------------------------ queries
    def calls_to(self, method: str, *, ok_only: bool = True) -> list[RecordedCall]:
        """Recorded calls of one method, successful ones unless ``ok_only=False``."""
        with self._lock:
            return [c for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def responses(self) -> list[RecordedCall]:
        """What was posted to response URLs (Bolt's ``respond()``)."""
        return self.calls_to(RESPONSE_URL_METHOD)

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 10.0,
        where: Callable[[RecordedCall], bool] | None = None,
    ) -> list[RecordedCall]:
        """Block until ``count`` successful calls of ``method`` (matching ``where``) arrived.

        Lazy listeners answer after the HTTP ack, so tests must wait for the follow-up
        call instead of asserting right after the request returns.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [
                    c
                    for c in self.calls
                    if c.method == method and c.ok and (where is None or where(c))
                ]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} call(s) of {method}, got {len(found)}; "
                        f"recorded: {[c.method for c in self.calls]}"
                    )
                self._lock.wait(left)

    # ------------------------------------------------------------------ serving
    def _record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)
            self.history.append(call)
            self._lock.notify_all()

    def _handle(self, req: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(req.path)
        headers = {k.lower(): v for k, v in req.headers.items()}
        if parts.path.startswith("/respond/"):
            try:
                args = json.loads(body or b"{}")
            except ValueError:
                args = {"_raw": body.decode("utf-8", "replace")}
            self._record(
                RecordedCall(
                    RESPONSE_URL_METHOD, args, None, 200, True, path=parts.path, headers=headers
                )
            )
            self._send(req, 200, b"ok", "text/plain")
            return
        if parts.path.startswith("/upload/"):
            file_id = parts.path.rsplit("/", 1)[-1]
            with self._lock:
                self.uploads[file_id] = body
            self._record(
                RecordedCall(
                    UPLOAD_METHOD,
                    {"file_id": file_id, "length": len(body)},
                    None,
                    200,
                    True,
                    path=parts.path,
                    headers=headers,
                )
            )
            self._send(req, 200, f"OK - {len(body)}".encode(), "text/plain")
            return
        if not parts.path.startswith("/api/"):
            self._send(req, 404, b"not found", "text/plain")
            return
        method = parts.path[len("/api/") :]
        args: dict[str, Any] = {k: _maybe_json(v) for k, v in parse_qsl(parts.query)}
        ctype = headers.get("content-type", "")
        if body:
            if "json" in ctype:
                with contextlib.suppress(ValueError):
                    args.update(json.loads(body))
            elif "form" in ctype:
                args.update(
                    {k: _maybe_json(v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)}
                )
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else args.get("token")

        status, payload, extra = self._answer(method, args, token)
        self._record(
            RecordedCall(
                method,
                args,
                token,
                status,
                bool(payload.get("ok")),
                path=parts.path,
                headers=headers,
            )
        )
        self._send(req, status, json.dumps(payload).encode(), "application/json", extra)

    def _send(
        self,
        req: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        ctype: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        req.send_response(status)
        req.send_header("Content-Type", f"{ctype}; charset=utf-8")
        req.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(body)

    def _next_ts(self) -> str:
        return f"{1_760_000_000 + next(self._ts)}.{next(self._ids):06d}"

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            held = self._held.get(method)
        if held is not None:
            held.wait()
        with self._lock:
            failure = self._failures.get(method)
            if failure and failure.remaining > 0:
                failure.remaining -= 1
                extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                return failure.status, {"ok": False, "error": failure.error}, extra
        if self.token is not None and token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": True}, {}
        return 200, handler(args), {}

    # ------------------------------------------------------------------ methods
    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://pulse-test.slack.com/",
            "team": "Pulse Test",
            "user": "pulse",
            "team_id": self.TEAM_ID,
            "user_id": self.BOT_USER_ID,
            "bot_id": self.BOT_ID,
            "is_enterprise_install": False,
        }

    def _dm_channel(self, user: str) -> str:
        return "D" + user[1:] if user[:1] in {"U", "W"} else user

    def _message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.BOT_USER_ID,
            "bot_id": self.BOT_ID,
            "ts": ts,
            "text": args.get("text", ""),
        }
        if "blocks" in args:
            msg["blocks"] = args["blocks"]
        return msg

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        # Slack answers a post to a user id with the DM channel it went to.
        return {
            "ok": True,
            "channel": self._dm_channel(str(channel)),
            "ts": ts,
            "message": self._message(args, ts),
        }

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        return {
            "ok": True,
            "channel": args["channel"],
            "ts": args["ts"],
            "text": args.get("text", ""),
            "message": self._message(args, str(args["ts"])),
        }

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        first = users.split(",")[0]
        return {"ok": True, "channel": {"id": self._dm_channel(first), "is_im": True}}

    def _m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://api.slack.com/methods/users.lookupByEmail: the user object, or
        ``users_not_found`` for an email no (non-deleted) user has; case-insensitive."""
        email = str(args.get("email") or "").strip().lower()
        with self._lock:
            user = next(
                (u for u in self.users.values() if (u.email or "").lower() == email), None
            )
        if user is None or not email:
            return {"ok": False, "error": "users_not_found"}
        return self._m_users_info({"user": user.id})

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user") or "")
        with self._lock:
            user = self.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile: dict[str, Any] = {
            "real_name": user.real_name,
            "display_name": user.name,
        }
        if user.email is not None:
            profile["email"] = user.email
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self.TEAM_ID,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": False,
                "is_bot": user.is_bot,
                "tz": "Europe/London",
                "profile": profile,
            },
        }

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict) or not args.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return {
            "ok": True,
            "view": {"id": f"V{next(self._ids):08d}", "team_id": self.TEAM_ID, **view},
        }

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        return {
            "ok": True,
            "view": {"id": f"V{next(self._ids):08d}", "team_id": self.TEAM_ID, **view},
        }

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not args.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        return {
            "ok": True,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
            "file_id": file_id,
        }

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            missing = [f["id"] for f in files if f.get("id") not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        return {
            "ok": True,
            "files": [
                {"id": f["id"], "title": f.get("title") or "", "name": f.get("title") or ""}
                for f in files
            ],
        }
