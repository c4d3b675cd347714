"""Who may set up: the console token, the manifest states handed out, overwrites on hold."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from dotenv import dotenv_values
from fastapi import Request

from app.settings import Settings

SETUP_PATH = "/setup"
PENDING_SECONDS = 3600.0
STATE_SECONDS = 3600.0  # a manifest `state` is good for one registration within the hour
MAX_STATES = 64  # outstanding states kept at most: page loads cannot grow memory
clock = time.monotonic  # seam for tests


@dataclass
class Registration:
    """What one manifest `state` stands for: until when it works, the App's settings page on
    GitHub (where it can be deleted if it is lost), the proxy channel its webhooks go to."""

    expiry: float
    settings_url: str
    channel: str | None = None


@dataclass
class SetupGate:
    """This process's set-up secrets: the console token, outstanding states, conversions
    waiting for an overwrite to be confirmed. In memory only: a restart voids them all."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    states: dict[str, Registration] = field(default_factory=dict)
    pending: dict[str, tuple[float, dict[str, Any], dict[str, str]]] = field(default_factory=dict)

    def grant(self) -> str:
        """What the session keeps once the token was shown: not the token itself (the
        cookie is signed, not secret), and worthless to the next process."""
        return hmac.new(self.token.encode(), b"setup-grant", hashlib.sha256).hexdigest()

    def new_state(self, settings_url: str, channel: str | None = None) -> str:
        now = clock()
        for state, held in list(self.states.items()):
            if held.expiry < now:
                del self.states[state]
        while len(self.states) >= MAX_STATES:
            del self.states[next(iter(self.states))]  # the oldest
        state = secrets.token_urlsafe(16)
        self.states[state] = Registration(now + STATE_SECONDS, settings_url, channel)
        return state

    def use_state(self, state: str) -> Registration | None:
        """A state works once, before it expires; using it consumes it whatever follows.
        The store alone decides: GitHub may bring the browser back on another host than the
        one the page was opened on, where no cookie of ours exists."""
        held = self.states.pop(state, None)
        return held if held is not None and held.expiry >= clock() else None


def gate_of(request: Request) -> SetupGate:
    state = request.app.state
    if not hasattr(state, "setup_gate"):
        state.setup_gate = SetupGate()  # never announced: nobody holds its token
    gate: SetupGate = state.setup_gate
    return gate


def _has_credentials(values: Any) -> bool:
    found = {str(k).upper(): v for k, v in values.items()}
    return bool(found.get("APP_ID") and (found.get("PRIVATE_KEY") or found.get("PRIVATE_KEY_PATH")))


def credentials_present(settings: Settings) -> bool:
    """The App's credentials exist: loaded at start, or since put in the environment or
    written to the env file (by this set-up, or by hand). Checked on every set-up request."""
    if settings.configured or _has_credentials(os.environ):
        return True
    try:
        return settings.setup_env_file.is_file() and _has_credentials(
            dotenv_values(settings.setup_env_file)
        )
    except (OSError, UnicodeDecodeError):
        return False
