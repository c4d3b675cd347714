"""The commands every installation has; importing this module registers them."""

from __future__ import annotations

from app.command_flow import reply
from app.commands import REGISTRY, Command, CommandContext, command
from app.decide import Decision, explain_status


@command(
    "help",
    usage="/help",
    summary="the commands, who may use them, and the legal moves from the current status",
    who="anyone",
    needs_incident=False,
)
def help_command(cmd: Command, ctx: CommandContext) -> Decision:
    rows = ["| command | what it does | who |", "|---|---|---|"]
    for spec in sorted(REGISTRY.values(), key=lambda s: s.name):
        who = "anyone" if spec.who == "anyone" else "triage or higher"
        rows.append(f"| `{spec.usage}` | {spec.summary} | {who} |")
    text = "Incident Flow commands (one per line):\n\n" + "\n".join(rows)
    if ctx.incident is not None and ctx.incident.managed:
        text += "\n\n" + explain_status(ctx.incident.status, ctx.scheme)
    return Decision(ctx.incident, (reply(ctx, cmd, text),))
