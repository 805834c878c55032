"""A live check runs a fixed number of SQL statements, whatever the number of podcasts and hosts
(no N+1): counted with a cursor-execute listener on the real engine, real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.pipeline_helpers import (
    Pipeline,
    PodcastSetup,
    channel_id,
    clear_podcasts,
    go_live,
    open_pipeline,
    setup_podcast,
    video_id,
)

MANY_PODCASTS = 100
# Live: 40 x 20 = 800 tweets really posted through tweepy and the X emulator (~4 ms each, CPU
# bound); any per-podcast or per-host statement still shows as a difference from 1 x 1.
MANY_LIVE_PODCASTS = 40
MANY_HOSTS = 20


class StatementCounter:
    """Every statement sent to the database through `engine` while `counting` is on."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self.counting = False
        self.statements: list[str] = []
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(
        self,
        conn: Connection,
        cursor: object,
        statement: str,
        parameters: object,
        context: object,
        executemany: bool,
    ) -> None:
        if self.counting:
            self.statements.append(" ".join(statement.split())[:60])

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


@pytest.fixture
def counter(engine: AsyncEngine) -> Iterator[StatementCounter]:
    statement_counter = StatementCounter(engine)
    yield statement_counter
    statement_counter.close()


@pytest.fixture
async def pipe(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Pipeline]:
    async with open_pipeline(sessions) as pipeline:
        yield pipeline


@dataclass
class Counted:
    """One check and the posting it handed over."""

    check: list[str]  # the statements of run_check itself
    posting: list[str]  # those of the background posting, until every outcome is written
    posting_seconds: float
    reports: int
    posted: int

    def writes(self, start: str) -> int:
        """Statements (of the check and its posting) that start so."""
        return sum(1 for s in self.check + self.posting if s.startswith(start))

    def fixed(self) -> list[str]:
        """All but the writes that follow time: "sent" leases and outcome flushes. (The
        posting starts while the check ends, so they are counted together.)"""
        return [s for s in self.check + self.posting if not s.startswith(_BY_TIME)]


_LEASE = "UPDATE episode_tweets SET sent_at"
_FLUSH = (
    "UPDATE episode_tweets SET status=$1",
    "SELECT episode_tweets.id FROM",
    "INSERT INTO post",
)
_BY_TIME = (_LEASE, *_FLUSH)


async def counted_check(pipe: Pipeline, counter: StatementCounter) -> Counted:
    """Statements of one run_check, then of the posting it started."""
    posted_before = pipe.tweets_posted()
    counter.statements = []
    counter.counting = True
    try:
        result = await pipe.checker.run_check()
        check = list(counter.statements)
        started = time.monotonic()
        await pipe.poster.drain()
        seconds = time.monotonic() - started
    finally:
        counter.counting = False
    return Counted(
        check,
        counter.statements[len(check) :],
        seconds,
        len(result.reports),
        pipe.tweets_posted() - posted_before,
    )


async def make_podcasts(
    pipe: Pipeline, engine: AsyncEngine, podcasts: int, hosts: int, tag: int
) -> list[PodcastSetup]:
    """`podcasts` podcasts on their own channels, each with `hosts` linked hosts and an episode
    today; the database holds nothing else. Set up a few at a time, as many admins would."""
    await clear_podcasts(engine)
    members = [(10_000 + h, f"Host {h}") for h in range(hosts)]
    bound = asyncio.Semaphore(4)

    async def one(n: int) -> PodcastSetup:
        number = tag * 1000 + n
        async with bound:
            return await setup_podcast(
                pipe,
                guild_id=n + 1,
                channel=channel_id(number),
                members=members,
                linked={uid: f"user{uid}_{number}" for uid, _ in members},
            )

    return list(await asyncio.gather(*(one(n) for n in range(podcasts))))


def same_statements(small: list[str], large: list[str]) -> str:
    """An assertion message naming the statements that differ."""
    extra = Counter(large) - Counter(small)
    missing = Counter(small) - Counter(large)
    return f"{len(small)} vs {len(large)} statements; extra {dict(extra)}, missing {dict(missing)}"


async def test_offline_check_runs_as_many_statements_for_100_podcasts_as_for_1(
    pipe: Pipeline, engine: AsyncEngine, counter: StatementCounter
) -> None:
    """Checking 100 offline channels costs the same statements as checking 1."""
    await make_podcasts(pipe, engine, 1, 1, tag=1)
    one = await counted_check(pipe, counter)
    await make_podcasts(pipe, engine, MANY_PODCASTS, 1, tag=2)
    many = await counted_check(pipe, counter)

    assert one.check, "the listener saw nothing: it counts the wrong engine"
    assert len(one.check) == len(many.check), same_statements(one.check, many.check)
    assert one.posting == many.posting == []


async def test_live_check_runs_as_many_statements_for_40_podcasts_of_20_hosts_as_for_1(
    pipe: Pipeline, engine: AsyncEngine, counter: StatementCounter
) -> None:
    """Going live on 40 channels with 20 hosts each (800 tweets posted, 40 reports) costs the
    check the same statements as 1 channel with 1 host; the posting it hands over writes by
    time (a lease of "sent" marks and a flush of outcomes every half second or so), not by
    tweet."""
    [single] = await make_podcasts(pipe, engine, 1, 1, tag=3)
    go_live(pipe, single.channel_id, video_id(3000))
    one = await counted_check(pipe, counter)
    assert (one.reports, one.posted) == (1, 1)

    setups = await make_podcasts(pipe, engine, MANY_LIVE_PODCASTS, MANY_HOSTS, tag=4)
    for n, setup in enumerate(setups):
        go_live(pipe, setup.channel_id, video_id(4000 + n))
    many = await counted_check(pipe, counter)

    tweets = MANY_LIVE_PODCASTS * MANY_HOSTS
    assert (many.reports, many.posted) == (MANY_LIVE_PODCASTS, tweets)
    assert len(one.fixed()) == len(many.fixed()), same_statements(one.fixed(), many.fixed())
    # Per half second at most: one lease and one flush (an update, a lock, an insert), and a
    # few early leases while the first answers come in.
    halves = many.posting_seconds / 0.5 + 1
    leases, flushes = many.writes(_LEASE), many.writes("INSERT INTO post")
    assert leases <= 3 * halves + 5 and leases < tweets / 20, (leases, many.posting_seconds)
    assert flushes <= halves + 1, (flushes, many.posting_seconds)
