"""Humans acting in GitHub's UI on the fake: each action returns the deliveries GitHub sends."""

from __future__ import annotations

import uuid
from typing import Any

from app.sandbox.github.model import FakeComment, FakeIssue
from app.sandbox.github.state import GitHubState


class HumanActions(GitHubState):
    """Labels, comments, closings, sub-issues and pushes done by hand, as webhooks report them."""

    def label(
        self,
        full_name: str,
        number: int,
        *,
        add: list[str] = (),  # type: ignore[assignment]
        remove: list[str] = (),  # type: ignore[assignment]
        actor: str = "alice",
        advance: bool = True,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Change labels as the sidebar does: one delivery per label, all after the change."""
        repo = self.repos[full_name]
        issue = repo.issues[number]
        if advance:
            self.tick()
        deliveries = []
        for name in add:
            if name not in issue.labels:
                self._ensure_label(repo, name)
                issue.labels.append(name)
        for name in remove:
            if name in issue.labels:
                issue.labels.remove(name)
        issue.updated_at = self.now
        for action, names in (("labeled", add), ("unlabeled", remove)):
            for name in names:
                deliveries.append(
                    (
                        "issues",
                        self.event_payload(
                            repo,
                            actor,
                            action=action,
                            issue=self.issue_payload(repo, issue),
                            label=self._label_payload(repo, name),
                        ),
                    )
                )
        return deliveries

    def open_issue(
        self,
        full_name: str = "octo/ops",
        *,
        labels: list[str] | None = None,
        actor: str = "alice",
        title: str = "Search is down",
    ) -> tuple[FakeIssue, list[tuple[str, dict[str, Any]]]]:
        issue = self.add_issue(full_name, labels=labels, user=actor, title=title)
        repo = self.repos[full_name]
        return issue, [
            (
                "issues",
                self.event_payload(
                    repo, actor, action="opened", issue=self.issue_payload(repo, issue)
                ),
            )
        ]

    def comment(
        self, full_name: str, number: int, body: str, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        repo = self.repos[full_name]
        issue = repo.issues[number]
        self.tick()
        comment = FakeComment(next(self._ids), number, body, actor, self.now, self.now)
        repo.comments[comment.id] = comment
        return [
            (
                "issue_comment",
                self.event_payload(
                    repo,
                    actor,
                    action="created",
                    issue=self.issue_payload(repo, issue),
                    comment=self.comment_payload(repo, comment),
                ),
            )
        ]

    def edit_comment(
        self, full_name: str, comment_id: int, body: str | None, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        """Edit a comment by hand, or delete it (body None): the delivery GitHub sends."""
        repo = self.repos[full_name]
        comment = repo.comments[comment_id]
        self.tick()
        if body is None:
            del repo.comments[comment_id]
        else:
            comment.body = body
            comment.updated_at = self.now
        issue = repo.issues[comment.issue_number]
        return [
            (
                "issue_comment",
                self.event_payload(
                    repo,
                    actor,
                    action="deleted" if body is None else "edited",
                    issue=self.issue_payload(repo, issue),
                    comment=self.comment_payload(repo, comment),
                ),
            )
        ]

    def set_state(
        self,
        full_name: str,
        number: int,
        state: str,
        *,
        actor: str = "alice",
        reason: str | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        repo = self.repos[full_name]
        issue = repo.issues[number]
        self.tick()
        issue.state = state
        issue.state_reason = reason or ("completed" if state == "closed" else "reopened")
        issue.updated_at = self.now
        action = "closed" if state == "closed" else "reopened"
        return [
            (
                "issues",
                self.event_payload(
                    repo, actor, action=action, issue=self.issue_payload(repo, issue)
                ),
            )
        ]

    def hand_add_sub_issue(
        self, full_name: str, parent_number: int, child_number: int, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        repo = self.repos[full_name]
        parent, child = repo.issues[parent_number], repo.issues[child_number]
        parent.sub_issues.append(child.id)
        child.parent = parent.id
        self.tick()
        return [
            (
                "sub_issues",
                self.event_payload(
                    repo,
                    actor,
                    action="sub_issue_added",
                    sub_issue_id=child.id,
                    sub_issue=self.issue_payload(repo, child),
                    parent_issue_id=parent.id,
                    parent_issue=self.issue_payload(repo, parent),
                ),
            )
        ]

    def push_file(
        self, full_name: str, path: str, text: str | None, *, actor: str = "alice"
    ) -> list[tuple[str, dict[str, Any]]]:
        """Commit a file to the default branch (None deletes it): the push delivery."""
        repo = self.repo(full_name)
        kind = "removed" if text is None else ("modified" if path in repo.files else "added")
        if text is None:
            repo.files.pop(path, None)
        else:
            repo.files[path] = text
        self.tick()
        commit = {"id": uuid.uuid4().hex, "added": [], "modified": [], "removed": []}
        commit[kind] = [path]
        payload = self.event_payload(repo, actor, ref="refs/heads/main", commits=[commit])
        payload["repository"] = {**repo.payload, "default_branch": "main"}
        return [("push", payload)]
