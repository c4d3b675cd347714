"""The command line, `incident-flow` (or `python -m app`): the service and operator tools."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn

from app.cli_errors import OperatorErrors
from app.cli_leads import lead_report
from app.cli_tables import dead_letter_table, incident_table
from app.domain.config_file import parse_config
from app.domain.lead_duty import WINDOWS
from app.domain.stats import humanize
from app.github.client import GitHubApp
from app.github.label_sync import sync_labels as sync_repo_labels
from app.github.redeliver import parse_since, redeliver_failed
from app.queue import delivery_protocol
from app.queue.inbox import DeadLetter
from app.service.replay import render
from app.service.replay import replay as replay_payload
from app.service.services import Services, build_services
from app.settings import Settings, get_settings


class Errors(OperatorErrors):
    def settings(self) -> Settings:
        return load_settings()  # the seam, looked up when a command fails


cli = typer.Typer(
    name="incident-flow",
    help="Incident Flow: incident response in GitHub issues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Errors,
)

# Seams for tests: the settings, and how GitHub is reached (the fake, in tests).
load_settings = get_settings
github_transport: httpx.AsyncBaseTransport | None = None


@cli.callback()
def root(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="show the whole traceback when a command fails")
    ] = False,
) -> None:
    """Incident Flow: incident response in GitHub issues."""


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


async def _services(settings: Settings) -> Services:
    return await build_services(settings, github_transport=github_transport, start_worker=False)


def _app(services: Services) -> GitHubApp:
    if services.github is None or services.responder is None:
        fail("APP_ID and PRIVATE_KEY are not set (run `make run` and open / to register)")
    assert services.github is not None
    return services.github


@cli.command()
def serve(
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0: every interface)")
    ] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="port (default: PORT)")] = None,
) -> None:
    """Run the service (what `make run` runs); only this machine reaches it by default."""
    if port is not None:
        # The app reads its own settings when uvicorn imports it: its start line names the port.
        os.environ["PORT"] = str(port)
        get_settings.cache_clear()
    settings = load_settings()
    uvicorn.run(
        "app.main:app",
        host=host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,  # only these proxies are believed
        http=delivery_protocol.IMPORT_PATH,  # deliveries answered before ASGI
    )


@cli.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a saved payload")],
    event: Annotated[str, typer.Option("--event", help="X-GitHub-Event, e.g. issues")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="make no GitHub call")] = False,
    config: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="an incidents.yml to use instead"),
    ] = None,
) -> None:
    """Run a saved webhook payload through the decision core and print the plan."""
    try:
        result = asyncio.run(
            replay_payload(
                load_settings(),
                file,
                event,
                dry_run=dry_run,
                transport=github_transport,
                config_file=config,
            )
        )
    except (RuntimeError, ValueError) as exc:
        fail(str(exc))
        return
    typer.echo(render(result))


@cli.command()
def redeliver(
    since: Annotated[str, typer.Option(help="how far back: 30m, 6h, 2d (GitHub keeps 3d)")] = "6h",
) -> None:
    """Ask GitHub to redeliver the App's failed deliveries that never reached the inbox."""
    try:
        span = parse_since(since)
    except ValueError as exc:
        fail(str(exc))
        return

    async def run() -> str:
        services = await _services(load_settings())
        try:
            report = await redeliver_failed(_app(services), services.inbox, span)
        finally:
            await services.close()
        lines = [report.summary(), *(f"  redelivered {guid}" for guid in report.requested)]
        lines += [f"  error {error}" for error in report.errors]
        return "\n".join(lines)

    typer.echo(asyncio.run(run()))


@cli.command("sync-labels")
def sync_labels(repo: Annotated[str, typer.Argument(help="OWNER/REPO")]) -> None:
    """Create the labels the repository's config needs and fix ours; never deletes any."""
    if repo.count("/") != 1:
        fail("give the repository as OWNER/REPO")

    async def run() -> list[str]:
        services = await _services(load_settings())
        try:
            github = _app(services)
            found = await github.app_client().request("GET", f"/repos/{repo}/installation")
            client = github.installation(int(found["id"]))
            assert services.responder is not None
            scheme = (await services.responder.configs.get(client, repo)).config.scheme
            return await sync_repo_labels(client, repo, scheme)
        finally:
            await services.close()

    changes = asyncio.run(run())
    typer.echo("\n".join(changes) if changes else f"{repo}: labels already in step")


