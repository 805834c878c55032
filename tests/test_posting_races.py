"""At-most-once posting under races: a host switching a tweet off, a second checker process, and
/tweet post-now, each racing the live check on one real PostgreSQL. X is the loopback emulator,
so "posted exactly once" is counted where it matters: on X."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.drafts import Drafter
from bot.errors import TweetLocked
from bot.tweets import TweetService
from db.engine import create_engine, create_sessionmaker
from tests.emulators.x_api import TWEET_PATH
from tests.pipeline_helpers import (
    Pipeline,
    PodcastSetup,
    all_tweets,
    channel_id,
    go_live,
    open_pipeline,
    setup_podcast,
    clear_podcasts,
    tweet_rows,
    video_id,
)

ITERATIONS = 20
GUILD = 1
ALICE, BOB = 101, 102
# Spread the racing call over the check's whole life: before YouTube answers, around the claim,
# while X is answering (slowed below), and after.
DELAYS = [i * 0.0006 for i in range(ITERATIONS)]
X_LATENCY = 0.03


@pytest.fixture
async def other_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A second engine (its own connection pool) on the same database: a second process."""
    engine = create_engine(database_url, pool_size=5)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def pipe(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Pipeline]:
    async with open_pipeline(sessions) as pipeline:
        yield pipeline


def tweet_service(pipe: Pipeline, sessions: async_sessionmaker[AsyncSession]) -> TweetService:
    """A TweetService on `sessions` (maybe another engine), posting through `pipe`'s poster."""
    return TweetService(
        sessions, Drafter(api_key=None), pipe.poster, ai_limiter=AsyncLimiter(100, 1)
    )


async def fresh_live_podcast(
    pipe: Pipeline, engine: AsyncEngine, round_no: int, members: list[tuple[int, str]]
) -> tuple[PodcastSetup, dict[int, str]]:
    """An empty database, then one podcast whose members are linked to X accounts unique to
    this round, its channel live. Returns the setup and user id -> X username."""
    await clear_podcasts(engine)
    usernames = {uid: f"{name.lower()}{round_no}" for uid, name in members}
    setup = await setup_podcast(
        pipe,
        guild_id=GUILD,
        channel=channel_id(1000 + round_no),
        members=members,
        linked=usernames,
    )
    go_live(pipe, setup.channel_id, video_id(1000 + round_no))
    return setup, usernames


@pytest.mark.parametrize("engines", ["one engine", "two engines"])
async def test_disable_racing_the_live_check_never_posts_after_success(
    pipe: Pipeline,
    engine: AsyncEngine,
    other_sessions: async_sessionmaker[AsyncSession],
    engines: str,
) -> None:
    """If switching a tweet off returned, X never gets it; if it was refused (TweetLocked), the
    tweet was being posted and is posted exactly once."""
    service = tweet_service(pipe, pipe.sessions if engines == "one engine" else other_sessions)
    outcomes: Counter[str] = Counter()
    for round_no, delay in enumerate(DELAYS):
        setup, usernames = await fresh_live_podcast(
            pipe, engine, round_no, [(ALICE, "Alice"), (BOB, "Bob")]
        )
        pipe.x_emu.slow(X_LATENCY, times=2)

        async def disable() -> str:
            await asyncio.sleep(delay)  # noqa: B023 - awaited within this iteration
            try:
                await service.set_enabled(GUILD, ALICE, str(setup.episode_id), False)  # noqa: B023
            except TweetLocked as refused:
                assert refused.details["state"] in ("being posted", "posted")
                return "refused"
            return "disabled"

        outcome, _ = await asyncio.gather(disable(), pipe.checker.run_check())
        await pipe.checker.run_check()  # a later check must not change the answer
        outcomes[outcome] += 1

        alice = pipe.x_emu.tweets_of(usernames[ALICE])
        row = (await tweet_rows(pipe.sessions))[ALICE]
        if outcome == "disabled":
            assert alice == [], f"round {round_no}: disabled, yet posted"
            assert (row.status, row.enabled) == ("pending", False)
        else:
            assert len(alice) == 1, f"round {round_no}: refused, yet not posted once"
            assert row.status == "posted"
        assert len(pipe.x_emu.tweets_of(usernames[BOB])) == 1
    # Both sides of the race were really exercised.
    assert outcomes["disabled"] > 0 and outcomes["refused"] > 0, outcomes


