"""Who may read the JSON API, and what it reads (README "JSON API").

A server's admin creates one bearer token with /podcast api-token; it is shown once and stored
only as its SHA-256 (a random 256-bit token needs no slow hash: nothing can be guessed from the
digest). A token sees its own podcast and nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.errors import PodcastNotSetUp
from db import queries
from db.models import Episode, EpisodeTweet, Podcast

TOKEN_PREFIX = "onair_"  # noqa: S105 (a marker, not a secret)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class EpisodeDetail:
    episode: Episode
    tweets: Sequence[EpisodeTweet]


class ApiAccess:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create_token(self, guild_id: int, user_id: int) -> str:
        """A new token for the server's podcast; any earlier one stops working."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._sessions() as session, session.begin():
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                raise PodcastNotSetUp()
            await queries.replace_api_token(session, podcast.id, token_digest(token), user_id)
        return token

    async def revoke_token(self, guild_id: int) -> bool:
        """True when there was a token to revoke."""
        async with self._sessions() as session, session.begin():
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                raise PodcastNotSetUp()
            return await queries.delete_api_token(session, podcast.id)

    async def podcast_of(self, token: str) -> Podcast | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        async with self._sessions() as session:
            return await queries.podcast_of_api_token(session, token_digest(token))

    async def episodes(self, podcast_id: int) -> Sequence[Episode]:
        async with self._sessions() as session:
            return await queries.episodes_of_podcast(session, podcast_id)

    async def episode(self, podcast_id: int, episode_id: int) -> EpisodeDetail | None:
        """The episode with every host's tweet, or None when it isn't this podcast's."""
        async with self._sessions() as session:
            episode = await queries.get_episode(session, podcast_id, episode_id)
            if episode is None:
                return None
            return EpisodeDetail(episode, await queries.tweets_of_episode(session, episode.id))
