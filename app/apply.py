"""The shell's hands: carry out a plan's effects on one issue, each safe to repeat."""

from __future__ import annotations

from app.github import Client
from app.plan import AddLabels, Effect, PostComment, RemoveLabel, SetIssueState


async def apply_plan(
    client: Client, repo: str, number: int, plan: tuple[Effect, ...], *, retrying: bool
) -> list[str]:
    """Apply effects in order; `retrying` makes comments look for their marker first."""
    done: list[str] = []
    for effect in plan:
        match effect:
            case AddLabels(names):
                await client.add_labels(repo, number, list(names))
                done.append(f"+{','.join(names)}")
            case RemoveLabel(name):
                await client.remove_label(repo, number, name)
                done.append(f"-{name}")
            case PostComment(key, body):
                await client.post_comment(repo, number, key, body, check_first=retrying)
                done.append(f"comment:{key}")
            case SetIssueState(state, reason):
                fields = {"state": state}
                if reason:
                    fields["state_reason"] = reason
                await client.update_issue(repo, number, **fields)
                done.append(state)
    return done
