"""The CLI's tables: incidents and dead letters, one printable line per row."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.records import Incident
from app.domain.stats import humanize, ordered, status_since
from app.queue.inbox import DeadLetter


def dead_letter_table(letters: list[DeadLetter]) -> str:
    if not letters:
        return "no dead letters"
    rows = [("DELIVERY", "EVENT", "ISSUE", "ATTEMPTS", "DIED (UTC)", "LAST ERROR")]
    for letter in letters:
        event = f"{letter.event}.{letter.action}" if letter.action else letter.event
        died = f"{letter.finished_at:%Y-%m-%d %H:%M}" if letter.finished_at else "-"
        attempts = str(letter.attempts)
        if letter.abandoned:
            attempts += f" ({letter.abandoned} cut off)"
        rows.append(
            (
                letter.delivery_id,
                event,
                f"{letter.repo or '-'} {letter.issue_key or ''}".strip(),
                attempts,
                died,
                printable(letter.last_error or "-", 100),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )


def printable(text: str, most: int) -> str:
    """One line of at most `most` characters, without the control characters an error
    that quotes a payload could carry to the operator's terminal."""
    line = "".join(c if c.isprintable() else " " for c in text[: most + 1])
    return line if len(line) <= most else line[: most - 1] + "…"


def incident_table(found: list[Incident]) -> str:
    now = datetime.now(UTC)
    rows = [("#", "SEV", "STATUS", "FOR", "LEAD", "RECORDED (UTC)", "TITLE")]
    for incident in ordered(found):
        rows.append(
            (
                str(incident.number),
                str(int(incident.severity)) if incident.severity else "-",
                incident.status.display,
                humanize(now - status_since(incident)),
                incident.lead or "-",
                f"{incident.declared_at:%Y-%m-%d %H:%M}",
                incident.title,
            )
        )
    if len(rows) == 1:
        return "no incidents recorded"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )
