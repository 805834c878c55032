"""Shared fixtures: a real PostgreSQL for the whole run, a clean schema state for each test.

TEST_DATABASE_URL (a server you run) gets a fresh database created for the run and dropped
after; without it an embedded PostgreSQL starts in a temporary folder and is deleted after.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db import migrate
from db.embedded import start_embedded
from db.engine import create_engine, create_sessionmaker
from db.models import Base


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _upgrade(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server for the run: TEST_DATABASE_URL's, or an embedded throwaway one."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured.replace("postgresql://", "postgresql+asyncpg://", 1)
        return
    folder = Path(tempfile.mkdtemp(prefix="onair-test-pg-"))
    embedded = asyncio.run(start_embedded(folder, cleanup_mode="delete"))
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def fresh_database(postgres_server_url: str) -> Iterator[object]:
    """A factory of brand-new empty databases on the run's server (dropped at the end)."""
    made: list[str] = []

    async def make() -> str:
        name = f"onair_test_{secrets.token_hex(4)}"
        made.append(name)
        return await _create_database(postgres_server_url, name)

    yield make
    for name in made:
        asyncio.run(_drop_database(postgres_server_url, name))


@pytest.fixture(scope="session")
def database_url(fresh_database) -> str:  # type: ignore[no-untyped-def]
    """The run's database, migrated to head once."""

    async def create() -> str:
        url = await fresh_database()
        await _upgrade(url)
        return url

    return asyncio.run(create())


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the run's database, emptied before the test."""
    engine = create_engine(database_url, pool_size=5)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)
