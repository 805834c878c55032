"""Races at the edges: removing an episode while the live check claims its tweets, and
recording the outcome of a tweet whose row vanished meanwhile."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.errors import EpisodeHasPostedTweets
from db import queries
from db.models import AttemptOutcome
from tests.pipeline_helpers import Pipeline, channel_id, open_pipeline, setup_podcast

GUILD = 1


@pytest.fixture
async def pipe(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Pipeline]:
    async with open_pipeline(sessions) as pipeline:
        yield pipeline


async def live_episode(pipe: Pipeline) -> int:
    setup = await setup_podcast(
        pipe, guild_id=GUILD, channel=channel_id(1), members=[(101, "Ann")], linked={101: "ann"}
    )
    async with pipe.sessions() as session, session.begin():
        await session.execute(
            sa.text("UPDATE episodes SET went_live_at = now() WHERE id = :e"),
            {"e": setup.episode_id},
        )
    return setup.episode_id


async def test_episode_remove_waits_for_a_claim_in_flight_and_then_refuses(
    pipe: Pipeline,
) -> None:
    """While a live check's claim of the episode's tweet is not yet committed, /episode remove
    waits for it instead of deleting the tweet under it; then it says the episode has posts."""
    episode_id = await live_episode(pipe)
    async with pipe.sessions() as claiming:
        transaction = await claiming.begin()
        now = utcnow()
        claimed = await queries.claim_pending_tweets(claiming, now - dt.timedelta(hours=2), now)
        assert claimed, "nothing to claim: the set-up is wrong"
        removal = asyncio.create_task(pipe.podcasts.remove_episode(GUILD, str(episode_id)))
        await asyncio.sleep(0.5)
        assert not removal.done(), "remove did not wait for the tweet's row lock"
        await transaction.commit()
    with pytest.raises(EpisodeHasPostedTweets):
        await removal
    async with pipe.sessions() as session:
        assert await session.scalar(sa.text("SELECT count(*) FROM episode_tweets")) == 1


async def test_outcomes_are_recorded_when_one_tweet_row_vanished(pipe: Pipeline) -> None:
    """Recording a batch of outcomes where one tweet's row was deleted meanwhile records the
    others and doesn't fail."""
    episode_id = await live_episode(pipe)
    async with pipe.sessions() as session:
        [kept] = (
            await session.scalars(
                sa.text("SELECT id FROM episode_tweets WHERE episode_id = :e").bindparams(
                    e=episode_id
                )
            )
        ).all()

    def attempt(tweet_id: int) -> queries.AttemptRow:
        return queries.AttemptRow(tweet_id, 1, AttemptOutcome.POSTED, None, 201, 0)

    async with pipe.sessions() as session, session.begin():
        await queries.record_outcomes(session, [], [attempt(kept), attempt(99_999)])
    async with pipe.sessions() as session:
        rows = (await session.execute(sa.text("SELECT episode_tweet_id FROM post_attempts"))).all()
    assert [r[0] for r in rows] == [kept]
