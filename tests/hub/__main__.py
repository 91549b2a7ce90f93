"""``python -m tests.hub --root DIR``: serve fixture repos; the first stdout line is the URL."""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
import threading
from pathlib import Path

from .repos import FixtureHub
from .server import DEFAULT_TOKENS, HubServer


def main(argv: list[str] | None = None) -> int:
    """Parse options, start the server, print its URL, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.hub", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="FixtureHub directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cdn-host", default="127.0.0.2")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--cdn-threshold", type=int, default=1 << 20)
    parser.add_argument("--token", action="append", help="accepted token (repeatable)")
    parser.add_argument("--mirror", action="store_true", help="only tree listing and resolve")
    parser.add_argument("--connection-rate", type=float, default=0.0, help="bytes/s each")
    parser.add_argument("--link-rate", type=float, default=0.0, help="bytes/s in all")
    parser.add_argument("--response-delay", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--tls-cert", type=Path, help="serve https with this PEM certificate")
    parser.add_argument("--tls-key", type=Path, help="... and this PEM key")
    parser.add_argument(
        "--external-cdn", default="", help="redirect file bodies to this base URL instead"
    )
    parser.add_argument(
        "--demo", action="store_true", help="add a small GGUF repo if root is empty"
    )
    args = parser.parse_args(argv)

    hub = FixtureHub(args.root)
    if args.demo and not hub.repos():
        from tests.makers import make_gguf_repo, make_safetensors_repo

        make_gguf_repo(hub, "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF")
        make_safetensors_repo(hub, "sentence-transformers/all-MiniLM-L6-v2")
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    server = HubServer(
        hub,
        host=args.host,
        port=args.port,
        cdn_host=args.cdn_host,
        page_size=args.page_size,
        cdn_threshold=args.cdn_threshold,
        tokens=frozenset(args.token) if args.token else DEFAULT_TOKENS,
        mirror=args.mirror,
        connection_rate=args.connection_rate,
        link_rate=args.link_rate,
        response_delay=args.response_delay,
        tls=tls,
        external_cdn=args.external_cdn,
    )
    url = server.start()
    print(url, flush=True)
    print(f"cdn {server.cdn_url}", file=sys.stderr, flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
