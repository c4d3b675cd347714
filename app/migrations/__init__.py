"""Schema migrations (Alembic): the database is brought to the newest one at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent
BASELINE = "0001"
# The newest revision (tests/test_migrations.py checks it): a database already there is
# left alone without loading Alembic, which keeps every start after the first quick.
HEAD = "0009"


def alembic_config(connection: Any = None) -> Config:
    """Alembic's configuration without an ini file: the scripts ship inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def current(connection: Any) -> str | None:
    """The revision the database is at; None before migrations (or when empty)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(version) if version is not None else None


def upgrade(connection: Any) -> None:
    """Upgrade to the newest migration on `connection` (sync, inside the caller's locked
    transaction). A database of the versions before migrations has our tables and no
    `alembic_version`: it is brought to the baseline and stamped with it first."""
    if current(connection) == HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and "deliveries" in tables:
        baseline = ScriptDirectory.from_config(config).get_revision(BASELINE)
        assert baseline is not None
        baseline.module.adopt(connection)
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
