"""The engine's connection handling: a ping at checkout replaces connections the database
dropped, and single reads run without a BEGIN/ROLLBACK around them. Real PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.engine import create_engine, create_sessionmaker, single_read

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
