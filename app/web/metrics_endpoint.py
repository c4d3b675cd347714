"""The `/metrics` endpoint: the scraper's token checked, then every gauge read fresh."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.domain.stats import WINDOW


def scraper_allowed(token: str | None, headers: Mapping[str, str]) -> bool:
    """No METRICS_TOKEN: anyone may read. Otherwise only `Authorization: Bearer <token>`."""
    if not token:
        return True
    scheme, _, given = headers.get("authorization", "").strip().partition(" ")
    # Compared in constant time, so the answer's timing tells nothing of the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def make_router() -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        services = request.app.state.services
        if not scraper_allowed(services.settings.metrics_token, request.headers):
            return Response(
                "metrics need the bearer token (METRICS_TOKEN)\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        now = datetime.now(UTC)
        # One query over the window's records, without their timelines.
        services.metrics.incident_times.update(await services.store.recent(now - WINDOW), now)
        body = await services.metrics.render(services.inbox)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
