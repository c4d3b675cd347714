"""Outsiders' reports: an incident opened below triage pages no one until a maintainer
declares it, and the declaration credits the report."""

from __future__ import annotations

from app.domain.facts import Decision, Issue
from app.domain.labels import LabelScheme
from app.domain.lifecycle import Severity
from app.domain.plan import AddLabels, Effect, PostComment, RemoveLabel
from app.domain.records import EntryKind, Incident, TimelineEntry

REPORT_KEY = "reported"


def report(issue: Issue, scheme: LabelScheme) -> Decision:
    """An outsider opened an incident: a report for a maintainer to declare, paging no one.

    No record is kept (so no lead, status comment, chat or reminder): the
    `incident:reported` label, the issue's author and its creation time are the report.
    """
    options = ", ".join(f"`/incident {int(s)}`" for s in Severity)
    comment = PostComment(
        key=REPORT_KEY,
        look_first=True,  # once per issue, whatever redelivery or edit comes back
        body=(
            "Thank you for the report. Incidents are declared by maintainers (triage "
            f"permission or higher), so I marked this issue `{scheme.reported}` and removed its "
            "incident, severity and status labels: nobody has been paged yet.\n\n"
            f"Maintainers: to declare it, comment {options} (1 is the most severe); the "
            "incident's timeline will credit this report."
        ),
    )
    plan: list[Effect] = [comment]  # first: a retry finds it by its marker
    if not any(_same(label, scheme.reported) for label in issue.labels):
        plan.append(AddLabels((scheme.reported,)))
    # The incident label goes last: until it is gone, a failed attempt is retried whole.
    plan += [
        RemoveLabel(label)
        for label in issue.labels
        if scheme.severity_of(label) is not None or scheme.status_of(label) is not None
    ]
    plan += [RemoveLabel(label) for label in issue.labels if _same(label, scheme.incident)]
    return Decision(None, tuple(plan))


def credit_report(
    issue: Issue, incident: Incident, scheme: LabelScheme
) -> tuple[Incident, list[Effect]]:
    """A reported issue declared at last: the timeline names who reported it, and when.

    Called before the declaration is noted, so the report's entry comes first.
    """
    reported = [label for label in issue.labels if _same(label, scheme.reported)]
    if not reported:
        return incident, []
    # The report is the issue itself: its author, at GitHub's time of opening it.
    at = issue.created_at or incident.declared_at
    entry = TimelineEntry(
        at, issue.author or "unknown", EntryKind.REPORTED, "Reported as an incident"
    )
    return incident.noted(entry), [RemoveLabel(label) for label in reported]


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
