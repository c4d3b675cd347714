"""The ASGI app: `app.main:app`, with the webhook route, health check and worker lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from app.github import proxy_channel
from app.logs import configure as configure_logging
from app.logs import install_redaction, start_line
from app.queue.webhooks import make_router, serve_delivery
from app.sandbox import routes as sandbox
from app.service import alert_intake
from app.service.services import build_services
from app.settings import Settings, get_settings
from app.web import auth, dashboard, error_pages, followups, lead_duty, metrics_endpoint, setup
from app.web.auth import session_secret

log = logging.getLogger(__name__)


class IncidentFlow(FastAPI):
    """FastAPI, with GitHub's deliveries served before any middleware or routing: a
    delivery skips the error pages, the session cookie, the body limit and the router (a
    tenth of the receiver's time under a burst)."""

    def __init__(self, webhook_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_path = webhook_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self.webhook_path
            and scope["method"] == "POST"
            and (services := getattr(self.state, "services", None)) is not None
        ):
            await serve_delivery(scope, receive, send, services)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    github_transport: httpx.AsyncBaseTransport | None = None,
    start_worker: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    install_redaction()  # whatever logging the host set up: no one-time code in a log line

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(
            settings, github_transport=github_transport, start_worker=start_worker
        )
        app.state.services = services
        log.info(
            start_line(
                port=settings.port,
                public_url=settings.public_url,
                configured=services.github is not None,
            )
        )
        setup.announce(app.state, settings)
        if settings.webhook_proxy_url:
            # Deliveries come through the channel (no public address needed); the body holds
            # the payload up to twice (parsed and raw).
            limit = 2 * settings.max_body_bytes + 65536
            services.background.append(
                proxy_channel.start(app, settings.webhook_proxy_url, settings.webhook_path, limit)
            )
        # Everything loaded so far lives as long as the process: keep the garbage collector
        # from walking it again and again (its full passes were the receiver's p99).
        gc.freeze()
        try:
            yield
        finally:
            await sandbox.close_sandbox(app)
            await services.close()

    app = IncidentFlow(
        settings.webhook_path,
        title="Incident Flow",
        version="0.1.0",
        lifespan=lifespan,
        # We export Prometheus metrics ourselves; FastAPI's OpenTelemetry hooks would cost
        # every request a look at the environment for providers that are never set.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Swagger UI and ReDoc load their scripts from a CDN (blank offline): off.
        # The description itself stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    error_pages.install_error_pages(app)
    app.include_router(make_router(settings.webhook_path))
    app.include_router(alert_intake.make_router())
    app.include_router(metrics_endpoint.make_router())
    app.include_router(setup.make_router())
    app.include_router(auth.make_router())
    app.include_router(dashboard.make_router())
    app.include_router(lead_duty.make_router())
    app.include_router(followups.make_router())
    app.include_router(sandbox.make_router())  # only while no App is configured
    app.add_middleware(
        auth.SessionCookies,
        secret_key=session_secret(settings),
        session_cookie="incident_flow_session",
        same_site="lax",
        https_only=(settings.public_url or "").startswith("https://"),
        max_age=14 * 24 * 3600,
    )

    @app.get("/healthz", summary="Database takes writes and worker running")
    async def healthz(request: Request) -> JSONResponse:
        services = request.app.state.services
        reachable = await services.database_ok()
        # A database that reads but cannot write (locked, full) fails every delivery.
        database = reachable and await services.inbox.writable()
        worker = services.worker is not None and services.worker.running
        configured = services.github is not None
        healthy = database and (worker or not configured)
        body = {
            "database": "ok" if database else ("not writable" if reachable else "unreachable"),
            "worker": "running" if worker else ("stopped" if configured else "not configured"),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    return app


def _default_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


app = _default_app()
