"""What chat hears of an incident's saved changes, and the words it is told them in (pure).

Whether to announce is decided here, with the repo's `chat` config (its severities and
channels): the Plan's notices carry the answer, and the notifiers only carry it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.chat_config import Chat
from app.domain.lifecycle import CLOSED, Severity, Status
from app.domain.records import Incident

MAX_TITLE = 256  # GitHub's own limit for a title
RECORDED = ("recorded", "resumed")


@dataclass(frozen=True)
class Heard:
    """A change chat is told of: where (the repo's `chat` config) and what changed, in words."""

    route: Chat
    what: tuple[str, ...]

    @property
    def opening(self) -> bool:
        """The incident is recorded (or resumed) by this change: a thread would begin here."""
        return self.what[0] in RECORDED


def heard(chat: Chat, before: Incident | None, after: Incident) -> Heard | None:
    """What chat hears of one saved change, or None: only incidents of a severity in
    `chat.severities` (before or after the change: a de-escalation is heard), and only a
    record, a withdrawal, a severity or a status change (a new lead alone is quiet)."""
    loud = set(chat.severities)
    if after.severity not in loud and (before is None or before.severity not in loud):
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
            what.append(f"{verb} from {sev(before.severity)} to {sev(after.severity)}")
        if before.status != after.status:
            what.append(
                "resolved"
                if after.status is Status.RESOLVED
                else f"now {after.status.display} (was {before.status.display})"
            )
    return Heard(chat, tuple(what)) if what else None


def sev(severity: Severity | None) -> str:
    return f"Sev {int(severity)}" if severity else "no severity"


def escape(text: str) -> str:
    """User text as Slack shows it, never as markup: `<!channel>` stays words, not a ping.

    Slack reads `&`, `<` and `>` as control characters (mentions, links); it wants them as
    HTML entities. Line breaks are flattened so a title stays one line.
    """
    flat = " ".join(text[:MAX_TITLE].split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _icon(after: Incident) -> str:
    return ":white_check_mark:" if after.status in CLOSED else ":rotating_light:"


def _link(after: Incident, url: str) -> str:
    # The only link is ours; the title is its label, so Slack links nothing inside it.
    return f"<{url}|{escape(f'{after.repo}#{after.number} {after.title}'.strip())}>"


def _facts(after: Incident) -> str:
    return f"Status: *{after.status.display}* · Lead: {escape(after.lead or 'none yet')}"


def slack_change(after: Incident, what: tuple[str, ...], url: str) -> str:
    """One change as a Slack message (an incoming webhook's, or a reply in the thread)."""
    return (
        f"{_icon(after)} *{sev(after.severity)} incident {' and '.join(what)}*: "
        f"{_link(after, url)}\n{_facts(after)}"
    )


def slack_headline(after: Incident, url: str) -> str:
    """The thread's first message, edited to the incident's state at every change."""
    if not after.managed:
        return f":heavy_multiplication_x: *Withdrawn, not an incident*: {_link(after, url)}"
    return f"{_icon(after)} *{sev(after.severity)} incident*: {_link(after, url)}\n{_facts(after)}"


# Characters Markdown renderers (Discord, Teams, Matrix bridges) read as markup or HTML.
_MARKUP = str.maketrans({c: f"\\{c}" for c in "\\`*_~[]<>|&"})


def plain(text: str) -> str:
    """User text for a bridge that renders Markdown: one line, its markup characters escaped
    and a word joiner after each `@`, so `@everyone` or `<@123>` pings nobody."""
    flat = " ".join(text[:MAX_TITLE].split())
    return flat.translate(_MARKUP).replace("@", "@\u2060")


def plain_change(after: Incident, what: tuple[str, ...], url: str) -> str:
    """One change as plain text (the JSON webhook's `text`): our link on a line of its own."""
    title = plain(f"{after.repo}#{after.number} {after.title}".strip())
    return (
        f"{sev(after.severity)} incident {' and '.join(what)}: {title}\n"
        f"Status: {after.status.display} · Lead: {plain(after.lead or 'none yet')}\n{url}"
    )
