"""The YouTube client's memory of final videos, kept in the database (db.queries)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.youtube import VideoState
from db import queries


class DatabaseFinalVideos:
    """``FinalVideoStore`` on the database: one short query per check of a batch."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def load(self, video_ids: list[str]) -> Mapping[str, VideoState]:
        async with self._sessions() as session:
            found = await queries.final_video_states(session, video_ids)
        return {video_id: VideoState(state) for video_id, state in found.items()}

    async def save(self, states: Mapping[str, VideoState]) -> None:
        async with self._sessions() as session, session.begin():
            await queries.remember_final_videos(
                session, {video_id: str(state) for video_id, state in states.items()}
            )
