"""A CDN host behind a link the kernel shapes: a network namespace, a veth pair, tc, nginx.

The fixture server's own shaping (shaping.py) paces its own sends in Python; a real CDN is a
different program behind a real link. Here the CDN is Debian's nginx in its own network
namespace, capping each request with ``limit_rate`` as a CDN caps each connection; the veth
pair joining it to this host is shaped by the kernel: an HTB class caps the link (the CDN's
egress), and netem, where the kernel has it, delays each direction by half the round trip.
Runs as root only (``ip netns``, ``tc``); ``available()`` says why not otherwise. Every name is
unique per instance, so parallel runs do not clash, and ``close()`` (called on any failure
too) deletes the namespace, which takes the veth pair and its qdiscs with it.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .nginx import NginxCdn, nginx_binary
from .process import PROJECT_ROOT

# Private addresses for the veth pairs: each link takes a random /30 of it.
SHAPED_SUBNET = ipaddress.ip_network("10.213.0.0/16")
PORT = 8080
TLS_PORT = 8443

CONFIG = """\
daemon off;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format served '$connection $status $body_bytes_sent';
    access_log {dir}/access.log served;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    limit_rate {limit_rate};
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen {host}:{port};
        {tls}
        root {dir}/root;
    }}
}}
"""
TLS_LISTEN = "listen {host}:{port} ssl; ssl_certificate {pem}; ssl_certificate_key {pem};"


def available() -> str | None:
    """None when a shaped link can be built here, else why not (for a skip message)."""
    if os.geteuid() != 0:
        return "needs root (ip netns, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin") is None:
            return f"{tool} is not installed (iproute2)"
    if nginx_binary() is None:
        return "nginx is not installed"
    return None


def _run(*command: str) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {proc.stderr.strip()}")


@dataclass
class ShapedLink:
    """This host (``host``) and a namespace (``cdn``) joined by a veth pair shaped by tc.

    ``link``: bytes/s from the CDN to this host (0: unshaped); ``rtt``: seconds of round trip
    added, by netem or, in a kernel without it, by tests.hub.delay (0: the veth's own, well
    under a millisecond).
    """

    link: float = 0.0
    rtt: float = 0.0
    # Bytes the link's queue holds (0: the kernel's default of 1000 packets, which with the
    # veth's 64 KiB GSO packets is tens of MB: hundreds of ms of queue at 200 MB/s).
    queue: int = 0
    name: str = field(default_factory=lambda: "pv" + secrets.token_hex(4))
    host: str = ""
    cdn: str = ""
    delay: str = ""  # how the round trip is added: "netem", "tun" (tests.hub.delay) or ""
    delayer: subprocess.Popen[str] | None = None

    def open(self) -> ShapedLink:
        """Create the namespace, the veth pair, the addresses and the qdiscs."""
        pair = SHAPED_SUBNET[random.randrange(0, SHAPED_SUBNET.num_addresses, 4)]
        self.host, self.cdn = str(pair + 1), str(pair + 2)
        here, there = f"{self.name}h", f"{self.name}c"
        inside = ("ip", "netns", "exec", self.name)
        try:
            _run("ip", "netns", "add", self.name)
            _run("ip", "link", "add", here, "type", "veth", "peer", "name", there)
            _run("ip", "link", "set", there, "netns", self.name)
            _run("ip", "addr", "add", f"{self.host}/30", "dev", here)
            _run("ip", "link", "set", here, "up")
            _run(*inside, "ip", "addr", "add", f"{self.cdn}/30", "dev", there)
            _run(*inside, "ip", "link", "set", there, "up")
            _run(*inside, "ip", "link", "set", "lo", "up")
            self._shape(inside, there, here)
        except BaseException:
            self.close()
            raise
        return self

    def _shape(self, inside: tuple[str, ...], there: str, here: str) -> None:
        """HTB caps the CDN's egress; netem (if the kernel has it) delays both directions."""
        half = f"{self.rtt * 500:.3f}ms"
        if self.link > 0:
            rate = f"{int(self.link * 8)}bit"
            tc = (*inside, "tc")
            _run(*tc, "qdisc", "add", "dev", there, "root", "handle", "1:", "htb", "default", "1")
            htb = ("htb", "rate", rate, "burst", "256k", "cburst", "256k")
            _run(*tc, "class", "add", "dev", there, "parent", "1:", "classid", "1:1", *htb)
            if self.queue > 0:  # netem, if added below, replaces it (and queues 1000 packets)
                fifo = ("bfifo", "limit", str(self.queue))
                _run(*tc, "qdisc", "add", "dev", there, "parent", "1:1", "handle", "10:", *fifo)
        if self.rtt <= 0:
            return
        try:
            parent = ["parent", "1:1"] if self.link > 0 else ["root"]
            _run(*inside, "tc", "qdisc", "replace", "dev", there, *parent, "netem", "delay", half)
            _run("tc", "qdisc", "add", "dev", here, "root", "netem", "delay", half)
            self.delay = "netem"
        except RuntimeError:
            self._tun_delay(inside, here)

    def _tun_delay(self, inside: tuple[str, ...], here: str) -> None:
        """No sch_netem here: route this host's packets to the CDN through tests.hub.delay,
        which holds each for the whole round trip (see there). Requests and answers take
        different devices: reverse-path checks on ours are loose (this side) or off (inside)."""
        into, out = f"{self.name}t", f"{self.name}u"
        _run("ip", "tuntap", "add", "dev", into, "mode", "tun")
        _run("ip", "link", "set", into, "up")
        _run(*inside, "ip", "tuntap", "add", "dev", out, "mode", "tun")
        _run(*inside, "ip", "link", "set", out, "up")
        for device in ("all", out):  # no address on it: any check at all would drop
            _run(*inside, "sh", "-c", f"echo 0 > /proc/sys/net/ipv4/conf/{device}/rp_filter")
        Path(f"/proc/sys/net/ipv4/conf/{here}/rp_filter").write_text("2")
        self.delayer = subprocess.Popen(
            [sys.executable, "-m", "tests.hub.delay", self.name, into, out, str(self.rtt)],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.delayer.stdout is not None
        if self.delayer.stdout.readline().strip() != "ready":
            raise RuntimeError("tests.hub.delay did not start")
        _run("ip", "route", "add", f"{self.cdn}/32", "dev", into, "src", self.host)
        self.delay = "tun"

    def connect_rtt(self, port: int = PORT, tries: int = 5) -> float:
        """Median seconds of a TCP connect to the CDN: one round trip, as the kernel sees it."""
        times = []
        for _ in range(tries):
            started = time.perf_counter()
            socket.create_connection((self.cdn, port), timeout=5).close()
            times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    def close(self) -> None:
        """Stop the delayer; delete the namespace (its devices, the veth peer and every qdisc
        go with it) and this side's tun device."""
        if self.delayer is not None:
            self.delayer.kill()
            self.delayer.wait()
            self.delayer = None
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        for device in (f"{self.name}h", f"{self.name}t"):
            subprocess.run(["ip", "link", "del", device], capture_output=True)


class ShapedNginx(NginxCdn):
    """Debian's nginx inside the link's namespace, ``limit_rate`` bytes/s per request, and an
    access log of ``connection status bytes`` per request (what it opened and sent)."""

    def __init__(self, folder: Path, link: ShapedLink, limit_rate: float, tls: Path | None = None):
        super().__init__(folder, host=link.cdn)
        self.link = link
        self.limit_rate = int(limit_rate)
        self.tls = tls
        self.port = TLS_PORT if tls else PORT

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> str:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed")
        for name in ("root", "tmp"):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        tls = TLS_LISTEN.format(host=self.host, port=TLS_PORT, pem=self.tls) if self.tls else ""
        text = CONFIG.format(
            dir=self.dir, host=self.host, port=PORT, tls=tls, limit_rate=self.limit_rate
        )
        return self._launch(["ip", "netns", "exec", self.link.name, binary], text, timeout)

    def requests(self) -> list[tuple[int, int, int]]:
        """(connection serial, status, body bytes sent) of every request logged so far."""
        path = self.dir / "access.log"
        if not path.exists():
            return []
        rows = [line.split() for line in path.read_text().splitlines()]
        return [(int(c), int(s), int(n)) for c, s, n in (r for r in rows if len(r) == 3)]

    def mark(self) -> int:
        """Ask for a missing path; return the serial of the connection that carried it. Every
        connection nginx accepted earlier has a lower serial, every later one a higher."""
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(f"{self.url}/mark-{secrets.token_hex(4)}", timeout=10).close()
        except urllib.error.HTTPError as error:
            error.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            marks = [c for c, status, _ in self.requests() if status == 404]
            if marks:
                return marks[-1]
            time.sleep(0.01)
        raise RuntimeError("nginx did not log the mark")

    def sent(self) -> int:
        """Body bytes nginx has sent so far, over every connection."""
        return sum(n for _, _, n in self.requests())
