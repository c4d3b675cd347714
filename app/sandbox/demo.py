"""The demo repository: its people and their roles, the policy it starts with, what you may do."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.config import CONFIG_PATH

REPO = "demo/ops"
# What one form may carry: GitHub's own limits where it has them, small enough to render.
TITLE_MAX = 256
BODY_MAX = 65_536
LABEL_MAX = 50
POLICY_MAX = 65_536
ISSUES_MAX = 500


@dataclass(frozen=True)
class Person:
    login: str
    role: str  # the repository role GitHub reports for them
    about: str


PEOPLE = (
    Person("maya", "maintain", "maintainer; on the rotation, Europe/Berlin 09:00-17:00 Mon-Fri"),
    Person("sam", "write", "maintainer; on the rotation, America/New_York 09:00-17:00 Mon-Fri"),
    Person("kenji", "triage", "maintainer; on the rotation, Asia/Tokyo 09:00-18:00 Mon-Fri"),
    Person("riley", "read", "outsider with read access: may open issues and comment"),
)
LOGINS = tuple(p.login for p in PEOPLE)

POLICY = """\
# The demo repository's .github/incidents.yml: edit it here and commit to try a policy.
lead:
  rotation:
    start: 2026-01-05T00:00:00Z
    every: 7d
    runners:
      - login: maya
        timezone: Europe/Berlin
        hours: "09:00-17:00"
        days: [mon, tue, wed, thu, fri]
      - login: sam
        timezone: America/New_York
        hours: "09:00-17:00"
        days: [mon, tue, wed, thu, fri]
      - login: kenji
        timezone: Asia/Tokyo
        hours: "09:00-18:00"
        days: [mon, tue, wed, thu, fri]
  maintainers: [maya, sam, kenji]
updates:
  sev1: 1h
  sev2: 24h
recurrence_window: 48h
"""

ACTIONS = frozenset({"open", "comment", "label", "unlabel", "close", "reopen", "policy"})


@dataclass(frozen=True)
class Action:
    """One thing a person does in the simulated GitHub's web UI, checked and bounded."""

    kind: str
    actor: str
    number: int | None = None
    title: str = ""
    text: str = ""  # a comment's body, a label's name, or the policy file
    labels: tuple[str, ...] = ()


class Refused(ValueError):
    """The form does not describe something a person could do here."""


def parse_action(form: dict[str, str], known_issues: set[int]) -> Action:
    """The action a submitted form asks for (pure: every field checked and bounded)."""
    kind = form.get("action", "")
    actor = form.get("actor", "")
    if kind not in ACTIONS:
        raise Refused("unknown action")
    if actor not in LOGINS:
        raise Refused("pick one of the demo repository's people")
    if kind == "policy":
        text = form.get("text", "")
        if len(text) > POLICY_MAX:
            raise Refused(f"the policy file is limited to {POLICY_MAX} characters here")
        return Action(kind, actor, text=text)
    if kind == "open":
        title = form.get("title", "").strip()
        if not title or len(title) > TITLE_MAX:
            raise Refused(f"a title of 1 to {TITLE_MAX} characters")
        if len(known_issues) >= ISSUES_MAX:
            raise Refused("the sandbox is full: start over")
        labels = tuple(dict.fromkeys(n.strip() for n in form.get("labels", "").split(",")))
        labels = tuple(n for n in labels if n)
        if len(labels) > 10 or any(len(n) > LABEL_MAX for n in labels):
            raise Refused(f"at most 10 labels of up to {LABEL_MAX} characters")
        body = form.get("text", "")
        if len(body) > BODY_MAX:
            raise Refused(f"a body of up to {BODY_MAX} characters")
        return Action(kind, actor, title=title, text=body, labels=labels)
    number_text = form.get("number", "")
    number = int(number_text) if number_text.isdigit() and len(number_text) < 7 else None
    if number is None or number not in known_issues:
        raise Refused("no such issue")
    text = form.get("text", "")
    if kind == "comment" and (not text.strip() or len(text) > BODY_MAX):
        raise Refused(f"a comment of 1 to {BODY_MAX} characters")
    if kind in ("label", "unlabel"):
        text = text.strip()
        if not text or len(text) > LABEL_MAX:
            raise Refused(f"a label name of 1 to {LABEL_MAX} characters")
    return Action(kind, actor, number, text=text)


__all__ = ["CONFIG_PATH", "PEOPLE", "POLICY", "REPO", "Action", "Refused", "parse_action"]
