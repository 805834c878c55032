"""The engine's connection handling: a ping at checkout replaces connections the database
dropped, single reads run without a BEGIN/ROLLBACK around them, and the pool fits what the
database allows. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from db.engine import (
    CONNECTIONS_LEFT_FOR_OTHERS,
    create_engine,
    create_fitted_engine,
    create_sessionmaker,
    single_read,
)

# The current statement began its transaction (no earlier statement, 50 ms ago, did).
IN_OWN_TRANSACTION = sa.text(
    "SELECT query_start - xact_start < interval '20 milliseconds'"
    " FROM pg_stat_activity WHERE pid = pg_backend_pid()"
)


async def test_connections_the_database_dropped_are_replaced(
    database_url: str, engine: AsyncEngine
) -> None:
    """Every pooled connection killed server-side (as by a database restart): the next read
    still answers, on a fresh connection."""
    ours = create_engine(database_url, pool_size=2)
    sessions = create_sessionmaker(ours)
    try:
        async with sessions() as session:
            before = await session.scalar(sa.text("SELECT pg_backend_pid()"))
        async with engine.connect() as admin:
            await admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        async with sessions() as session:
            after = await session.scalar(sa.text("SELECT pg_backend_pid()"))
        assert after != before
    finally:
        await ours.dispose()


async def test_single_read_runs_outside_an_explicit_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """In `single_read` a statement is its own transaction (no BEGIN sent before it); in an
    ordinary session the second statement runs in the transaction BEGIN opened."""
    async with single_read(sessions) as session:
        await session.execute(sa.text("SELECT pg_sleep(0.05)"))
        assert await session.scalar(IN_OWN_TRANSACTION) is True
    async with sessions() as session:
        await session.execute(sa.text("SELECT pg_sleep(0.05)"))
        assert await session.scalar(IN_OWN_TRANSACTION) is False


async def test_pool_fits_the_connections_the_database_allows(engine: AsyncEngine) -> None:
    """Asked for 50 connections as a role PostgreSQL allows 4: the pool is fitted below the
    limit, and 40 concurrent reads all answer, queued for a connection, where an unfitted
    pool of 50 fails with "too many connections"."""
    role = f"onair_limited_{secrets.token_hex(3)}"
    async with engine.begin() as connection:  # superusers are exempt from connection limits
        await connection.execute(sa.text(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 4"))
    url = engine.url.set(username=role).render_as_string(hide_password=False)

    async def burst(pooled: AsyncEngine) -> list[int]:
        async def read() -> int:
            async with pooled.connect() as connection:
                return int(await connection.scalar(sa.text("SELECT 1 FROM pg_sleep(0.02)")))

        return await asyncio.gather(*(read() for _ in range(40)))

    try:
        fitted = await create_fitted_engine(url, pool_size=50)
        try:
            assert isinstance(fitted.pool, QueuePool)
            assert fitted.pool.size() <= 4 - CONNECTIONS_LEFT_FOR_OTHERS
            assert await burst(fitted) == [1] * 40
        finally:
            await fitted.dispose()
        unfitted = create_engine(url, pool_size=50)
        try:
            with pytest.raises(sa.exc.DBAPIError, match="too many connections"):
                await burst(unfitted)
        finally:
            await unfitted.dispose()
    finally:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f"DROP ROLE {role}"))
