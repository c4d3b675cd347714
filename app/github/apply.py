"""The shell's hands: carry out a plan's effects on one issue, each safe to repeat."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain.plan import (
    AddLabels,
    AddSubIssueLabels,
    Assign,
    Effect,
    KeepStatusComment,
    LabelOpenSubIssues,
    OpenIssue,
    PostComment,
    RemoveLabel,
    SetIssueState,
    marker,
    opened,
    opened_number,
)
from app.domain.status_comment import STATUS_KEY
from app.github.client import Client, GitHubRefused


@dataclass
class Applied:
    """What applying a plan did: a short log, the issues it opened by key (with the repository
    and its id of those opened in another one), and the status comment kept on each issue
    (by repository and number)."""

    log: list[str] = field(default_factory=list)
    opened: dict[str, dict[str, Any]] = field(default_factory=dict)
    elsewhere: dict[str, tuple[str, int]] = field(default_factory=dict)
    status_comments: dict[tuple[str, int], int] = field(default_factory=dict)

    def fill(self, text: str) -> str:
        """Replace `opened(key)` placeholders with the numbers GitHub gave those issues."""
        for key, issue in self.opened.items():
            text = text.replace(opened(key), f"#{issue['number']}")
            text = text.replace(opened_number(key), str(issue["number"]))
        return text

    def number(self, key: str) -> int:
        return int(self.opened[key]["number"])

    def target(self, on: str | None, repo: str, number: int) -> tuple[str, int]:
        """Where an effect applies: the plan's issue, or the issue opened with key `on`."""
        if on is None:
            return repo, number
        return self.elsewhere.get(on, (repo, 0))[0], self.number(on)


async def apply_plan(
    client: Client,
    repo: str,
    number: int,
    plan: tuple[Effect, ...],
    *,
    retrying: bool,
    comments: list[dict[str, Any]] | None = None,
) -> Applied:
    """Apply effects in order; `retrying` makes comments and issues look for their marker.

    The issue's comments are listed at most once per plan, however many comments look
    first; `comments`, when the caller has read them already, saves even that (it must
    include every comment posted since the earliest post the plan could repeat).
    """
    done = Applied()
    # Each issue's comments, listed at most once per plan (the plan's own: maybe given).
    seen: dict[int, list[dict[str, Any]]] = {}
    if comments is not None:
        seen[number] = list(comments)
    for effect in plan:
        match effect:
            case AddLabels(names, on_number):
                target = on_number or number
                await client.add_labels(repo, target, list(names))
                done.log.append(_on(target, number) + f"+{','.join(names)}")
            case RemoveLabel(name, on_number):
                target = on_number or number
                await client.remove_label(repo, target, name)
                done.log.append(_on(target, number) + f"-{name}")
            case PostComment(key, body, look_first, on_number):
                target = on_number or number
                listed = seen.get(target)
                if retrying or look_first:
                    if listed is None:
                        listed = seen[target] = await client.list_comments(repo, target)
                    if any(marker(key) in str(c.get("body") or "") for c in listed):
                        done.log.append(_on(target, number) + f"comment:{key}")
                        continue  # posted by an earlier attempt or delivery
                posted = await client.post_comment(repo, target, key, done.fill(body))
                if listed is not None:
                    listed.append(posted)
                done.log.append(_on(target, number) + f"comment:{key}")
            case SetIssueState(state, reason, on_number):
                target = on_number or number
                fields = {"state": state}
                if reason:
                    fields["state_reason"] = reason
                await client.update_issue(repo, target, **fields)
                done.log.append(_on(target, number) + state)
            case OpenIssue():
                look = retrying or effect.look_first
                where = effect.repo or repo
                issue = await _open_issue(client, where, done.fill(effect.body), effect, look)
                done.opened[effect.key] = issue
                if effect.repo is not None:
                    # Its record needs the repository's id, which an issue does not carry.
                    found = await client.request("GET", f"/repos/{effect.repo}")
                    done.elsewhere[effect.key] = (effect.repo, int(found["id"]))
                done.log.append(f"opened:{'' if where == repo else where}#{issue['number']}")
            case LabelOpenSubIssues(having, add, remove):
                for child in await client.list_sub_issues(repo, number):
                    present = [str(label["name"]) for label in child.get("labels") or []]
                    have = {name.casefold() for name in present}
                    if child.get("state") == "open" and having.casefold() in have:
                        gone = {r.casefold() for r in remove}
                        off = [name for name in present if name.casefold() in gone]
                        await _relabel(client, repo, int(child["number"]), add, off, done)
            case AddSubIssueLabels(child_number, names, remove):
                await _relabel(client, repo, child_number, names, remove, done)
            case Assign(add, remove, on):
                where, target = done.target(on, repo, number)
                await client.change_assignees(where, target, add=list(add), remove=list(remove))
                done.log.append("assign:" + ",".join([*add, *(f"-{r}" for r in remove)]))
            case KeepStatusComment(text, comment_id, on, on_number):
                where, target = done.target(on, repo, on_number or number)
                kept = await _keep_status(client, where, target, done.fill(text), comment_id)
                done.status_comments[(where, target)] = kept
                done.log.append(_on(target, number) + "status")
    return done


async def _relabel(
    client: Client,
    repo: str,
    number: int,
    add: tuple[str, ...],
    remove: tuple[str, ...] | list[str],
    done: Applied,
) -> None:
    """Add labels to another issue (a sub-issue), then take off those it must not keep."""
    if add:
        await client.add_labels(repo, number, list(add))
        done.log.append(f"#{number}+{','.join(add)}")
    for name in remove:
        await client.remove_label(repo, number, name)
        done.log.append(f"#{number}-{name}")


def _on(target: int, number: int) -> str:
    """The log's prefix for an effect on another issue than the plan's own."""
    return "" if target == number else f"#{target}:"


async def _keep_status(
    client: Client, repo: str, number: int, text: str, comment_id: int | None
) -> int:
    """Edit the one status comment in place; post it again if it was lost. Returns its id."""
    if comment_id is None:
        found = await client.find_comment(repo, number, STATUS_KEY)
        comment_id = int(found["id"]) if found else None
    if comment_id is not None:
        try:
            await client.update_comment(repo, comment_id, f"{text}\n\n{marker(STATUS_KEY)}")
            return comment_id
        except GitHubRefused as exc:
            if exc.status != 404:
                raise
            # deleted by hand: post it again
    posted = await client.post_comment(repo, number, STATUS_KEY, text)
    return int(posted["id"])


async def _open_issue(
    client: Client, repo: str, body: str, effect: OpenIssue, retrying: bool
) -> dict[str, Any]:
    """Open the issue once: on a retry, find the one an earlier attempt opened."""
    issue = None
    if retrying:
        issue = await client.find_issue(
            repo, effect.key, label=effect.labels[0] if effect.labels else None
        )
    if issue is None:
        fields: dict[str, Any] = {
            "title": effect.title,
            "body": f"{body}\n\n{marker(effect.key)}",
            "labels": list(effect.labels),
        }
        if effect.assignees:
            fields["assignees"] = list(effect.assignees)
        # A create that failed with a 5xx may still have happened: look before trying again.
        issue = await client.request(
            "POST",
            f"/repos/{repo}/issues",
            json=fields,
            before_retry=lambda: client.find_issue(
                repo, effect.key, label=fields["labels"][0] if fields["labels"] else None
            ),
        )
    if effect.sub_issue_of is not None:
        await client.add_sub_issue(repo, effect.sub_issue_of, int(issue["id"]))
    return issue
