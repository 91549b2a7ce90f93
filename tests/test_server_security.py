"""Bind policy and bearer tokens: loopback by default, a token for anything else."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from model_provisioner import ModelProvisioner, UsageError
from model_provisioner.server import ServiceOptions, create_app
from model_provisioner.server._auth import BearerAuth
from model_provisioner.server._serve import build_service, check_bind
from tests.conftest import GGUF_REPO, FixtureRepo
from tests.hub import HubServer
from tests.server_helpers import serve

TOKEN = "s3cret-token-for-tests"
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "myhost.lan"])
def test_non_loopback_bind_without_token_refuses(host: str, home: Path) -> None:
    with pytest.raises(UsageError, match="without a token"):
        build_service(ModelProvisioner(home), host=host, port=0)
    check_bind(host, TOKEN)  # with a token it is allowed


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_loopback_needs_no_token(host: str) -> None:
    check_bind(host, None)


def test_cli_refuses_to_start_and_says_why(home: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "provisioner"), "--home", str(home), "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a token" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_is_its_own_one_line_error(home: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(BIN / "provisioner"), "--home", str(home), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
    assert (result.returncode, result.stderr) == (
        1,
        f"error: cannot listen on 127.0.0.1:{port}: the port is in use"
        " (pick another with --port)\n",
    )


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x/y", path)


def test_every_route_but_health_needs_the_token(home: Path) -> None:
    app = create_app(ModelProvisioner(home), ServiceOptions(token=TOKEN))
    paths = sorted(app.openapi()["paths"])
    assert "/v1/downloads" in paths and "/{org}/{name}/resolve/{rest}" in paths
    with serve(home, options=ServiceOptions(token=TOKEN)) as served, served.client() as client:
        assert client.get("/health").status_code == 200
        urls = [_concrete(p) for p in paths if p not in ("/health", "/")]
        urls += ["/no/such/route"]
        for url in urls:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                for method in ("GET", "POST", "DELETE"):
                    response = client.request(method, url, headers=headers)
                    assert response.status_code == 401, (method, url, headers)
                    assert response.json()["error"]["code"] == "unauthorized"
                    assert response.headers["www-authenticate"] == "Bearer"
                    assert TOKEN not in response.text
        page = client.get("/")  # the static shell: no data in it, the token stays in the browser
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in page.headers
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/v1/models", headers=good).json() == []
        assert client.get("/v1/models/x/y", headers=good).status_code == 404
        # The API's description is open (a browser cannot send the header with /docs) and says
        # how to authenticate: every operation needs the bearer token but /health.
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"] == {
            "type": "http",
            "scheme": "bearer",
            "description": "The service's token (--token-file or PROVISIONER_TOKEN).",
        }
        assert schema["security"] == [{"bearer": []}]
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                assert operation.get("security") == ([] if path == "/health" else None), path
        assert client.get("/docs").status_code == 200


def test_without_a_token_the_schema_declares_no_scheme(home: Path) -> None:
    with serve(home) as served, served.client() as client:
        schema = client.get("/openapi.json").json()
        assert "security" not in schema
        assert "securitySchemes" not in schema.get("components", {})


def test_token_compare_is_constant_time_and_exact() -> None:
    auth = BearerAuth(lambda *a: None, token=TOKEN, open_paths=())  # type: ignore[arg-type]
    assert auth.authorized(f"Bearer {TOKEN}".encode())
    assert auth.authorized(f"bearer {TOKEN}".encode())
    for header in (b"", TOKEN.encode(), b"Basic " + TOKEN.encode(), f"Bearer {TOKEN}x".encode()):
        assert not auth.authorized(header)
    source = Path(sys.modules[BearerAuth.__module__].__file__ or "").read_text()
    assert "hmac.compare_digest" in source


def test_hub_clients_send_the_token_as_hf_token(
    tmp_path: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    source = tmp_path / "mirror"
    ModelProvisioner(source, endpoint=hub_server.url).pull(f"{GGUF_REPO}:Q4_K_M")
    with serve(source, options=ServiceOptions(token=TOKEN)) as served:
        assert HfApi(endpoint=served.url, token=TOKEN).model_info(GGUF_REPO).sha == gguf_repo.commit
        second = ModelProvisioner(tmp_path / "second", endpoint=served.url, token=TOKEN)
        assert second.pull(f"{GGUF_REPO}:Q4_K_M").is_file()