async def test_two_checkers_on_one_database_post_each_tweet_once(
    sessions: async_sessionmaker[AsyncSession],
    other_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    """Two checker processes (own engines, own YouTube and X clients) racing on one database:
    every tweet reaches X exactly once and every stream is announced by one of them."""
    async with (
        open_pipeline(sessions) as first,
        open_pipeline(
            other_sessions,
            youtube_emu=first.youtube_emu,
            x_emu=first.x_emu,
            cipher=first.cipher,
        ) as second,
    ):
        assert first.youtube is not second.youtube and first.x is not second.x
        members = [(100 + n, f"Host{n}") for n in range(3)]
        for round_no in range(ITERATIONS // 2):
            await clear_podcasts(engine)
            before = first.tweets_posted()
            for show in range(3):
                number = round_no * 10 + show
                setup = await setup_podcast(
                    first,
                    guild_id=show + 1,
                    channel=channel_id(2000 + number),
                    members=members,
                    linked={uid: f"{name.lower()}_{number}" for uid, name in members},
                )
                go_live(first, setup.channel_id, video_id(2000 + number))

            results = await asyncio.gather(first.checker.run_check(), second.checker.run_check())
            again = await asyncio.gather(first.checker.run_check(), second.checker.run_check())

            posted = first.x_emu.all_tweets[before:]
            assert len(posted) == 9, f"round {round_no}: {len(posted)} tweets for 9 hosts"
            assert len({(t.username, t.text) for t in posted}) == 9
            assert first.post_requests() == before + 9  # no second attempt, even a refused one
            assert {t.status for t in await all_tweets(sessions)} == {"posted"}
            announced = [
                r.episode_id for res in results for r in res.reports if r.report_message_id is None
            ]
            assert sorted(announced) == sorted(set(announced)) and len(announced) == 3
            assert all(res.reports == [] for res in again)


@pytest.mark.parametrize("engines", ["one engine", "two engines"])
async def test_post_now_racing_the_live_check_posts_one_tweet(
    pipe: Pipeline,
    engine: AsyncEngine,
    other_sessions: async_sessionmaker[AsyncSession],
    engines: str,
) -> None:
    """/tweet post-now at the moment the stream starts: one tweet on X, whoever wins."""
    service = tweet_service(pipe, pipe.sessions if engines == "one engine" else other_sessions)
    outcomes: Counter[str] = Counter()
    for round_no, delay in enumerate(DELAYS):
        setup, usernames = await fresh_live_podcast(pipe, engine, round_no, [(ALICE, "Alice")])
        pipe.x_emu.slow(X_LATENCY, times=1)
        requests_before = pipe.x_emu.count(TWEET_PATH)

        async def post_now() -> str:
            await asyncio.sleep(delay)  # noqa: B023 - awaited within this iteration
            try:
                result = await service.post_now(GUILD, ALICE, str(setup.episode_id))  # noqa: B023
            except TweetLocked:
                return "refused"
            assert result.line.status == "posted"
            return "posted now"

        outcome, _ = await asyncio.gather(post_now(), pipe.checker.run_check())
        await pipe.checker.run_check()
        outcomes[outcome] += 1

        assert len(pipe.x_emu.tweets_of(usernames[ALICE])) == 1, f"round {round_no}: {outcome}"
        assert pipe.x_emu.count(TWEET_PATH) == requests_before + 1
        assert (await tweet_rows(pipe.sessions))[ALICE].status == "posted"
    assert outcomes["posted now"] > 0 and outcomes["refused"] > 0, outcomes
