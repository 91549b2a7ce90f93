"""Request bodies are capped: a huge POST gets 413 long before it is read, never buffered."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from model_provisioner.server import ServiceOptions
from tests.server_helpers import serve

HUGE = 300 * 1000 * 1000
CHUNK = b"x" * (64 << 10)


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Status and JSON body of one HTTP/1.1 response (the service closes after a 413)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    headers = dict(
        line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line
    )
    length = int(headers.get("content-length", headers.get("Content-Length", "0")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), json.loads(body[:length])


def test_a_declared_huge_body_is_refused_before_a_byte_of_it_is_read(home: Path) -> None:
    with serve(home) as served, connect(served.url) as sock:
        sock.sendall(
            b"POST /v1/downloads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % HUGE
        )
        status, body = read_response(sock)
    assert status == 413
    assert body == {"error": {"code": "too-large", "message": "request body over 1.0 MB"}}


def test_a_streamed_huge_body_is_cut_off_at_the_limit(home: Path) -> None:
    """Chunked, no length: the service counts what arrives and answers 413 past the limit,
    while the client is still far from done sending 300 MB."""
    options = ServiceOptions(max_body=256 << 10)
    with serve(home, options=options) as served, connect(served.url) as sock:
        sent = 0

        def stream() -> None:
            nonlocal sent
            try:
                sock.sendall(
                    b"POST /v1/downloads HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                while sent < HUGE:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                    sent += len(CHUNK)
            except OSError:
                return  # the service closed the connection: what we want

        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        status, body = read_response(sock)
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(10)
    assert status == 413 and body["error"] == {
        "code": "too-large",
        "message": "request body over 262.1 KB",
    }
    assert sent < HUGE // 10


def test_small_bodies_still_pass(home: Path) -> None:
    with serve(home) as served, served.client() as client:
        answer = client.post("/v1/downloads", json={"reference": "../bad"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid-reference"
