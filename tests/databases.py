"""Database URLs for tests: a SQLite file, and a throwaway PostgreSQL database when a server is
reachable (TOUCHPOINT_TEST_POSTGRES_URL, default the local one with trust auth)."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get("TOUCHPOINT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_database():
    """Create a fresh database; yield its SQLAlchemy URL; drop it. Skips when no server answers."""
    name = f"touchpoint_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({exc!r}); set TOUCHPOINT_TEST_POSTGRES_URL")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    yield f"{base}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_url(request) -> str:
    """For a fixture parametrised ["sqlite", "postgres"]: "" (the default SQLite file) or a
    throwaway PostgreSQL database, dropped when the test ends."""
    if request.param == "sqlite":
        return ""
    databases = postgres_database()
    url = next(databases)
    request.addfinalizer(lambda: next(databases, None))
    return url
