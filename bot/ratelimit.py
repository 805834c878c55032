"""Rate limits: per-member command limits (aiolimiter's leaky bucket), answered at once, never
queued; and X's own posting limits, learned from its answers."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from bot.errors import RateLimited, Reason
from bot.publisher import PostLimits, PostResult

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


# ---- X's own posting limits ----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Why posting must wait, and until when."""

    reason: Reason
    until: dt.datetime


class XPostingLimits:
    """X's limits of POST /2/tweets as its answers report them (README "Posting at X's pace"):
    each account's 15-minute window and 24-hour cap, and the app's 24-hour cap for all
    accounts together. Nothing is guessed: an account is held only after X said it has no
    room left, and only until the reset X named, so one host's limit never slows another."""

    def __init__(self) -> None:
        self._accounts: dict[str, Block] = {}
        self._app: Block | None = None

    def learn(self, account: str, result: PostResult, now: dt.datetime) -> None:
        """Remember what one answer for `account` said about the limits."""
        limits = result.limits or PostLimits()
        if limits.app_day is not None and limits.app_day.remaining <= 0:
            self._app = Block(Reason.APP_DAILY_CAP, limits.app_day.reset_at)
        elif result.reason is Reason.APP_DAILY_CAP and result.retry_at is not None:
            self._app = Block(Reason.APP_DAILY_CAP, result.retry_at)
        blocks = [
            Block(reason, quota.reset_at)
            for reason, quota in (
                (Reason.DAILY_CAP, limits.user_day),
                (Reason.RATE_LIMITED, limits.window),
            )
            if quota is not None and quota.remaining <= 0 and quota.reset_at > now
        ]
        if result.reason in (Reason.RATE_LIMITED, Reason.DAILY_CAP) and result.retry_at:
            blocks.append(Block(result.reason, result.retry_at))
        if blocks:
            self._accounts[account] = max(blocks, key=lambda block: block.until)
        elif limits.window is not None or limits.user_day is not None:
            self._accounts.pop(account, None)  # X says there is room again

    def app_block(self, now: dt.datetime) -> Block | None:
        """Whether the app's 24-hour cap holds every account now."""
        if self._app is not None and self._app.until <= now:
            self._app = None
        return self._app

    def blocked(self, account: str, now: dt.datetime) -> Block | None:
        """Whether a post for `account` must wait now: the app's cap first, then the account's."""
        app = self.app_block(now)
        if app is not None:
            return app
        block = self._accounts.get(account)
        if block is not None and block.until <= now:
            del self._accounts[account]
            return None
        return block
