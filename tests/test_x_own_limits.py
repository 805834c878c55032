"""Posting keeps to X's own limits, learned from its answers' headers, per account: a host whose
window is used up waits for its reset (or is retried after it) while every other host's post goes
straight through, and the app's 24-hour cap holds every host."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.errors import CATALOGUE, Reason
from db.models import PostStatus
from tests.pipeline_helpers import (
    all_tweets,
    attempts_of,
    channel_id,
    go_live,
    linked_show,
    open_pipeline,
    setup_podcast,
    tweet_rows,
    video_id,
)

HOSTS = [(300 + n, f"Host {n}") for n in range(12)]
X_LATENCY = 0.2
CONCURRENCY = 4


async def test_a_429_for_one_host_never_slows_the_others(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """One host's 15-minute window is used up (X answers 429 with reset headers): that host's
    tweet goes back to pending until the reset, said in the catalogue's words, tried once; the
    11 others are posted as fast as X answers (3 rounds of 4 at 0.2 s), not slower."""
    async with open_pipeline(sessions, concurrency=CONCURRENCY) as pipe:
        setup = await linked_show(pipe, HOSTS)
        limited_uid = HOSTS[0][0]
        pipe.x_emu.set_window(f"host{limited_uid}", remaining=0, reset_in=900)
        pipe.x_emu.slow(X_LATENCY, times=100)
        go_live(pipe, setup.channel_id, video_id(1))

        started = time.monotonic()
        result = await pipe.check()
        took = time.monotonic() - started

        rows = await tweet_rows(sessions)
        limited = rows.pop(limited_uid)
        assert {t.status for t in rows.values()} == {PostStatus.POSTED}
        rounds = -(-len(HOSTS) // CONCURRENCY)
        assert took < rounds * X_LATENCY + 1.5, took  # + the check and one outcome flush
        assert (limited.status, limited.failure_reason) == (PostStatus.PENDING, "rate_limited")
        assert limited.next_attempt_at is not None
        assert limited.next_attempt_at.timestamp() > time.time() + 800  # X's reset, not ours
        [attempt] = await attempts_of(sessions, limited.id)
        assert (attempt.outcome, attempt.http_status) == ("retry", 429)
        [line] = [ln for r in result.reports for ln in r.lines if ln.host_user_id == limited_uid]
        assert line.state == "retrying"
        assert line.reason and CATALOGUE[Reason.RATE_LIMITED].sentence in line.reason

        await pipe.check()  # before the reset: not asked again
        assert pipe.post_requests() == len(HOSTS)


async def test_the_apps_24_hour_cap_holds_every_host(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """X says the app's 24-hour cap has one post left: after that answer no host's tweet is
    sent (at most those already in flight reach X, and X refuses them), every other tweet waits
    for the cap's reset with no attempt used, and the report says it once."""
    async with open_pipeline(sessions, concurrency=CONCURRENCY) as pipe:
        setup = await linked_show(pipe, HOSTS)
        pipe.x_emu.set_app_day(remaining=1, reset_in=3600)
        go_live(pipe, setup.channel_id, video_id(1))

        result = await pipe.check()

        assert pipe.tweets_posted() == 1
        assert pipe.post_requests() <= CONCURRENCY < len(HOSTS)
        waiting = [t for t in await all_tweets(sessions) if t.status != PostStatus.POSTED]
        assert len(waiting) == len(HOSTS) - 1
        assert {(t.status, t.failure_reason, t.attempts) for t in waiting} == {
            (PostStatus.PENDING, "app_daily_cap", 0)
        }
        assert all(
            t.next_attempt_at and t.next_attempt_at.timestamp() > time.time() + 3000
            for t in waiting
        )
        [report] = result.reports
        assert report.app_problem and CATALOGUE[Reason.APP_DAILY_CAP].sentence in report.app_problem


async def test_no_room_left_makes_the_accounts_next_post_wait_for_the_reset(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """X's answer to a host's post says their window has 0 left, resetting in 2 s; their next
    tweet (another show's, same X account) is not sent, nor marked sent, before the reset, and
    goes out right after it. Another host's post meanwhile goes straight through."""
    async with open_pipeline(sessions) as pipe:
        first = await setup_podcast(
            pipe, guild_id=1, channel=channel_id(1), members=[(1, "Sam")], linked={1: "sam"}
        )
        second = await setup_podcast(
            pipe,
            guild_id=2,
            channel=channel_id(2),
            members=[(1, "Sam"), (2, "Kim")],
            linked={1: "sam", 2: "kim"},
        )
        pipe.x_emu.set_window("sam", remaining=1, reset_in=2.0)
        reset_at = pipe.x_emu.user_windows["sam"].reset_at  # Unix seconds, as X names it
        go_live(pipe, first.channel_id, video_id(1))
        await pipe.check()
        assert pipe.x_emu.tweets_of("sam") and pipe.post_requests() == 1

        go_live(pipe, second.channel_id, video_id(2))
        await pipe.checker.run_check()
        while time.time() < reset_at - 0.4:
            await asyncio.sleep(0.1)
        assert [t.username for t in pipe.x_emu.all_tweets] == ["sam", "kim"]
        assert pipe.post_requests() == 2  # sam's second tweet: not sent
        rows = [t for t in await all_tweets(sessions) if t.episode_id == second.episode_id]
        sams = [t for t in rows if t.status == PostStatus.POSTING]
        assert len(sams) == 1 and sams[0].sent_at is None

        await pipe.poster.drain()
        assert len(pipe.x_emu.tweets_of("sam")) == 2
        assert pipe.post_requests() == 3
        assert {t.status for t in await all_tweets(sessions)} == {PostStatus.POSTED}
