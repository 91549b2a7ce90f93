"""Shared by the proxy and TLS tests: a local CA, the fixture Hub over TLS, a real proxy process,
and the ``provisioner`` command run with exactly the environment a test gives it."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

# Variables that choose a proxy or a CA bundle: dropped from a child's environment unless the
# test sets them, so the machine running the tests cannot change what a test checks.
NETWORK_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "ssl_cert_file",
    "ssl_cert_dir",
    "requests_ca_bundle",
    "curl_ca_bundle",
)
PROXY_SOURCE = "127.0.0.3"  # the proxy connects out from here; clients connect from 127.0.0.1
TINYPROXY = shutil.which("tinyproxy")


def server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server context with a certificate for ``names``, signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


def write_ca(ca: trustme.CA, path: Path) -> Path:
    """The CA's certificate as a PEM bundle, for SSL_CERT_FILE."""
    ca.cert_pem.write_to_path(str(path))
    return path


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without proxy or CA variables, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in NETWORK_VARIABLES}
    return {**env, **values}


@dataclass
class Ran:
    code: int
    out: str
    err: str


def error_line(ran: Ran) -> str:
    """The one ``error: ...`` line of a failed run (progress lines may precede it)."""
    assert "Traceback" not in ran.err, ran.err
    errors = [line for line in ran.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and ran.err.endswith(errors[0] + "\n"), ran.err
    return errors[0]


def provisioner(home: Path, env: dict[str, str], *args: str) -> Ran:
    """``provisioner --home HOME ARGS`` as a child process with exactly ``env``."""
    exe = Path(sys.executable).with_name("provisioner")
    done = subprocess.run(
        [str(exe), "--home", str(home), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tinyproxy:
    """Debian's tinyproxy on 127.0.0.1, connecting out from PROXY_SOURCE, logging to a file.

    ``Bind`` gives the proxy its own source address, so the fixture server can tell for every
    request whether it came through the proxy (``LoggedRequest.peer_host``) or straight from us.
    """

    def __init__(
        self,
        folder: Path,
        *,
        basic_auth: tuple[str, str] | None = None,
        connect_ports: tuple[int, ...] = (),
    ) -> None:
        assert TINYPROXY is not None
        self.port = _free_port()
        self.log_path = folder / "tinyproxy.log"
        config = folder / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            f"Bind {PROXY_SOURCE}",
            "Timeout 60",
            "MaxClients 200",
            "LogLevel Connect",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if basic_auth is not None:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        lines += [f"ConnectPort {port}" for port in connect_ports]  # a tunnel elsewhere: 403
        config.write_text("\n".join(lines) + "\n")
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [TINYPROXY, "-d", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_listening()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tinyproxy exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("tinyproxy did not start listening")

    def log(self) -> str:
        return self.log_path.read_text()

    def requests(self) -> list[str]:
        """The request lines the proxy received, e.g. ``CONNECT 127.0.0.2:4431 HTTP/1.1``."""
        marker = "]: Request (file descriptor "
        return [
            line.split("): ", 1)[1].strip() for line in self.log().splitlines() if marker in line
        ]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
