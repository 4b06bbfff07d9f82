"""HTTPS listeners on 127.0.0.1 for fakes that stand for several hosts, and a CONNECT proxy.

A fake that plays several hosts (Salesforce's login.salesforce.com, test.salesforce.com and
an org's My Domain) opens one :class:`HttpsListener` per host, each on its own ephemeral
port, all with one self-signed certificate the test trusts through ``REQUESTS_CA_BUNDLE``
(:func:`fakes.tls.write_self_signed`). A client library that builds a host name itself,
with no way to give it a URL, reaches the listeners through :class:`ConnectProxy`: with
``HTTPS_PROXY`` pointing at it, requests sends ``CONNECT login.salesforce.com:443`` and the
proxy tunnels the bytes, unread, to the listener standing for that host (the certificate
names those hosts too, so TLS is verified end to end). Any other host gets ``502``: a
test never reaches the real service. The listeners answer HTTP/1.0 (one request per
connection), so stopping them leaves no connection behind.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

Answer = tuple[int, dict[str, str], str]
"""What a fake answers: status, headers (Content-Type defaults to JSON), body text."""


@dataclass
class Request:
    """A request as a listener received it; ``url`` is ``https://{Host header}{path}``."""

    method: str
    url: str
    headers: Message
    body: bytes
    listener: str  # the name of the listener that received it

    @property
    def host(self) -> str:
        return urlparse(self.url).netloc


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]
    text: str


@dataclass
class Call:
    """One request and the answer it got."""

    request: Request
    response: Response


POLL_SECONDS = 0.02
"""How often a serving loop checks whether it is asked to stop (the wait in :func:`stop`)."""


def serve(server: ThreadingHTTPServer) -> None:
    """Serve ``server`` in a daemon thread."""
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
    ).start()


def stop(*servers: ThreadingHTTPServer) -> None:
    """Stop the servers together: one poll interval in all, not one per server."""
    waits = [threading.Thread(target=server.shutdown) for server in servers]
    for wait in waits:
        wait.start()
    for wait in waits:
        wait.join()
    for server in servers:
        server.server_close()


class HttpsListener(ThreadingHTTPServer):
    """One host of a fake: TLS on an ephemeral port of 127.0.0.1, named ``name``; every
    request is answered by ``dispatch``."""

    daemon_threads = True

    def __init__(
        self, name: str, dispatch: Callable[[Request], Answer], context: ssl.SSLContext
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.dispatch = dispatch
        self.context = context

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # the handshake happens in the request's own thread, on its first read
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up mid-handshake is the client's business


class _Handler(BaseHTTPRequestHandler):
    server: HttpsListener

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = f"https://{self.headers.get('Host', '')}{self.path}"
        request = Request(self.command, url, self.headers, body, self.server.name)
        status, headers, text = self.server.dispatch(request)
        data = text.encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer  # noqa: N815

    def log_message(self, *args: Any) -> None:  # quiet
        pass


class ConnectProxy(ThreadingHTTPServer):
    """``CONNECT host:443`` tunnelled to the local port ``routes[host]``; else 502."""

    daemon_threads = True

    def __init__(self, routes: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.routes = routes
        self.tunnelled: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Tunnel(BaseHTTPRequestHandler):
    server: ConnectProxy

    def do_CONNECT(self) -> None:  # noqa: N802 - http.server's naming
        host, _, port = self.path.rpartition(":")
        target = self.server.routes.get(host) if port == "443" else None
        if target is None:
            self.send_error(502, f"{self.path} is not one of the fake's hosts")
            return
        self.server.tunnelled.append(host)
        upstream = socket.create_connection(("127.0.0.1", target))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        _relay(self.connection, upstream)
        self.close_connection = True

    def log_message(self, *args: Any) -> None:  # quiet
        pass


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    peers = {client: upstream, upstream: client}
    with selectors.DefaultSelector() as selector, upstream:
        for sock in peers:
            selector.register(sock, selectors.EVENT_READ)
        while events := selector.select(timeout=30):
            for key, _ in events:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                peers[key.fileobj].sendall(data)  # type: ignore[index]
