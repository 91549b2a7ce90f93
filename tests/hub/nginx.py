"""Debian's nginx as the fixture Hub's CDN: a file server nobody here wrote.

The fixture Hub answers the metadata and redirects file bodies to ``NginxCdn.url`` (its
``external_cdn`` option); nginx serves the same bytes from the fixture's own tree, with its own
Range, keep-alive and ``sendfile`` code. Each published commit is one symlink,
``<dir>/root/repos/<repo id>/<commit>`` -> the commit's tree, which is the layout of the
fixture's CDN URLs (nginx ignores their signature query). Used by a test that pulls through it
and by benchmarks/pull.py; both skip when ``nginx`` is not installed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .repos import FixtureHub

CONFIG = """\
daemon off;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout {keepalive};
    default_type application/octet-stream;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen {host}:{port};
        root {dir}/root;
    }}
}}
"""


def nginx_binary() -> str | None:
    """The nginx executable (Debian keeps it in /usr/sbin, not always on PATH), or None."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class NginxCdn:
    """One nginx process (master + one worker) serving published commits on ``host``."""

    def __init__(self, folder: Path, host: str = "127.0.0.3", *, keepalive: bool = True) -> None:
        self.dir = folder
        self.host = host
        self.keepalive = "75s" if keepalive else "0"  # 0: every answer closes its connection
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def publish(self, hub: FixtureHub, repo_id: str, commit: str) -> None:
        """Serve ``repo_id`` at ``commit`` under ``/repos/<repo id>/<commit>/<path>``."""
        repo = hub.find_repo(repo_id)
        if repo is None:
            raise ValueError(f"no repo {repo_id}")
        link = self.dir / "root" / "repos" / repo.id / commit
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(hub.file_path(repo, commit, "."), target_is_directory=True)

    def start(self, timeout: float = 10.0) -> str:
        """Write the config, start nginx in the foreground, wait until it accepts."""
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed")
        for name in ("root", "tmp"):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        self.port = _free_port(self.host)
        # As root, nginx's workers would run as nobody, who cannot enter pytest's 0700 folders.
        user = "user root;" if os.geteuid() == 0 else ""
        text = CONFIG.format(
            user=user, dir=self.dir, host=self.host, port=self.port, keepalive=self.keepalive
        )
        return self._launch([binary], text, timeout)

    def _launch(self, command: list[str], config: str, timeout: float) -> str:
        """Write ``config``, run ``command`` on it in the foreground, wait until it accepts."""
        path = self.dir / "nginx.conf"
        path.write_text(config)
        log = self.dir / "error.log"
        self.proc = subprocess.Popen(
            [*command, "-p", str(self.dir), "-e", str(log), "-c", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {log.read_text(errors='replace')[-500:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self.url
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start listening")

    def pids(self) -> list[int]:
        """The master's and its workers' process ids (for CPU accounting)."""
        if self.proc is None:
            return []
        found = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rpartition(")")[2].split()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid:
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
