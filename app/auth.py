"""Viewers: signed-cookie sessions, and sign-in with GitHub through the App's OAuth client."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from app.settings import Settings

log = logging.getLogger(__name__)


def session_secret(settings: Settings) -> str:
    """SESSION_SECRET, else one derived from the App's secrets so restarts keep sessions."""
    if settings.session_secret:
        return settings.session_secret
    seed = settings.github_client_secret or settings.webhook_secret
    if seed:
        return hmac.new(seed.encode(), b"incident-flow session", hashlib.sha256).hexdigest()
    # Not configured yet: sessions only need to last through the set-up in this process.
    return secrets.token_hex(32)
