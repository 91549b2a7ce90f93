"""A tiny HTTP server whose answers are raw bytes a test scripts: what aiohttp will not send
(trickled bodies, broken redirects, hostile Link headers)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Answer = Callable[[str, dict[str, str]], Iterable[bytes]]


@dataclass
class Seen:
    """Requests received: (path, headers with lower-case names)."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def response(status: int, body: bytes = b"", **headers: str) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@contextmanager
def raw_server(answer: Answer, host: str = "127.0.0.1") -> Iterator[tuple[str, Seen]]:
    """Serve ``answer(path, headers)`` (its chunks written as they come) on ``host``."""
    seen = Seen()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request_line = self.rfile.readline().decode("latin-1").split()
            headers: dict[str, str] = {}
            while (line := self.rfile.readline().decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            path = request_line[1] if len(request_line) > 1 else "/"
            seen.requests.append((path, headers))
            try:
                for chunk in answer(path, headers):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = socketserver.ThreadingTCPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
