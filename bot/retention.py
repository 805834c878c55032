"""What happens to a server's data after the bot is removed from it.

Removal marks the podcast inactive and notes when (PodcastService.deactivate). Nothing is
deleted at once, in case the removal was a mistake and the bot comes back (that
stops the countdown). After REMOVED_SERVER_TOKEN_DAYS the hosts' X tokens are revoked at X
(best effort) and deleted; after REMOVED_SERVER_DATA_DAYS the podcast and everything that hangs
off it (episodes, tweets, hosts, attempts) is deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.crypto import TokenCipher
from bot.linking import revoke_at_x
from bot.x import XService
from db import queries

log = logging.getLogger("onair.retention")


@dataclass(frozen=True)
class CleanupResult:
    tokens_deleted: int
    tokens_revoked: int
    podcasts_deleted: int


class RemovedServerCleanup:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        x: XService,
        cipher: TokenCipher,
        *,
        x_limiter: AsyncLimiter,
        token_days: int,
        data_days: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._x = x
        self._cipher = cipher
        self._x_limiter = x_limiter
        self._token_age = dt.timedelta(days=token_days)
        self._data_age = dt.timedelta(days=data_days)
        self._clock = clock

    async def returned(self, guild_id: int) -> None:
        """The bot is back in the server: nothing of it is deleted (setup switches it on)."""
        async with self._sessions() as session, session.begin():
            await queries.clear_removed(session, guild_id)

    async def run(self) -> CleanupResult:
        now = self._clock()
        async with self._sessions() as session:
            accounts = await queries.x_accounts_of_removed(session, now - self._token_age)
        revoked = 0
        for account in accounts:
            revoked += await revoke_at_x(self._x, self._cipher, self._x_limiter, account)
        async with self._sessions() as session, session.begin():
            deleted = await queries.delete_x_accounts(session, [a.id for a in accounts])
            podcasts = await queries.delete_removed_podcasts(session, now - self._data_age)
        if deleted or podcasts:
            log.info(
                "removed servers: deleted %d X token pairs (%d revoked at X) and %d podcasts",
                deleted,
                revoked,
                podcasts,
            )
        return CleanupResult(deleted, revoked, podcasts)
