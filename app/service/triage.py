"""Triage at receipt: which lane a delivery takes, told from its already-parsed payload."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from app.domain.commands import parse_commands
from app.domain.config import CONFIG_PATH
from app.domain.labels import DEFAULT_LABELS, LabelScheme
from app.domain.payloads import Event, Receipt
from app.queue.inbox import INCIDENT, OTHER, UNRELATED

# Events that set up the App in repositories: label sync comes before anything else.
_SETUP_EVENTS = frozenset({"installation", "installation_repositories"})
_CONFIG_PATH = CONFIG_PATH.encode()
# An issue with one of these may be an incident, a report, or an incident's stabilization work.
_DEFAULT_NAMES = frozenset(
    name.casefold()
    for name in (DEFAULT_LABELS.incident, DEFAULT_LABELS.reported, DEFAULT_LABELS.stabilization)
)

SchemeOf = Callable[[str], LabelScheme | None]


@lru_cache(maxsize=1024)
def _names_of(*names: str) -> frozenset[str]:
    """A scheme's names, casefolded once (schemes are few; deliveries are many)."""
    return _DEFAULT_NAMES | {name.casefold() for name in names}


def _unknown(_repo: str) -> LabelScheme | None:
    return None


class Triage:
    """Sorts deliveries into lanes; pure but for the repo label names it is given.

    `scheme_of(repo)` is the repo's label scheme as last read from its config, or None when
    this instance has not read it (or a push changed it since): then only the default names
    are known, and nothing of that repo is decided unrelated at receipt.
    """

    def __init__(
        self, scheme_of: SchemeOf = _unknown, forget: Callable[[str], None] | None = None
    ) -> None:
        self.scheme_of = scheme_of
        # Called with the repo of a push that may change its config: its names are unknown
        # from then until the config is read again (not only once the push is processed).
        self.forget = forget

    def names(self, repo: str) -> frozenset[str] | None:
        """The casefolded names that mark an incident, a report or stabilization work in
        `repo` (whose critical label must hold); None: unknown."""
        scheme = self.scheme_of(repo)
        if scheme is None:
            return None
        return _names_of(scheme.incident, scheme.reported, scheme.stabilization)

    def lane(self, event_name: str, event: Event | Receipt, body: bytes) -> int:
        """INCIDENT: may concern an incident. OTHER: processed after incident work.
        UNRELATED: cannot, unless its issue is a known incident or has work still queued,
        which the inbox checks in the same transaction that stores it."""
        if event_name in _SETUP_EVENTS:
            return INCIDENT
        if event_name == "push":
            # The path anywhere in the body: a config push for sure, a few others with it.
            if _CONFIG_PATH not in body:
                return OTHER
            if self.forget is not None and event.repository is not None:
                self.forget(event.repository.full_name)
            return INCIDENT
        issue = event.incident_issue()
        if issue is None or event.repository is None:
            return OTHER
        if issue.pull_request is not None:
            return UNRELATED  # a pull request is never an incident
        names = self.names(event.repository.full_name)
        labels = {label.name.casefold() for label in issue.labels}
        if labels & (names or _DEFAULT_NAMES):
            return INCIDENT
        if event_name == "issue_comment":
            comment = event.comment
            if event.action == "created" and comment is not None and parse_commands(comment.body):
                return INCIDENT  # a command line (maybe `/incident`, declaring it)
            return OTHER  # comment times are kept; a known incident's go first (the inbox)
        if event_name == "issues" and names is not None and event.action != "closed":
            # Closing may complete a retrospective: that one is looked up when processed.
            return UNRELATED
        return OTHER
