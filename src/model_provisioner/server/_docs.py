"""``/docs`` without the internet: Swagger UI's assets served from the installed package.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN (and its favicon from fastapi's site),
so it is blank offline or behind a strict firewall. The ``fastapi-offline`` package ships the
same Swagger UI 5 files (``swagger-ui-bundle`` still ships 4.x, which cannot read the OpenAPI
3.1 FastAPI writes); only its files are used, from here. The page, its assets and the schema
hold no data, so they are served without the token, like the page at ``/`` (``_auth`` says why).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

ASSET_ROOT = "/docs/assets"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_PATHS = tuple(f"{ASSET_ROOT}/{name}" for name in ASSETS)
OPEN_PATHS = ("/docs", "/openapi.json", *ASSET_PATHS)
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@cache
def _asset(name: str) -> bytes:
    return files("fastapi_offline").joinpath("static", name).read_bytes()


@router.get("/docs")
def docs() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="model-provisioner - Swagger UI",
        swagger_js_url=f"{ASSET_ROOT}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_ROOT}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_ROOT}/favicon.png",
    )
    page.headers["Content-Security-Policy"] = CSP
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def _asset_route(name: str, media_type: str) -> None:
    @router.get(f"{ASSET_ROOT}/{name}", name=f"docs-asset-{name}")
    def asset() -> Response:
        return Response(
            _asset(name),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )


for _name, _type in ASSETS.items():
    _asset_route(_name, _type)