@cli.command("check-config")
def check_config(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="an incidents.yml")],
) -> None:
    """Validate a repository config file; prints each error with its line number."""
    config, errors = parse_config(file.read_text(), str(file))
    if errors:
        for error in errors:
            typer.echo(str(error))
        typer.echo(
            f"{len(errors)} error{'s' if len(errors) > 1 else ''}: "
            "the service would keep the last valid version of the file in force (the "
            "defaults if there is none) until it is fixed",
            err=True,
        )
        raise typer.Exit(1)
    scheme = config.scheme
    typer.echo(f"{file}: valid")
    typer.echo("labels: " + ", ".join(spec.name for spec in scheme.specs()))
    typer.echo(f"recurrence window: {humanize(config.recurrence_window)}")


@cli.command()
def incidents(
    repo: Annotated[str, typer.Argument(help="OWNER/REPO; or `leads`: lead duty per person")],
    of: Annotated[
        str | None, typer.Argument(help="after `leads`: only this OWNER/REPO", show_default=False)
    ] = None,
    days: Annotated[
        int | None, typer.Option(help="after `leads`: only this window (30, 90 or 365 days)")
    ] = None,
) -> None:
    """The repository's incidents as a table: open first, by severity, then age.

    `incidents leads [OWNER/REPO] [--days N]`: per person, the incidents and hours led by
    severity over 30, 90 and 365 days (every lead period counts, hand-overs included).
    """
    if repo == "leads":  # a word without a slash names no repository
        leads(of, days)
        return
    if of is not None or days is not None:
        fail("give OWNER/REPO alone, or `leads [OWNER/REPO] [--days N]`")

    async def run() -> str:
        services = await _services(load_settings())
        try:
            # GitHub names are case-insensitive; the store keeps GitHub's spelling.
            found = [i for i in await services.store.all() if i.repo.casefold() == repo.casefold()]
        finally:
            await services.close()
        return incident_table(found)

    typer.echo(asyncio.run(run()))


def leads(repo: str | None, days: int | None) -> None:
    if repo is not None and repo.count("/") != 1:
        fail("give the repository as OWNER/REPO")
    if days is not None and days not in WINDOWS:
        fail("--days is 30, 90 or 365")

    async def run() -> str:
        services = await _services(load_settings())
        try:
            now = datetime.now(UTC)
            return await lead_report(services.engine, repo=repo, days=days, now=now)
        finally:
            await services.close()

    typer.echo(asyncio.run(run()))


@cli.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(help="how many to list, the latest first")] = 100,
) -> None:
    """List the deliveries given up on (dead letters), with their last error."""

    async def run() -> list[DeadLetter]:
        services = await _services(load_settings())
        try:
            return await services.inbox.dead_letters(limit)
        finally:
            await services.close()

    typer.echo(dead_letter_table(asyncio.run(run())))


@cli.command()
def retry(
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(help="X-GitHub-Delivery ids of dead letters")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
) -> None:
    """Give dead letters a fresh round of attempts (after fixing what killed them)."""
    if bool(delivery_ids) == all_dead:
        fail("give DELIVERY_ID... or --all")

    async def run() -> int:
        services = await _services(load_settings())
        try:
            return await services.inbox.revive(None if all_dead else delivery_ids)
        finally:
            await services.close()

    count = asyncio.run(run())
    typer.echo(f"{count} dead letter{'' if count == 1 else 's'} queued again")
    if delivery_ids and count < len(set(delivery_ids)):
        fail("some ids are not dead letters (see `dead-letters`)")


def main(argv: list[str] | None = None) -> None:
    cli(args=argv if argv is not None else sys.argv[1:], prog_name="incident-flow")
