"""One async engine and one session factory per process, created at start-up (never at import)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The engine for `url` (postgresql+asyncpg://...). pre_ping survives database restarts."""
    return create_async_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for short units of work: `async with sessions() as s, s.begin(): ...`."""
    return async_sessionmaker(engine, expire_on_commit=False)
