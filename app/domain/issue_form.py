"""Answers of the incident issue form (.github/ISSUE_TEMPLATE/incident.yml) as labels."""

from __future__ import annotations

from app.domain.labels import LabelScheme
from app.domain.lifecycle import Severity, Status

SEVERITY_HEADING = "severity"
STABLE_HEADING = "is it still disrupting service?"
SECURITY_HEADING = "is this a security vulnerability?"


def form_answers(body: str | None) -> dict[str, str]:
    """GitHub renders a form as `### Label` headings each followed by the answer."""
    answers: dict[str, str] = {}
    heading: str | None = None
    lines: list[str] = []
    for line in [*(body or "").splitlines(), "### end"]:
        title = _heading(line)
        if title is not None:
            if heading is not None:
                answers[heading] = "\n".join(lines).strip()
            heading, lines = title.casefold(), []
        elif heading is not None:
            lines.append(line)
    return answers


def _heading(line: str) -> str | None:
    """The text of a `### Heading` line, else None: string operations, linear in the line."""
    if not line.startswith("###") or len(line) < 5 or not line[3].isspace():
        return None
    return line[3:].strip() or None


def labels_from_form(body: str | None, labels: list[str], scheme: LabelScheme) -> list[str]:
    """Labels the form's answers ask for that the issue lacks (severity, and already stable)."""
    answers = form_answers(body)
    wanted: list[str] = []
    severity = answers.get(SEVERITY_HEADING, "")[:1]
    if severity in {str(int(s)) for s in Severity} and not scheme.severities_in(labels):
        wanted.append(scheme.severity_label(Severity(int(severity))))
    stable = answers.get(STABLE_HEADING, "")
    if stable.casefold().startswith("no") and not scheme.statuses_in(labels):
        wanted.append(scheme.status_label(Status.STABILIZED))
    return wanted


def marks_security(body: str | None) -> bool:
    """The form's answer says it is a security vulnerability (app/domain/security.py)."""
    return form_answers(body).get(SECURITY_HEADING, "").casefold().startswith("yes")
