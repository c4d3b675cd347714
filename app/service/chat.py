"""Chat: a Slack message (incoming webhook) when a severity 1 or 2 incident moves.

Posting happens in the background after the incident is saved: a slow or failing Slack
never delays nor fails the incident flow, it is only logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from app.domain.lifecycle import SEVERE, Severity, Status
from app.domain.records import Incident
from app.settings import Settings

log = logging.getLogger(__name__)

LOUD = SEVERE  # chat hears of the severities that page
MAX_TITLE = 256  # GitHub's own limit for a title


def escape(text: str) -> str:
    """User text as Slack shows it, never as markup: `<!channel>` stays words, not a ping.

    Slack reads `&`, `<` and `>` as control characters (mentions, links); it wants them as
    HTML entities. Line breaks are flattened so a title stays one line.
    """
    flat = " ".join(text[:MAX_TITLE].split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sev(severity: Severity | None) -> str:
    return f"Sev {int(severity)}" if severity else "no severity"


def message_for(
    before: Incident | None, after: Incident, issue_url: str, lead: str | None = None
) -> str | None:
    """The message for one saved change, or None when chat need not hear of it (pure).

    `lead` overrides `after.lead`: the lead may be chosen just after the change is saved.
    """
    if after.severity not in LOUD and (before is None or before.severity not in LOUD):
        return None
    if before is not None and not before.managed and not after.managed:
        return None
    what: list[str] = []
    if before is None or (not before.managed and after.managed):
        what.append("recorded" if before is None else "resumed")
    elif before.managed and not after.managed:
        what.append("withdrawn (not an incident after all)")
    else:
        if before.severity != after.severity:
            verb = (
                "escalated"
                if before.severity is None or (after.severity or 9) < before.severity
                else "de-escalated"
            )
            what.append(f"{verb} from {_sev(before.severity)} to {_sev(after.severity)}")
        if before.status != after.status:
            what.append(
                "resolved"
                if after.status is Status.RESOLVED
                else f"now {after.status.display} (was {before.status.display})"
            )
    if not what:
        return None
    icon = ":white_check_mark:" if after.status is Status.RESOLVED else ":rotating_light:"
    # The only link is ours; the title is its label, so Slack links nothing inside it.
    title = escape(f"{after.repo}#{after.number} {after.title}".strip())
    return (
        f"{icon} *{_sev(after.severity)} incident {' and '.join(what)}*: <{issue_url}|{title}>\n"
        f"Status: *{after.status.display}* · Lead: {escape(lead or after.lead or 'none yet')}"
    )


def slack_payload(text: str) -> dict[str, Any]:
    """The webhook's body: no previews of links (an issue's text would show in them)."""
    return {"text": text, "unfurl_links": False, "unfurl_media": False}


def from_settings(settings: Settings) -> SlackNotifier | None:
    """The chat channel, when a Slack webhook is configured (app/service/notifiers.py)."""
    if not settings.slack_webhook_url:
        return None
    return SlackNotifier(settings.slack_webhook_url, settings.github_web_url)


class SlackNotifier:
    """A notifier posting to one incoming webhook, without waiting for it."""

    def __init__(
        self,
        webhook_url: str,
        web_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.web_url = web_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self._pending: set[asyncio.Task[bool]] = set()

    async def incident_changed(self, before: Incident | None, after: Incident) -> None:
        url = f"{self.web_url}/{after.repo}/issues/{after.number}"
        text = message_for(before, after, url)
        if text is None:
            return
        task = asyncio.create_task(self.post(text))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def post(self, text: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as http:
                response = await http.post(self.webhook_url, json=slack_payload(text))
            if response.status_code >= 300:
                log.warning("slack answered %s: %s", response.status_code, response.text[:200])
                return False
            return True
        except Exception as exc:
            # The webhook URL is a secret, and httpx's errors and tracebacks may carry it:
            # the kind of failure is enough to act on.
            log.warning("slack message not delivered: %s", type(exc).__name__)
            return False

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for messages in flight (shutdown and tests); stragglers are cancelled."""
        if not self._pending:
            return
        _, late = await asyncio.wait(set(self._pending), timeout=timeout)
        for task in late:
            task.cancel()
