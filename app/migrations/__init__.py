"""Schema migrations (Alembic): the database is brought to the newest one at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

HERE = Path(__file__).parent
BASELINE = "0001"


def alembic_config(connection: Any = None) -> Config:
    """Alembic's configuration without an ini file: the scripts ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Any) -> None:
    """Upgrade to the newest migration on `connection` (sync, inside the caller's locked
    transaction). A database of the versions before migrations has our tables and no
    `alembic_version`: it is brought to the baseline and stamped with it first."""
    config = alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and "deliveries" in tables:
        baseline = ScriptDirectory.from_config(config).get_revision(BASELINE)
        assert baseline is not None
        baseline.module.adopt(connection)
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision
