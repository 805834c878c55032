"""At-most-once posting under races: a host switching a tweet off, a second checker process, and
/tweet post-now, each racing the live check on one real PostgreSQL. X is the loopback emulator,
so "posted exactly once" is counted where it matters: on X."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.drafts import Drafter
from bot.errors import TweetLocked
from bot.tweets import TweetService
from db.engine import create_engine, create_sessionmaker
from tests.emulators.base import Fault
from tests.pipeline_helpers import (
    Pipeline,
    PodcastSetup,
    all_tweets,
    channel_id,
    clear_podcasts,
    go_live,
    open_pipeline,
    setup_podcast,
    tweet_rows,
    video_id,
)

ROUNDS = 16
GUILD = 1
ALICE, BOB = 101, 102
X_LATENCY = 0.03  # X answers slowly, so a tweet stays `posting` for a while
YOUTUBE_STALL = 0.15  # long enough for the racing call to finish before the check claims


class RaceStarts:
    """When the racing call starts in each round, so both sides of the race are certainly hit
    on a fast or a loaded machine alike:

    round 0: the moment X receives the check's first post (claimed: the call must be refused);
             it also measures how long after the start of a check that moment comes;
    round 1: with YouTube stalled, so the call lands before the check can claim anything;
    later:   after delays spread from 0 to the measured moment, across the claim.
    """

    def __init__(self, pipe: Pipeline) -> None:
        self._pipe = pipe
        self._claim_after = 0.0

    async def warm_up(self, engine: AsyncEngine) -> None:
        """One unraced live round first: connections open, so round 0 measures a normal check."""
        await fresh_live_podcast(self._pipe, engine, 999, [(ALICE, "Alice")])
        await self._pipe.check()

    def arm(self, round_no: int) -> None:
        """Call right before the race; slows YouTube for round 1."""
        if round_no == 1:
            self._pipe.youtube_emu.inject(
                Fault(kind="latency", path_prefix="/channel/", seconds=YOUTUBE_STALL)
            )

    async def wait(self, round_no: int, started: float, posts_before: int) -> None:
        if round_no == 0:
            async with asyncio.timeout(5):
                while self._pipe.post_requests() <= posts_before:
                    await asyncio.sleep(0.0005)
            self._claim_after = time.perf_counter() - started
        elif round_no > 1:
            await asyncio.sleep(self._claim_after * (round_no - 2) / (ROUNDS - 3))


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
    pipe.x_emu.clear_faults()
    pipe.youtube_emu.clear_faults()
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


async def switch_off(service: TweetService, setup: PodcastSetup, start: Awaitable[None]) -> str:
    """Alice switches her tweet off once `start` is done: "disabled" or "refused"."""
    await start
    try:
        await service.set_enabled(GUILD, ALICE, str(setup.episode_id), False)
    except TweetLocked as refused:
        assert refused.details["state"] in ("being posted", "posted")
        return "refused"
    return "disabled"


async def post_now(service: TweetService, setup: PodcastSetup, start: Awaitable[None]) -> str:
    """Alice posts her tweet now once `start` is done: "posted now" or "refused"."""
    await start
    try:
        result = await service.post_now(GUILD, ALICE, str(setup.episode_id))
    except TweetLocked:
        return "refused"
    assert result.line.status == "posted"
    return "posted now"


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
    starts = RaceStarts(pipe)
    await starts.warm_up(engine)
    for round_no in range(ROUNDS):
        setup, usernames = await fresh_live_podcast(
            pipe, engine, round_no, [(ALICE, "Alice"), (BOB, "Bob")]
        )
        pipe.x_emu.slow(X_LATENCY, times=2)
        starts.arm(round_no)
        started, posts_before = time.perf_counter(), pipe.post_requests()

        outcome, _ = await asyncio.gather(
            switch_off(service, setup, starts.wait(round_no, started, posts_before)),
            pipe.check(),
        )
        await pipe.check()  # a later check must not change the answer
        outcomes[outcome] += 1
        assert round_no != 0 or outcome == "refused"
        assert round_no != 1 or outcome == "disabled"

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
        for round_no in range(ROUNDS // 2):
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

            results = await asyncio.gather(first.check(), second.check())
            again = await asyncio.gather(first.check(), second.check())

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
    starts = RaceStarts(pipe)
    await starts.warm_up(engine)
    for round_no in range(ROUNDS):
        setup, usernames = await fresh_live_podcast(pipe, engine, round_no, [(ALICE, "Alice")])
        pipe.x_emu.slow(X_LATENCY, times=1)
        starts.arm(round_no)
        started, requests_before = time.perf_counter(), pipe.post_requests()

        outcome, _ = await asyncio.gather(
            post_now(service, setup, starts.wait(round_no, started, requests_before)),
            pipe.check(),
        )
        await pipe.check()
        outcomes[outcome] += 1
        assert round_no != 0 or outcome == "refused"
        assert round_no != 1 or outcome == "posted now"

        assert len(pipe.x_emu.tweets_of(usernames[ALICE])) == 1, f"round {round_no}: {outcome}"
        assert pipe.post_requests() == requests_before + 1
        assert (await tweet_rows(pipe.sessions))[ALICE].status == "posted"
    assert outcomes["posted now"] > 0 and outcomes["refused"] > 0, outcomes
