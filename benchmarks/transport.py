"""What the wire alone costs, plain against TLS: ``python benchmarks/transport.py``.

Reads one 1 GiB body from the fixture Hub's CDN over the engine's connection layer
(``_wire.open_url``, ``http.client``, one reused 1 MiB buffer), nothing written or hashed, from a
plain server and from a twin speaking https (trustme CA), and prints the reader's CPU seconds
per GiB. Uses ``pull.py``'s work folder (run ``pull.py --scenarios a`` once to build it).
"""

from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

REPO, FILE = "Bench/One-GiB", "model-Q4_K_M.gguf"


def read_once(url: str) -> None:
    """The child: one GET, every byte into one buffer; prints MB, seconds and CPU s/GiB."""
    from model_provisioner._transfer._wire import Connections, open_url

    conns = Connections(30.0)
    buffer = memoryview(bytearray(1 << 20))
    cpu, wall = time.process_time(), time.monotonic()
    response, final = open_url(conns, url, {"Accept-Encoding": "identity"}, lambda _: {}, 5)
    total = 0
    while got := response.readinto(buffer):
        total += got
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    sock = conns.get(final).http.sock
    cipher = sock.cipher()[0] if isinstance(sock, ssl.SSLSocket) else "plain"
    per_gib = cpu * (1 << 30) / total
    print(f"{cipher:<24} {total / wall / 1e6:7.0f} MB/s  client CPU {per_gib:.2f} s/GiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "provisioner-bench"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", metavar="URL")
    args = parser.parse_args()
    if args.child:
        read_once(args.child)
        return 0

    from benchmarks.pull import make_tls
    from tests.hub import FixtureHub, start_subprocess_server

    hub_root = args.work / "hub"
    repo = FixtureHub(hub_root).find_repo(REPO)
    if repo is None:
        raise SystemExit(f"no {REPO} under {hub_root}: run pull.py --scenarios a first")
    commit = FixtureHub(hub_root).resolve(repo, "main")
    ca, pem = make_tls(args.work / "tls")
    servers = [
        start_subprocess_server(hub_root),
        start_subprocess_server(hub_root, args=["--tls-cert", str(pem)]),
    ]
    env = {**os.environ, "SSL_CERT_FILE": str(ca), "PYTHONPATH": f"{ROOT / 'src'}"}
    try:
        for _ in range(args.runs):
            for _, url in servers:
                target = f"{url}/{REPO}/resolve/{commit}/{FILE}"
                command = [sys.executable, __file__, "--child", target]
                subprocess.run(command, env=env, check=True)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
