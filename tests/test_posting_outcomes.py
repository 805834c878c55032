"""Outcomes are kept as they happen: each is written within about a second of X's answer while
the rest of the batch is still posting, and one that cannot be written because the database is
down is kept and written when it is back. Real PostgreSQL (through a proxy that can cut it),
real tweepy against the X emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import create_engine, create_sessionmaker
from tests.db_outage import database_proxy
from tests.pipeline_helpers import (
    channel_id,
    go_live,
    open_pipeline,
    setup_podcast,
    tweet_rows,
    video_id,
)

GUILD = 1
ALICE, BOB = 101, 102


async def eventually(condition: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return await condition()


async def test_an_answered_post_is_recorded_while_another_is_still_in_flight(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Of two hosts, the one X answers at once is `posted` with its id in the database within
    about a second, while X is still working on the other."""
    async with open_pipeline(sessions, http_timeout=15.0) as pipe:
        setup = await setup_podcast(
            pipe,
            guild_id=GUILD,
            channel=channel_id(1),
            members=[(ALICE, "Alice"), (BOB, "Bob")],
            linked={ALICE: "alice", BOB: "bob"},
        )
        go_live(pipe, setup.channel_id, video_id(1))
        # Whichever post arrives first takes 8 s (within the timeout).
        pipe.x_emu.slow(8.0, times=1)

        check = asyncio.create_task(pipe.check())

        async def one_recorded() -> bool:
            rows = await tweet_rows(sessions)
            return any(t.status == "posted" for t in rows.values())

        recorded_mid_batch = await eventually(one_recorded, within=5.0)
        rows = await tweet_rows(sessions)
        mid_batch = sorted((t.status, t.tweet_id is not None) for t in rows.values())
        still_posting = not check.done()
        await check

        assert recorded_mid_batch and still_posting
        assert mid_batch == [("posted", True), ("posting", False)]
        rows = await tweet_rows(sessions)
        assert {t.status for t in rows.values()} == {"posted"}


async def test_an_outcome_is_kept_through_a_database_outage_and_written_when_it_is_back(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    """The database goes down while X is accepting a tweet: the tweet (on X) is not lost to
    `unknown`; once the database is back it is `posted` with X's id."""
    async with database_proxy(database_url) as proxy:
        proxied_engine = create_engine(proxy.url, pool_size=2)
        try:
            proxied = create_sessionmaker(proxied_engine)
            async with open_pipeline(proxied) as pipe:
                setup = await setup_podcast(
                    pipe,
                    guild_id=GUILD,
                    channel=channel_id(2),
                    members=[(ALICE, "Alice")],
                    linked={ALICE: "alice"},
                )
                go_live(pipe, setup.channel_id, video_id(2))
                pipe.x_emu.slow(1.0)

                await pipe.checker.run_check()  # posting goes on in the background

                async def x_has_the_request() -> bool:
                    return pipe.post_requests() == 1

                assert await eventually(x_has_the_request, within=10)
                proxy.cut()
                await asyncio.sleep(2.0)
                assert pipe.tweets_posted() == 1
                assert pipe.poster.recorder.waiting == 1
                [row] = (await tweet_rows(sessions)).values()
                assert (row.status, row.tweet_id) == ("posting", None)

                proxy.restore()

                async def recorded() -> bool:
                    [row] = (await tweet_rows(sessions)).values()
                    return row.status == "posted"

                assert await eventually(recorded, within=10)
                [row] = (await tweet_rows(sessions)).values()
                assert row.tweet_id == pipe.x_emu.all_tweets[0].tweet_id
                assert row.tweet_url and row.tweet_url.endswith(row.tweet_id)
                assert pipe.poster.recorder.waiting == 0
        finally:
            await proxied_engine.dispose()
