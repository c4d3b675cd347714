"""The alert receiver: `POST /api/alerts/{owner}/{repo}` from Alertmanager or Grafana, checked
and stored in the webhooks' inbox; the worker opens or updates the incident."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.domain.alert_payloads import (
    AlertRefused,
    alert_delivery_id,
    group_of,
    read_alert_payload,
    stored,
)
from app.queue.inbox import DUPLICATE as DUPLICATE_VERDICT
from app.queue.inbox import INCIDENT, Envelope, InboxUnavailable
from app.queue.replies import TOO_LARGE, UNAVAILABLE, Answer
from app.queue.webhooks import read_body
from app.service.intake_routes import ALERT_EVENT

log = logging.getLogger(__name__)

PATH = "/api/alerts/{owner}/{repo}"
DISABLED = Answer(404, "Not Found")
UNAUTHORIZED = Answer(401, "Authorization: Bearer <ALERTS_TOKEN> missing or wrong")
STORED = Answer(202, "alert stored")
DUPLICATE = Answer(200, "alert already received")


def token_matches(expected: str, authorization: str | None) -> bool:
    """Constant-time check of `Authorization: Bearer <token>`."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.casefold() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


async def receive_alert(request: Request, services: Any, repo: str) -> Answer | None:
    """Check, store and answer one notification; None when the client went away."""
    settings = services.settings
    if not settings.alerts_token:
        return DISABLED  # the endpoint exists only once an operator gave it a token
    if not token_matches(settings.alerts_token, request.headers.get("authorization")):
        return UNAUTHORIZED
    if services.github is None or services.installations is None:
        return Answer(503, "the app is not configured yet: no APP_ID and PRIVATE_KEY")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        return TOO_LARGE
    body = await read_body(request.receive, settings.max_body_bytes, services.receiving.bodies)
    if not isinstance(body, bytes):
        return body
    try:
        payload = read_alert_payload(body)
    except AlertRefused as exc:
        return Answer(400, f"not an Alertmanager (version 4) or Grafana alert: {exc}")
    try:
        installed = await services.installations.find(repo)
    except Exception:
        log.exception("could not ask GitHub whether the App is installed on %s", repo)
        return Answer(503, "GitHub cannot be asked about the repository now; try again")
    if installed is None:
        return Answer(404, f"the App is not installed on {repo[:200]}")
    group = group_of(payload.groupKey)
    number = await services.alert_groups.number(installed.repo_id, group)
    # A group's notifications queue behind its incident's other work, or behind each other.
    key = f"{installed.repo_id}#{number}" if number else f"{installed.repo_id}#alert:{group[:16]}"
    envelope = Envelope(
        delivery_id=alert_delivery_id(installed.full_name, payload, body),
        event=ALERT_EVENT,
        action=payload.status,
        installation_id=installed.installation_id,
        repo=installed.full_name,
        issue_key=key,
        payload=json.dumps(
            {
                "repository": {"id": installed.repo_id, "full_name": installed.full_name},
                "installation": {"id": installed.installation_id},
                "alert": stored(payload),
            }
        ),
        lane=INCIDENT,
    )
    if oversized := envelope.oversized():
        return Answer(400, "fields too long: " + ", ".join(oversized))
    try:
        verdict = await services.inbox.store_verdict(envelope)
    except InboxUnavailable as exc:
        log.warning("alert %s not stored: %s", envelope.delivery_id, exc)
        return UNAVAILABLE  # Alertmanager and Grafana send it again
    services.metrics_received(ALERT_EVENT, verdict != DUPLICATE_VERDICT)
    if verdict == DUPLICATE_VERDICT:
        return DUPLICATE
    services.notify_worker()
    return STORED


def make_router() -> APIRouter:
    router = APIRouter()

    @router.post(
        PATH,
        status_code=202,
        summary="Receive an Alertmanager or Grafana alert notification",
        responses={
            200: {"description": "the same notification was stored before"},
            400: {"description": "not an alert notification (the reason is given)"},
            401: {"description": "missing or wrong bearer token"},
            404: {"description": "ALERTS_TOKEN unset, or the App is not on the repository"},
            413: {"description": "body too large"},
            503: {"description": "GitHub or the database cannot be reached now"},
        },
    )
    async def receive(owner: str, repo: str, request: Request) -> Response:
        services = request.app.state.services
        answer = await receive_alert(request, services, f"{owner}/{repo}")
        return answer.response() if answer is not None else Response(status_code=400)

    return router
