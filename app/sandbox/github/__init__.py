"""One stateful fake GitHub for every test: issues, labels, comments, tokens and echoes.

Served as an ASGI app (through httpx.ASGITransport, or uvicorn for process tests). It
records every call, can inject failures, and keeps the webhook deliveries the real GitHub
would send back for each change, so tests can feed the app its own echoes. `fake.py` puts
together the state (`state.py`, `model.py`), the humans (`humans.py`) and the routes
(`*_routes.py`): extend the module whose role fits, never a second fake.
"""

from app.sandbox.github.fake import FakeGitHub
from app.sandbox.github.model import (
    APP_SLUG,
    BOT_LOGIN,
    STATUS_MARKER,
    Call,
    FakeComment,
    FakeIssue,
    FakeRepo,
    Fault,
    iso,
    new_private_key,
)

__all__ = [
    "APP_SLUG",
    "BOT_LOGIN",
    "STATUS_MARKER",
    "Call",
    "FakeComment",
    "FakeGitHub",
    "FakeIssue",
    "FakeRepo",
    "Fault",
    "iso",
    "new_private_key",
]
