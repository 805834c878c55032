"""One async engine and one session factory per process, created at start-up (never at import)."""

from __future__ import annotations

import os
import traceback

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The engine for `url` (postgresql+asyncpg://...). pre_ping survives database restarts."""
    # Short connect and pool waits: while the database is down a command still answers within
    # Discord's 3 s ("OnAir can't reach its database right now"), instead of hanging.
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=2,
        connect_args={"timeout": 2},
    )


def is_outage(error: BaseException) -> bool:
    """True when `error` (or what caused it) means the database can't be reached right now:
    SQLAlchemy's connection errors, or a network error or timeout raised inside asyncpg or
    SQLAlchemy (a refused connect arrives unwrapped)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(
            seen,
            sa_exc.OperationalError
            | sa_exc.InterfaceError
            | sa_exc.TimeoutError
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
