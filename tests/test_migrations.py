"""Alembic migrations: a new database, one of the version before migrations, many starters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, inspect, select, text

from app.migrations import BASELINE, HEAD, alembic_config
from app.settings import Settings
from app.storage.db import create_schema, incidents, metadata
from app.storage.engine import make_engine


def engine_for(database_url: str) -> Any:
    return make_engine(Settings(_env_file=None, database_url=database_url).async_database_url)  # type: ignore[call-arg]


async def version_and_indexes(engine: Any) -> tuple[str | None, set[str]]:
    def look(conn: Any) -> tuple[str | None, set[str]]:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        # PostgreSQL lists a unique constraint's index too; only the explicit ones count.
        indexes = inspect(conn).get_indexes("deliveries")
        return version, {i["name"] for i in indexes if "duplicates_constraint" not in i}

    async with engine.connect() as conn:
        return await conn.run_sync(look)  # type: ignore[no-any-return]


async def test_a_new_database_gets_exactly_the_schema_of_app_db(database_url: str) -> None:
    engine = engine_for(database_url)
    try:
        await create_schema(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        assert differences == []  # a change to app/storage/db.py needs its migration
        assert await version_and_indexes(engine) == (HEAD, {"ix_deliveries_unfinished"})
    finally:
        await engine.dispose()


def test_head_names_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


def main_schema() -> MetaData:
    """The tables of the version before migrations (main at 49a9d43): the baseline's."""
    baseline = ScriptDirectory.from_config(alembic_config()).get_revision(BASELINE)
    assert baseline is not None
    schema: MetaData = baseline.module.schema()
    return schema


def test_the_baseline_is_the_schema_before_migrations() -> None:
    """What 49a9d43's app/storage/db.py created, table by table and column by column."""
    main = {
        t.name: [(c.name, str(c.type), c.nullable) for c in t.columns]
        for t in main_schema().sorted_tables
    }
    assert set(main) == {
        "deliveries",
        "incidents",
        "timeline",
        "incident_extras",
        "claims",
        "leases",
        "issue_reads",
    }
    added_since = {
        "deliveries": {"abandoned", "lane"},  # by migrations 0003 and 0004
        "incidents": {"acknowledged_at", "impact_started_at"},  # by 0006 (and *_oncall)
    }
    for name, columns in main.items():
        today = [
            c for c in metadata.tables[name].columns if c.name not in added_since.get(name, ())
        ]
        assert [(c.name, c.nullable) for c in today] == [(c, n) for c, _, n in columns]


def previous_version(conn: Any) -> None:
    """The schema as the version before migrations left it: create_all of its tables, with
    the index an even earlier version had and the next start would have dropped."""
    main_schema().create_all(conn)
    retired = Table("deliveries", MetaData(), Column("state", String(16)))
    Index("ix_deliveries_ready", retired.c.state).create(conn)
    conn.execute(text("DROP INDEX ix_incident_extras_retro"))  # added by a later start
    conn.execute(
        incidents.insert().values(
            repo="octo/ops",
            repo_id=1,
            number=7,
            title="Search is down",
            status="stabilized",
            managed=True,
            declared_at=datetime(2026, 11, 1, tzinfo=UTC),
            declared_by="zed",
            updated_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )


async def test_a_database_of_the_version_before_is_stamped_and_upgraded(database_url: str) -> None:
    engine = engine_for(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(previous_version)
        await create_schema(engine)
        assert await version_and_indexes(engine) == (HEAD, {"ix_deliveries_unfinished"})
        async with engine.connect() as conn:
            titles = (await conn.execute(text("SELECT title FROM incidents"))).scalars().all()
            retro = await conn.run_sync(
                lambda sync: {i["name"] for i in inspect(sync).get_indexes("incident_extras")}
            )
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert "repo_configs" in tables  # and the migrations after the baseline ran
        assert titles == ["Search is down"]  # the data stays
        assert retro == {"ix_incident_extras_retro"}
        await create_schema(engine)  # and the next start finds nothing to do
        assert (await version_and_indexes(engine))[0] == HEAD
    finally:
        await engine.dispose()


async def test_instances_starting_together_upgrade_once(database_url: str) -> None:
    engines = [engine_for(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(create_schema(engine) for engine in engines))
        assert (await version_and_indexes(engines[0]))[0] == HEAD
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_table_of_our_own_is_not_mistaken_for_the_schema(database_url: str) -> None:
    """Only our tables mean "a version before migrations": an unrelated table is left be."""
    engine = engine_for(database_url)
    try:
        async with engine.begin() as conn:
            other = Table("someone_elses", MetaData(), Column("id", Integer, primary_key=True))
            await conn.run_sync(other.create)
        await create_schema(engine)
        assert (await version_and_indexes(engine))[0] == HEAD
    finally:
        await engine.dispose()


async def test_lead_duty_migration_keeps_a_column_an_earlier_migration_added(
    database_url: str,
) -> None:
    """0006 adds `acknowledged_at` only where it is missing: the on-call migration may too."""
    from alembic import command

    engine = engine_for(database_url)
    try:

        def to_0004_and_ack(conn: Any) -> None:
            config = alembic_config(conn)
            command.upgrade(config, "0004")
            conn.execute(text("ALTER TABLE incidents ADD COLUMN acknowledged_at TIMESTAMP"))

        async with engine.begin() as conn:
            await conn.run_sync(to_0004_and_ack)
        await create_schema(engine)
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("incidents")}
            )
        assert {"acknowledged_at", "impact_started_at"} <= columns
        assert (await version_and_indexes(engine))[0] == HEAD
    finally:
        await engine.dispose()


def before_oncall(conn: Any) -> None:
    """A database just before the on-call migration (whatever its number once migrations are
    chained), holding a led incident (with a hand-over) and one without a lead."""
    from alembic import command

    config = alembic_config(conn)
    script = ScriptDirectory.from_config(config)
    (oncall,) = [r for r in script.walk_revisions() if r.path.endswith("_oncall.py")]
    assert isinstance(oncall.down_revision, str)
    command.upgrade(config, oncall.down_revision)
    declared = datetime(2026, 11, 1, tzinfo=UTC)
    for number, lead in ((1, "bob"), (2, None)):
        conn.execute(
            incidents.insert().values(
                repo="octo/ops",
                repo_id=1,
                number=number,
                title="",
                status="stabilization-pending",
                managed=True,
                declared_at=declared,
                declared_by="zed",
                lead=lead,
                updated_at=declared,
            )
        )
    for position, (hour, to) in enumerate(((0, "alice"), (3, "bob"))):
        conn.execute(
            text(
                "INSERT INTO timeline (incident_id, position, at, actor, kind, detail, to_value) "
                "VALUES (1, :position, :at, 'zed', 'lead', '', :to)"
            ),
            {"position": position, "at": datetime(2026, 11, 1, hour), "to": to},
        )


async def test_oncall_counts_leads_already_chosen_as_acknowledged(database_url: str) -> None:
    """Incidents led before acknowledgements existed are not escalated when the app upgrades."""
    engine = engine_for(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(before_oncall)
        await create_schema(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(incidents.c.number, incidents.c.acknowledged_at))
            ).all()
        # The latest lead entry's time; no lead, no acknowledgement.
        assert dict(rows) == {1: datetime(2026, 11, 1, 3, tzinfo=UTC), 2: None}
    finally:
        await engine.dispose()
