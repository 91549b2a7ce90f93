"""Every error answer, in one shape: ``{"error": {"code", "message"}}`` with the right status.

A ProvisionerError carries its own code and status; framework errors (validation, unknown route)
are said the same way; anything else is a 500 with no traceback. Errors on the Hub-mirror routes
also carry ``X-Error-Code`` / ``X-Error-Message``, which huggingface_hub turns into its types.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from .._errors import IntegrityError, ProvisionerError

log = logging.getLogger("model_provisioner.server")

_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}


def error_response(exc: ProvisionerError) -> JSONResponse:
    """The one mapping from our errors to HTTP: the class says code and status."""
    detail: dict[str, Any] = {"code": exc.code, "message": str(exc)}
    if isinstance(exc, IntegrityError) and exc.problems:
        detail["problems"] = exc.problems
    headers = {}
    if exc.hub_code is not None:
        headers["X-Error-Code"] = exc.hub_code
        headers["X-Error-Message"] = _header_safe(str(exc))
    return JSONResponse({"error": detail}, status_code=exc.http_status, headers=headers)


def _plain(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _header_safe(text: str) -> str:
    """Printable ASCII only: a header value cannot carry what a hostile path put in a message."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:500]


async def _provisioner_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProvisionerError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return _plain(422, "invalid-request", "; ".join(parts) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http-error")
    response = _plain(exc.status_code, code, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _plain(500, "internal-error", "internal error; see the service log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProvisionerError, _provisioner_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
