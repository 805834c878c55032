"""The minute-by-minute scans (readiness boards, scheduled events) load whole only the episodes
that have work, so 5,000 podcasts cost a few plain rows, not 5,000 ORM graphs on the event loop
every minute (bench/README.md, "Memory")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.readiness import DAY_BEFORE, HOUR_BEFORE, ReadinessService
from db import queries
from db.models import Episode, Podcast
from tests.pipeline_helpers import channel_id, open_pipeline

QUIET = 200  # podcasts whose untimed episode's day has begun: no board, no event to make


@contextmanager
def episodes_loaded() -> Iterator[list[int]]:
    """Ids of the Episode objects the ORM builds meanwhile."""
    loaded: list[int] = []

    def on_load(target: Episode, _context: Any) -> None:
        loaded.append(target.id)

    sa.event.listen(Episode, "load", on_load)
    try:
        yield loaded
    finally:
        sa.event.remove(Episode, "load", on_load)


async def add_podcasts(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime
) -> tuple[int, int]:
    """QUIET podcasts with an untimed episode today, one whose episode starts in 50 minutes,
    and one untimed episode on a channel that announced a stream in 3 hours. Returns the
    timed episode's id and the announced one's."""
    today = now.date()
    async with sessions() as session, session.begin():
        podcast_ids = list(
            await session.scalars(
                sa.insert(Podcast).returning(Podcast.id),
                [
                    {
                        "guild_id": 80_000 + n,
                        "name": f"Show {n}",
                        "youtube_channel_id": channel_id(80_000 + n),
                        "announce_channel_id": 1,
                        "host_role_id": 1,
                        "upcoming_start_at": now + dt.timedelta(hours=3) if n == 1 else None,
                    }
                    for n in range(QUIET + 2)
                ],
            )
        )
        episode_ids = list(
            await session.scalars(
                sa.insert(Episode).returning(Episode.id),
                [
                    {
                        "podcast_id": p,
                        "title": "Episode 12",
                        "scheduled_date": today,
                        "scheduled_at": now + dt.timedelta(minutes=50) if n == 0 else None,
                    }
                    for n, p in enumerate(podcast_ids)
                ],
            )
        )
    return episode_ids[0], episode_ids[1]


async def test_board_scan_loads_only_the_episodes_whose_board_is_due(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Of 202 episodes today, the one starting within the hour gets its hour-before board and
    the one whose stream is announced in 3 hours its day-before board; only those two are
    loaded whole, the others are read as plain schedule rows."""
    async with open_pipeline(sessions) as pipe:
        now = pipe.clock()
        timed, announced = await add_podcasts(sessions, now)
        readiness = ReadinessService(
            sessions, pipe.x, pipe.cipher, x_limiter=pipe.x_limiter, clock=pipe.clock
        )
        with episodes_loaded() as loaded:
            boards = await readiness.due_boards(lambda _guild, _role: None)
    assert sorted((b.episode_id, b.stage) for b in boards) == sorted(
        [(timed, HOUR_BEFORE), (announced, DAY_BEFORE)]
    )
    assert set(loaded) == {timed, announced}


async def test_event_scan_loads_only_episodes_that_can_have_an_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An event needs a start still ahead: the episode's own time, or the start the channel
    announced. The 200 untimed episodes whose day has begun are not even loaded."""
    async with open_pipeline(sessions) as pipe:
        now = pipe.clock()
        timed, announced = await add_podcasts(sessions, now)
        with episodes_loaded() as loaded:
            async with sessions() as session:
                candidates = await queries.event_candidates(session, now)
    assert sorted(episode.id for episode, _ in candidates) == sorted([timed, announced])
    assert sorted(loaded) == sorted([timed, announced])
