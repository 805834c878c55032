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

    def _seconds_until_free(self, limiter: AsyncLimiter) -> int:
        per_second = self.max_rate / self.period
        level = getattr(limiter, "_level", float(self.max_rate))
        return max(1, math.ceil((level + 1 - self.max_rate) / per_second))

    def _prune(self) -> None:
        """Forget members whose bucket has fully drained (they'd get a fresh one anyway)."""
        for key, limiter in list(self._limiters.items()):
            if limiter.has_capacity(self.max_rate):
                del self._limiters[key]
