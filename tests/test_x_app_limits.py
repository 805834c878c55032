"""The X app's own limits (credits, caps, enrolment) are the operator's problem, not each host's:
the first answer holds the rest of the batch instead of sending every host's tweet into the same
wall, no host's attempts are used up, the report says it once with the fix, and every tweet
posts once the app can post again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.pipeline_helpers import (
    ReportDesk,
    attempts_of,
    channel_id,
    go_live,
    open_pipeline,
    setup_podcast,
    tweet_rows,
    video_id,
)

GUILD = 1
HOSTS = [(200 + n, f"Host {n}") for n in range(12)]
CONCURRENCY = 8  # TweetPoster's default: at most this many posts are in flight at once


async def test_credits_depleted_holds_every_host_and_is_reported_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """402 CreditsDepleted: at most the posts already in flight reach X, all 12 tweets wait
    with no attempt used, the report says once what the owner does; after the top-up each
    tweet posts exactly once."""
    async with open_pipeline(sessions) as pipe:
        desk = ReportDesk(pipe)
        setup = await setup_podcast(
            pipe,
            guild_id=GUILD,
            channel=channel_id(1),
            members=HOSTS,
            linked={uid: f"host{uid}" for uid, _ in HOSTS},
        )
        go_live(pipe, setup.channel_id, video_id(1))
        fault = pipe.x_emu.credits_depleted(times=1000)

        first = await desk.deliver(await pipe.check())

        sent = pipe.post_requests()
        assert 1 <= sent <= CONCURRENCY < len(HOSTS)
        rows = await tweet_rows(sessions)
        assert {(t.status, t.failure_reason, t.attempts) for t in rows.values()} == {
            ("pending", "credits_depleted", 0)
        }
        attempts = [a for t in rows.values() for a in await attempts_of(sessions, t.id)]
        assert len(attempts) == sent
        assert {(a.outcome, a.http_status) for a in attempts} == {("retry", 402)}
        [report] = first.reports
        assert report.app_problem is not None
        assert "credits" in report.app_problem and "developer portal" in report.app_problem
        assert {line.state for line in report.lines} == {"retrying"}
        assert all(line.reason is None for line in report.lines)

        pipe.x_emu.faults.remove(fault)
        await pipe.check()
        assert pipe.post_requests() == sent  # not before the app's retry time

        pipe.clock.advance(dt.timedelta(minutes=6))
        await desk.deliver(await pipe.check())

        rows = await tweet_rows(sessions)
        assert {t.status for t in rows.values()} == {"posted"}
        assert pipe.tweets_posted() == len(HOSTS)
        assert sorted(t.username for t in pipe.x_emu.all_tweets) == sorted(
            f"host{uid}" for uid, _ in HOSTS
        )
        assert desk.edited and desk.edited[-1].app_problem is None
