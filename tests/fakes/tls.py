"""An HTTPS server on 127.0.0.1 whose certificate no trust store holds.

What a client sees in front of a server signed by a private CA or behind a TLS-inspecting
proxy: the certificate is self-signed, made for the test with ``cryptography`` (for
``127.0.0.1``, valid for a day) and written to :attr:`SelfSignedServer.cert_path`, so a
test can also trust it (``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``) and see the request
get through. Every TCP connection is counted (each is one TLS handshake attempted); a
request that gets through is recorded and answered ``200 {}``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .server import LocalFake


def write_self_signed(
    directory: Path, stem: str = "untrusted", dns_names: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and ``dns_names``) and its key, as PEM
    files ``{stem}-cert.pem`` and ``{stem}-key.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"pulse-test-{stem}")])
    alt_names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    alt_names += [x509.DNSName(host) for host in dns_names]
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(alt_names),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: SelfSignedServer, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), fake.handler())
        self.fake = fake
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        with self.fake.lock:
            self.fake.connections += 1
        # a client that does not trust the certificate aborts the handshake here: an
        # OSError, which the server loop takes as "no request"
        return self.context.wrap_socket(sock, server_side=True), address


class SelfSignedServer(LocalFake):
    """``with SelfSignedServer(tmp_path) as server:`` serves on ``server.base_url``."""

    def __init__(self, directory: Path) -> None:
        self.cert_path, self.key_path = write_self_signed(directory)
        self.connections = 0
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server_port}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with fake.lock:
                    fake.paths.append(self.path)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        return Handler

    def start(self) -> SelfSignedServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        server = _TlsServer(self, context)
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self
