"""One async engine and one session factory per process, created at start-up (never at import)."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger("onair.db")

# The longest anything waits for a free pooled connection, and for a new one to open: under
# Discord's 3 s acknowledgement deadline, so a command that can't get a connection (a burst
# bigger than the pool held up by a slow database, or the database down) still answers in
# time ("OnAir can't reach its database right now") instead of Discord's "did not respond".
POOL_WAIT_SECONDS = 2.0
# Connections left to everyone else under the server's and database's limits (psql, a
# `python -m bot migrate` or `check` run beside the bot).
CONNECTIONS_LEFT_FOR_OTHERS = 2


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The engine for `url` (postgresql+asyncpg://...), never more than `pool_size`
    connections: a burst bigger than the pool queues for a connection (at most
    POOL_WAIT_SECONDS) instead of opening more than PostgreSQL allows. A ping at checkout
    survives database restarts (``_ping_on_checkout``)."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_WAIT_SECONDS,
        connect_args={"timeout": POOL_WAIT_SECONDS},
    )
    event.listen(engine.sync_engine.pool, "checkout", _ping_on_checkout)
    return engine


async def create_fitted_engine(url: str, *, pool_size: int) -> AsyncEngine:
    """`create_engine` with a pool that fits what the server lets us open: at most
    `pool_size`, and no more than PostgreSQL's max_connections (less its reserved slots), the
    database's and the role's CONNECTION LIMIT allow beside the connections others hold now."""
    probe = create_engine(url, pool_size=1)
    try:
        async with probe.connect() as connection:
            room = await connection.scalar(_ROOM_FOR_US)
    finally:
        await probe.dispose()
    fitted = max(1, min(pool_size, int(room) - CONNECTIONS_LEFT_FOR_OTHERS))
    if fitted < pool_size:
        log.warning(
            "DATABASE_POOL_SIZE %d is more than PostgreSQL lets OnAir open (room for %d "
            "connections): using a pool of %d",
            pool_size,
            room,
            fitted,
        )
    return create_engine(url, pool_size=fitted)


# Free connection slots for this role in this database, counting our own probe as free.
_ROOM_FOR_US = sa.text(
    """
    SELECT least(
        current_setting('max_connections')::int
            - current_setting('superuser_reserved_connections')::int
            - coalesce(current_setting('reserved_connections', true)::int, 0)
            - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
        coalesce((SELECT nullif(datconnlimit, -1) FROM pg_database
                  WHERE datname = current_database()), 1000000)
            - (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),
        coalesce((SELECT nullif(rolconnlimit, -1) FROM pg_roles
                  WHERE rolname = current_user), 1000000)
            - (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)
    ) + 1
    """
)


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
    """A session for reads without BEGIN and ROLLBACK around them (autocommit).

    Every slash command's checks read the podcast first; under 200 concurrent commands the
    round trips queue on the pool, so each saved one shows in the acknowledgement time
    (bench/load.py). Only for one SELECT, or reads that need no common snapshot (a listing):
    anything that writes, or decides from two reads together, needs a transaction."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
