"""Failed requests: an HTML page for a browser, FastAPI's JSON for an API client."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web.pages import error_page

ERROR_TITLES = {404: "Not found", 405: "Not allowed", 500: "Something went wrong"}


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not an API client, and never under /api/)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/api/")


def _error_response(request: Request, status: int, detail: str, headers: Any = None) -> Response:
    if wants_html(request):
        title = ERROR_TITLES.get(status, "Request failed")
        return HTMLResponse(error_page(status, title, detail), status, headers=headers)
    return JSONResponse({"detail": detail}, status, headers=headers)


def install_error_pages(app: FastAPI) -> None:
    """Browsers get an HTML page for a failed request; API clients keep FastAPI's JSON."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if not wants_html(request):  # FastAPI's own answer, unchanged
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)
        detail = exc.detail if isinstance(exc.detail, str) else "The request failed."
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is nothing at this address, or nothing you may see here."
        return _error_response(request, exc.status_code, detail, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_html(request):
            return _error_response(request, 404, "This address is not one the service knows.")
        return JSONResponse({"detail": jsonable_encoder(exc.errors())}, 422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # Logged by the server with its traceback; the visitor gets no internals.
        return _error_response(
            request, 500, "The service failed to answer this request; it has been logged."
        )
