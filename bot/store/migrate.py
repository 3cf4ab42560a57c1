"""Bring a database to the newest schema with Alembic, from any earlier release.

Databases made before migrations existed (by `create_all`) have no `alembic_version` table; the
revision they are at is read off the tables they have, stamped, and then upgraded like any other.
On PostgreSQL an advisory lock keeps two app instances starting at once from migrating together.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 7_424_971  # an arbitrary application-wide key for pg_advisory_lock


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def legacy_revision(connection: Connection) -> str | None:
    """The revision a database made before migrations is at, judged by its tables; None if empty."""
    tables = set(inspect(connection).get_table_names())
    if "tickets" in tables:
        return "0004"
    if "users" in tables:
        return "0003"
    if "channel_events" in tables:
        return "0002"
    if "conversations" in tables:
        return "0001"
    return None


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection) -> tuple[str | None, str]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    before = current_revision(connection)
    config = _config(connection)
    if before is None and (legacy := legacy_revision(connection)) is not None:
        command.stamp(config, legacy)
        before = legacy
    command.upgrade(config, "head")
    return before, current_revision(connection)


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str]:
    """Migrate to the newest revision; returns (revision before, revision after)."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade)


async def revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(current_revision)
