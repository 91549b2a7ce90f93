"""``/docs`` offline: the page names only same-origin URLs, each answering with the packaged
Swagger UI file; the page, its assets and the API description need no token (no data in them)."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from model_provisioner.server import ServiceOptions
from tests.server_helpers import serve

TOKEN = "docs-test-token"


def test_docs_page_loads_its_assets_from_the_service(home: Path) -> None:
    with serve(home, options=ServiceOptions(token=TOKEN)) as served, served.client() as client:
        page = client.get("/docs")  # no token: a browser cannot send one with a page load
        assert page.status_code == 200
        html = page.text
        assert "://" not in html and "//" not in re.sub(r"<!--.*?-->", "", html)
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert sorted(urls) == [
            "/docs/assets/favicon.png",
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui.css",
        ]
        assert "url: '/openapi.json'" in html
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self' 'unsafe-inline'" in csp
        static = files("fastapi_offline").joinpath("static")
        for url in urls:
            asset = client.get(url)  # no token
            assert asset.status_code == 200, url
            assert asset.content == static.joinpath(url.rsplit("/", 1)[1]).read_bytes()
            assert asset.headers["x-content-type-options"] == "nosniff"
        icon = client.get("/docs/assets/favicon.png")
        assert icon.headers["content-type"] == "image/png"
        js = client.get("/docs/assets/swagger-ui-bundle.js")
        assert js.headers["content-type"].startswith("text/javascript")
        assert b"SwaggerUIBundle" in js.content
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs/assets/other.js").status_code == 401
        assert client.get("/redoc", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
