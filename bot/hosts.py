"""Who is still a host: holds for members who lost the host role or left, and admin holds.

A member without the host role keeps their host record (so they can still disable their tweet
and unlink X) but their pending tweets are held: `hosts.away_since` is set, and the live check's
claim skips them (db.queries._may_post). Getting the role back clears it. Admins hold or release
one host's tweet for an episode with `episode_tweets.held`. Knows nothing of Discord: the cogs
pass user and role ids.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import AWAY
from bot.clock import utcnow
from bot.errors import LOCKED_STATE_WORDS, InvalidInput, NoHostRecord, PodcastNotSetUp
from bot.podcasts import resolve_episode
from db import queries

log = logging.getLogger("onair.hosts")


@dataclass(frozen=True)
class HoldResult:
    episode_title: str
    held: bool  # the admin hold after the change
    still_held_for: str | None  # AWAY: released by the admin but its host lacks the role


class HostRoster:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    async def has_host_record(self, guild_id: int, user_id: int) -> bool:
        """A member who was ever a host here (a tweet or an X link) may still stop their own
        tweet and unlink X, role or not."""
        async with self._sessions() as session:
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                return False
            return await queries.get_host(session, podcast.id, user_id) is not None

    async def member_roles_changed(
        self, guild_id: int, user_id: int, role_ids: Collection[int]
    ) -> None:
        """A member's roles changed: hold their tweets without the host role, release with it."""
        async with self._sessions() as session, session.begin():
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                return
            is_host = podcast.host_role_id in role_ids
            changed = await queries.set_hosts_away(
                session, podcast.id, [user_id], away=not is_host, now=self._clock()
            )
        if changed:
            log.info("host %s of guild %s %s", user_id, guild_id, "is back" if is_host else "left")

    async def member_left(self, guild_id: int, user_id: int) -> None:
        await self.member_roles_changed(guild_id, user_id, ())

    async def reconcile(self, guild_id: int, role_holders: Collection[int]) -> None:
        """After (re)connecting: every host record agrees with who holds the role now, so
        changes made while the bot was offline are not missed."""
        async with self._sessions() as session, session.begin():
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is not None:
                await queries.reconcile_hosts_away(
                    session, podcast.id, set(role_holders), self._clock()
                )

    async def set_hold(
        self, guild_id: int, episode: str, user_id: int, name: str, held: bool
    ) -> HoldResult:
        """An admin holds or releases one host's tweet for an episode (pending tweets only)."""
        async with self._sessions() as session, session.begin():
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                raise PodcastNotSetUp()
            found = await resolve_episode(session, podcast.id, episode)
            host = await queries.get_host(session, podcast.id, user_id)
            tweet = None
            if host is not None:
                tweet = await queries.get_host_tweet(session, found.id, host.id, lock=True)
            if tweet is None:
                raise NoHostRecord(name=name)
            if not tweet.status.changeable:
                state = LOCKED_STATE_WORDS.get(tweet.status, tweet.status)
                raise InvalidInput(
                    problem=f"{name}'s tweet for “{found.title}” is already {state}, so it "
                    "can't be held or released."
                )
            tweet.held = held
            away = tweet.host.away_since is not None
            return HoldResult(found.title, held, AWAY if away and not held else None)
