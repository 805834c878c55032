"""Bulkheads: one podcast's bad data fails that podcast's part of a live check and nothing
else. The other podcasts are recorded, matched and posted as usual; the failing one is told
once, in its own announce channel, with a reference code the log also has."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.pipeline_helpers import (
    ANNOUNCE_CHANNEL,
    Pipeline,
    channel_id,
    go_live,
    load_episode,
    open_pipeline,
    setup_podcast,
    video_id,
)

POISONED, HEALTHY = 1, 2
REF = re.compile(r"\(ref ([A-Z0-9]{6})\)")


@pytest.fixture
async def pipe(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Pipeline]:
    async with open_pipeline(sessions) as pipeline:
        yield pipeline


async def two_live_podcasts(pipe: Pipeline) -> tuple[int, int]:
    """Two servers with one linked host each, both channels live now."""
    ids = []
    for guild in (POISONED, HEALTHY):
        setup = await setup_podcast(
            pipe,
            guild_id=guild,
            channel=channel_id(guild),
            members=[(100 + guild, f"Host {guild}")],
            linked={100 + guild: f"host{guild}"},
        )
        go_live(pipe, setup.channel_id, video_id(guild))
        ids.append(setup.podcast_id)
    return ids[0], ids[1]


async def assert_only_the_healthy_one_went_on(
    pipe: Pipeline, caplog: pytest.LogCaptureFixture, poisoned_id: int
) -> None:
    first = await pipe.check()
    assert [r.guild_id for r in first.reports] == [HEALTHY]
    assert [line.state for line in first.reports[0].lines] == ["posted"]
    assert pipe.tweets_posted() == 1
    [told] = [n for n in first.notices if n.kind == "check_failed"]
    assert told.guild_id == POISONED and told.announce_channel_id == ANNOUNCE_CHANNEL + POISONED
    match = REF.search(told.text)
    assert match and "Traceback" not in told.text, told.text
    assert match.group(1) in caplog.text, "the log has no entry under the notice's reference"
    assert all(n.guild_id == POISONED for n in first.notices)
    second = await pipe.check()
    assert [n for n in second.notices if n.kind == "check_failed"] == [], "told twice"
    async with pipe.sessions() as session:
        episode_ids = (
            await session.scalars(
                sa.text("SELECT id FROM episodes WHERE podcast_id = :p").bindparams(p=poisoned_id)
            )
        ).all()
    assert (await load_episode(pipe.sessions, episode_ids[0])).live_video_id is None


async def test_a_poisoned_timezone_fails_only_its_own_podcast(
    pipe: Pipeline, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A podcast row whose timezone was poisoned in the database (localtime, which PostgreSQL
    refuses) doesn't stop another server's stream from being matched and posted."""
    caplog.set_level(logging.ERROR, logger="onair.live")
    poisoned_id, _ = await two_live_podcasts(pipe)
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE podcasts SET timezone = 'localtime' WHERE id = :p"), {"p": poisoned_id}
        )
    await assert_only_the_healthy_one_went_on(pipe, caplog, poisoned_id)


async def test_a_row_the_database_refuses_fails_only_its_own_podcast(
    pipe: Pipeline, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A podcast row the database refuses to update (a trigger raising for that one row) fails
    the shared transaction; the check then goes podcast by podcast and the healthy server's
    stream is still tied to its episode and posted. Once the row is healed, it is checked."""
    caplog.set_level(logging.ERROR, logger="onair.live")
    poisoned_id, _ = await two_live_podcasts(pipe)
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.id = {poisoned_id} THEN RAISE EXCEPTION 'poisoned row'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await conn.execute(
            sa.text(
                "CREATE TRIGGER poison BEFORE UPDATE ON podcasts FOR EACH ROW EXECUTE FUNCTION poison()"
            )
        )
    try:
        await assert_only_the_healthy_one_went_on(pipe, caplog, poisoned_id)
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER poison ON podcasts"))
            await conn.execute(sa.text("DROP FUNCTION poison()"))
    healed = await pipe.check()
    assert [r.guild_id for r in healed.reports] == [POISONED]
    assert pipe.tweets_posted() == 2
