"""The shell around the core: read what a delivery's decision needs, decide, apply, save once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from app.domain import (  # noqa: F401  (register the commands)
    builtin_commands,
    followup_commands,
    impact,
    oncall_commands,
    recurrence_commands,
)
from app.domain.decision import Plan, decide
from app.domain.followups import FollowUps
from app.domain.payloads import Event
from app.domain.plan import Effect, OpenIssue, PostComment
from app.domain.records import Incident
from app.github.apply import Applied, apply_plan
from app.github.client import GitHubApp, GitHubRefused
from app.github.config_source import ConfigCache
from app.github.label_sync import INSTALLATION_EVENTS, on_installation
from app.github.sources import GitHubReads
from app.queue.inbox import Delivery
from app.service.notifiers import Notifier
from app.service.routes import Routed, Router, Turn
from app.storage.bookkeeping import Bookkeeping
from app.storage.reads import ReadLog
from app.storage.store import IncidentStore, Saved

log = logging.getLogger(__name__)

Shell = Callable[[Delivery, Event], Awaitable[str]]


@dataclass
class Responder:
    github: GitHubApp
    reads: GitHubReads
    router: Router
    store: IncidentStore
    books: Bookkeeping
    configs: ConfigCache
    readlog: ReadLog
    # Told of every saved change, in order: metrics, then the chat channels.
    notifiers: Sequence[Notifier] = ()

    async def handle(self, delivery: Delivery) -> str:
        """Process one delivery; returns a short outcome for the inbox and the logs."""
        event = delivery.parsed  # the worker's parse, for its log lines: the one in the worker
        try:
            shell = self._shell_route(delivery.event)
            if shell is not None:
                return await shell(delivery, event)
            return await self.carry_out(delivery, await self.router.route(delivery, event))
        except GitHubRefused as exc:
            if exc.status in (404, 410):
                # Deleted or transferred since the delivery: nothing is left to hold to policy.
                return f"gone: {exc}"[:200]
            raise

    def _shell_route(self, event_name: str) -> Shell | None:
        """Installations: label sync, which writes at once (no incident, no plan)."""
        return self.on_installation if event_name in INSTALLATION_EVENTS else None

    async def carry_out(self, delivery: Delivery, routed: Routed) -> str:
        if not isinstance(routed, Turn):
            return routed
        plan = decide(routed.event, routed.snapshot)
        if plan.outcome:
            return plan.outcome
        outcome = await self.apply(routed, plan, retrying=delivery.attempts > 1)
        if routed.read != (None, None):
            await self.readlog.remember(
                f"{routed.issue.repo_id}#{routed.issue.number}", *routed.read
            )
        if routed.outcome is not None:
            return routed.outcome
        return ("reported: " if plan.reported else routed.prefix) + outcome

    async def apply(self, turn: Turn, plan: Plan, *, retrying: bool) -> str:
        """Apply the plan's effects, then save everything it changed in one transaction."""
        issue = turn.issue
        repo, repo_id, number = issue.repo, issue.repo_id, issue.number
        client = self.github.installation(turn.installation_id)
        if plan.effects and plan.before is not None:
            # Until the save below, an unfinished plan is found and decided again by the
            # catch-up (app/service/catch_up.py) should every retry of this delivery fail.
            await self.books.set_due(repo_id, number, True)
        comments = list(turn.comments) if turn.comments is not None else None
        # Only a comment that looks for its marker first needs the list (a correction's
        # explanation, keyed by its delivery, never does unless the delivery is retried).
        looks = [e for e in plan.effects if isinstance(e, PostComment) and e.look_first]
        if comments is None and (
            looks or (retrying and any(isinstance(e, PostComment) for e in plan.effects))
        ):
            comments = await self.reads.comments_since(
                turn.installation_id, repo, number, turn.event.hint.at
            )
        applied = await apply_plan(
            client, repo, number, plan.effects, retrying=retrying, comments=comments
        )
        if plan.config_report is not None:
            claim, report = plan.config_report
            async with self.books.once(claim) as won:
                if won:
                    await apply_plan(client, repo, number, (report,), retrying=True)
        saves = self._saves(turn, plan, applied)
        group = plan.alert_group
        if group is not None and group.opened is not None:
            group = replace(group, number=applied.number(group.opened), opened=None)
        groups = [group] if group is not None else []
        if saves or groups:
            await self.store.commit(saves, installation_id=turn.installation_id, groups=groups)
        await self._notify(plan, applied)
        return " ".join(applied.log) if applied.log else "in step"

    def _saves(self, turn: Turn, plan: Plan, applied: Applied) -> list[Saved]:
        issue = turn.issue
        saves: list[Saved] = []
        if plan.forget:
            saves.append(Saved(issue.repo_id, issue.number, forget=True))
        for effect in plan.effects:
            if isinstance(effect, OpenIssue) and effect.record is not None:
                new = _filled(effect.record, applied, applied.number(effect.key), effect.key)
                comment = applied.status_comments.get((new.repo, new.number))
                saves.append(Saved(new.repo_id, new.number, new, status_comment_id=comment))
        for other in plan.others:
            # Another incident the plan changed (`/recurrence-of`), with its status comment.
            comment = applied.status_comments.get((other.repo, other.number))
            filled = _filled(other, applied)
            saves.append(Saved(other.repo_id, other.number, filled, status_comment_id=comment))
        known = _numbered(plan.followups, applied)
        record = plan.record
        changed = record is not None and (record != plan.before or bool(plan.effects))
        keys = [key for e in plan.effects if (key := _is_retro(e, issue.number))]
        retro = applied.number(keys[0]) if keys else None
        if changed or plan.human_comment_at is not None or known is not None:
            saves.append(
                Saved(
                    issue.repo_id,
                    issue.number,
                    _filled(record, applied) if changed and record is not None else None,
                    status_comment_id=applied.status_comments.get((issue.repo, issue.number)),
                    retro_number=retro,
                    human_comment_at=plan.human_comment_at,
                    due=False if changed else None,
                    followups=known,
                )
            )
        return saves

    async def _notify(self, plan: Plan, applied: Applied) -> None:
        for notice in plan.notices:
            after = notice.after
            if notice.opened is not None:
                after = _filled(after, applied, applied.number(notice.opened))
            elif notice.after == notice.before:
                continue
            else:
                after = _filled(after, applied)
            for notifier in self.notifiers:
                await notifier.incident_changed(notice.before, after, notice.chat)

    async def on_installation(self, delivery: Delivery, event: Event) -> str:
        # No issue here: label sync for the repositories the App was given.
        return await on_installation(self.github, self.configs, delivery.event, event)


def _is_retro(effect: Effect, number: int) -> str | None:
    """The key of the retrospective this effect opens, if it does."""
    if isinstance(effect, OpenIssue) and effect.key == f"retro:{number}":
        return effect.key
    return None


def _filled(
    incident: Incident, applied: Applied, number: int | None = None, key: str | None = None
) -> Incident:
    """The record with the numbers of the issues the plan opened in its timeline; `number`
    (and the repository's id, when `key` opened it in another) of an issue it opened."""
    if not applied.opened and number is None:
        return incident
    timeline = tuple(replace(e, detail=applied.fill(e.detail)) for e in incident.timeline)
    repo_id = applied.elsewhere[key][1] if key in applied.elsewhere else incident.repo_id
    return replace(
        incident,
        timeline=timeline,
        number=incident.number if number is None else number,
        repo_id=repo_id,
    )


def _numbered(known: FollowUps | None, applied: Applied) -> FollowUps | None:
    """The follow-ups with the numbers GitHub gave those the plan opened."""
    if known is None:
        return None
    items = tuple(
        item if item.key is None else replace(item, number=applied.number(item.key))
        for item in known.items
        if item.number is not None or item.key in applied.opened
    )
    return replace(known, items=items)
