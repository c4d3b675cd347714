"""Security reports stay private: never recorded in public, pointed to private reporting."""

from __future__ import annotations

from app.domain.config import RepoConfig
from app.domain.facts import Decision, Hint, Issue
from app.domain.issue_form import labels_from_form, marks_security
from app.domain.labels import LabelScheme
from app.domain.lifecycle import Status
from app.domain.plan import Effect, KeepStatusComment, OpenIssue, PostComment, RemoveLabel
from app.domain.records import Incident

POINTER_KEY = "security-report"


def advisory_url(repo: str) -> str:
    """The repository's private vulnerability reporting (a GitHub security advisory)."""
    return f"https://github.com/{repo}/security/advisories/new"


def is_security_report(issue: Issue, scheme: LabelScheme) -> bool:
    """The `security` label (under the repo's name for it), or the form's answer says so."""
    labelled = any(label.casefold() == scheme.security.casefold() for label in issue.labels)
    return labelled or marks_security(issue.body)


def applies(issue: Issue, incident: Incident | None, scheme: LabelScheme) -> bool:
    """Incident work on a security report: it is, or is about to be, an incident or a report."""
    names = {scheme.incident.casefold(), scheme.reported.casefold()}
    touched = incident is not None or any(label.casefold() in names for label in issue.labels)
    return touched and is_security_report(issue, scheme)


def copy_key(issue: Issue) -> str:
    """The key of the private incident opened for this report (the marker in its body)."""
    return f"security:{issue.repo}#{issue.number}"


def where_to_look(issue: Issue, incident: Incident | None, config: RepoConfig) -> str | None:
    """The private repository the shell looks in for a copy opened earlier; None: no look."""
    private = config.security.private_repo
    return private if private and applies(issue, incident, config.scheme) else None


def pointer(repo: str) -> str:
    """Where to report instead: said when a report is kept out and when `/incident` refuses."""
    return (
        "this looks like a security report, so it is not recorded as a public incident. "
        f"Please report vulnerabilities privately: {advisory_url(repo)} (the repository's "
        "private vulnerability reporting), and keep the details out of public issues."
    )


def keep_private(
    hint: Hint,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
    *,
    copied: bool | None,
    status_comment_id: int | None = None,
) -> Decision:
    """Reply once with the pointer, open the private incident (once), take the labels off.

    `copied`: the private copy exists already (True), does not (False), or the private
    repository could not be read (None: nothing is opened, and the reply says so).
    """
    scheme = config.scheme
    private = config.security.private_repo
    text = f"@{hint.actor} {pointer(issue.repo)}" if hint.actor else pointer(issue.repo)
    if private and copied is None:
        text += (
            "\n\nMaintainers: the repository in `security.private_repo` could not be read; "
            "install the App there to have incidents opened in it."
        )
    elif private:
        text += "\n\nMaintainers: the incident is tracked in the private repository."
    plan: list[Effect] = [PostComment(POINTER_KEY, text, look_first=True)]
    if private and copied is False:
        plan.append(_private_incident(hint, issue, config, private))
    if incident is not None:
        # The status comment showed the record: it goes, with the record (Plan.forget).
        plan.append(KeepStatusComment(_withdrawn(), status_comment_id))
    # The incident label goes last: until it is gone, a failed attempt is retried whole.
    plan += [
        RemoveLabel(label)
        for label in issue.labels
        if scheme.severity_of(label) is not None
        or scheme.status_of(label) is not None
        or label.casefold() == scheme.reported.casefold()
    ]
    plan += [RemoveLabel(n) for n in issue.labels if n.casefold() == scheme.incident.casefold()]
    return Decision(None, tuple(plan))


def _private_incident(hint: Hint, issue: Issue, config: RepoConfig, private: str) -> OpenIssue:
    """The incident in the private repository: the title and a link back, nothing more.

    Declared as the public one would have been; an outsider's report stays a report there.
    """
    scheme = config.scheme
    link = f"https://github.com/{issue.repo}/issues/{issue.number}"
    body = f"Opened from a security report in a public repository: {link}"
    if not hint.declarer_permitted:
        return OpenIssue(copy_key(issue), issue.title, body, (scheme.reported,), repo=private)
    labels = [*issue.labels, *labels_from_form(issue.body, list(issue.labels), scheme)]
    severities = scheme.severities_in(labels)
    severity = min(severities) if severities else None
    wanted = [scheme.incident, scheme.status_label(Status.STABILIZATION_PENDING)]
    if severity is not None:
        wanted.append(scheme.severity_label(severity))
    detail = "Recorded as Stabilization pending from a security report"
    if severity is not None:
        detail += f", severity {int(severity)}"
    # Its repo id is filled in by the shell once GitHub has answered.
    record = Incident.opened_pending(
        private, 0, issue.title, severity, at=hint.at, actor=hint.actor, detail=detail
    )
    return OpenIssue(copy_key(issue), issue.title, body, tuple(wanted), record=record, repo=private)


def _withdrawn() -> str:
    return (
        "### Not recorded here\n\n"
        "This issue was marked as a security report, so it is not kept as a public incident."
    )
