"""Which incidents a viewer may see: public repositories, and private ones they can read."""

from __future__ import annotations

from fastapi import Request

from app.domain.records import Incident
from app.settings import Settings
from app.web.auth import RepoAccess, SignedOut, Viewer, viewer_of


def repo_access(request: Request) -> RepoAccess:
    state = request.app.state
    if not hasattr(state, "repo_access"):
        state.repo_access = RepoAccess(state.services)
    access: RepoAccess = state.repo_access
    return access


async def visible_incidents(request: Request) -> tuple[list[Incident], Viewer | None]:
    """Every incident the viewer may see: public repos, plus private ones they can read."""
    viewer = viewer_of(request)
    everything: list[Incident] = await request.app.state.services.store.all()
    names = {i.repo for i in everything}
    try:
        repos = await repo_access(request).visible_repos(names, viewer)
    except SignedOut:
        # The viewer's GitHub token expired or was revoked: carry on signed out.
        request.session.pop("viewer", None)
        viewer = None
        repos = await repo_access(request).visible_repos(names, viewer)
    return [i for i in everything if i.repo in repos], viewer


def can_sign_in(settings: Settings) -> bool:
    return bool(settings.github_client_id and settings.github_client_secret)
