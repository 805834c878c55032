"""One async engine and one session factory per process, created at start-up (never at import)."""

from __future__ import annotations

import os
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The engine for `url` (postgresql+asyncpg://...). A ping at checkout survives database
    restarts (``_ping_on_checkout``)."""
    # A short connect timeout: while the database is down a command still answers within
    # Discord's 3 s ("OnAir can't reach its database right now"), instead of hanging.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=10, connect_args={"timeout": 2}
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping_on_checkout)
    return engine


def _ping_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """SQLAlchemy's ``pool_pre_ping``, in one round trip instead of three.

    Its asyncpg ping wraps the ``;`` in BEGIN/ROLLBACK (for pgbouncer's transaction mode), so
    every checkout cost three round trips; under a burst of commands those queue on the pool
    (bench/load.py). A connection that fails the ping is replaced: raising DisconnectionError
    is SQLAlchemy's documented way to make the pool retry with a fresh one."""
    from sqlalchemy.util import await_

    try:
        await_(record.driver_connection.fetchrow(";"))
    except Exception as error:
        raise exc.DisconnectionError() from error


def is_outage(error: BaseException) -> bool:
    """True when `error` (or what caused it) means the database can't be reached right now:
    SQLAlchemy's connection errors, or a network error or timeout raised inside asyncpg or
    SQLAlchemy (a refused connect arrives unwrapped)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(
            seen,
            exc.OperationalError
            | exc.InterfaceError
            | exc.TimeoutError
            | asyncpg.PostgresConnectionError
            | asyncpg.InterfaceError,
        ):
            return True
        if isinstance(seen, OSError | TimeoutError) and _raised_in_database_client(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _raised_in_database_client(error: BaseException) -> bool:
    return any(
        f"{os.sep}{package}{os.sep}" in frame.f_code.co_filename
        for frame, _ in traceback.walk_tb(error.__traceback__)
        for package in ("asyncpg", "sqlalchemy")
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for short units of work: `async with sessions() as s, s.begin(): ...`."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def single_read(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for one read statement, without BEGIN and ROLLBACK around it (autocommit).

    Every slash command's checks read the podcast first; under 200 concurrent commands the
    round trips queue on the pool, so each saved one shows in the acknowledgement time
    (bench/load.py). Only for a single SELECT: anything that reads twice or writes needs a
    transaction."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
