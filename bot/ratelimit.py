"""Per-member command rate limits (aiolimiter's leaky bucket), answered at once, never queued."""

from __future__ import annotations

import math
from collections.abc import Hashable

from aiolimiter import AsyncLimiter

from bot.errors import RateLimited

_PRUNE_AT = 10_000


class KeyedRateLimiter:
    """`max_rate` calls per `period` seconds for each key (server, member, command)."""

    def __init__(self, max_rate: int, period: float = 60.0) -> None:
        self.max_rate = max_rate
        self.period = period
        self._limiters: dict[Hashable, AsyncLimiter] = {}

    async def hit(self, key: Hashable) -> None:
        """Count one call for `key`, or raise `RateLimited` with the seconds to wait."""
        limiter = self._limiters.get(key)
        if limiter is None:
            if len(self._limiters) >= _PRUNE_AT:
                self._prune()
            limiter = self._limiters[key] = AsyncLimiter(self.max_rate, self.period)
        if not limiter.has_capacity():
            raise RateLimited(seconds=self._seconds_until_free(limiter))
        await limiter.acquire()  # has capacity: returns at once

    def check(self, key: Hashable) -> None:
        """Raise `RateLimited` if a call for `key` would be refused now (counts nothing)."""
        limiter = self._limiters.get(key)
        if limiter is not None and not limiter.has_capacity():
            raise RateLimited(seconds=self._seconds_until_free(limiter))

    def _seconds_until_free(self, limiter: AsyncLimiter) -> int:
        per_second = self.max_rate / self.period
        level = getattr(limiter, "_level", float(self.max_rate))
        return max(1, math.ceil((level + 1 - self.max_rate) / per_second))

    def _prune(self) -> None:
        """Forget members whose bucket has fully drained (they'd get a fresh one anyway)."""
        for key, limiter in list(self._limiters.items()):
            if limiter.has_capacity(self.max_rate):
                del self._limiters[key]


class SharedBudget:
    """An API budget all servers share, of which each server may use only its share per period.

    Refuses at once (`RateLimited` with the seconds to wait) instead of queueing: a server that
    spends its share waits for it, never for another server's calls."""

    def __init__(self, total: int, per_server: int, period: float = 60.0) -> None:
        self._total = KeyedRateLimiter(total, period)
        self._per_server = KeyedRateLimiter(per_server, period)

    async def take(self, guild_id: int) -> None:
        """Count one call for the server, or raise `RateLimited` (nothing counted then)."""
        self._per_server.check(guild_id)
        self._total.check("all")
        await self._per_server.hit(guild_id)
        await self._total.hit("all")
