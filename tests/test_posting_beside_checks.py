"""Posting runs beside the checks: a check hands its claimed tweets over and returns, the next
checks keep their rhythm while a big batch posts (and find other streams), and the stream's
report is sent at once with the tweets shown as posting, then edited as outcomes come in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import PostStatus
from tests.emulators.discord_model import StoredMessage
from tests.pipeline_helpers import (
    all_tweets,
    channel_id,
    go_live,
    linked_show,
    open_pipeline,
    podcast_on_server,
    setup_podcast,
    video_id,
)
from tests.rig import world

X_LATENCY = 0.8  # seconds X takes to answer each post
HOSTS_ON_SERVER = 8


EIGHT_HOSTS = [(100 + n, f"Host {n}") for n in range(8)]


async def test_a_second_check_finds_another_stream_while_the_first_batch_still_posts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Show A's 8 tweets take X 3.2 s at 2 in flight; the check that claimed them returns at
    once, and a second check finds show B live and hands B's tweet over while A's are still
    posting. Every tweet reaches X exactly once (none is claimed twice)."""
    async with open_pipeline(sessions, concurrency=2) as pipe:
        show_a = await linked_show(pipe, EIGHT_HOSTS)
        show_b = await setup_podcast(
            pipe, guild_id=2, channel=channel_id(2), members=[(200, "B host")], linked={200: "b"}
        )
        pipe.x_emu.slow(X_LATENCY, times=100)
        go_live(pipe, show_a.channel_id, video_id(1))

        started = time.monotonic()
        first = await pipe.checker.run_check()
        first_took = time.monotonic() - started
        [report_a] = first.reports
        assert {line.state for line in report_a.lines} == {"posting"}

        go_live(pipe, show_b.channel_id, video_id(2))
        second = await pipe.checker.run_check()
        second_done = time.monotonic() - started
        still_posting = [t for t in await all_tweets(sessions) if t.status == PostStatus.POSTING]

        assert first_took < X_LATENCY * 2
        assert second_done < len(EIGHT_HOSTS) / 2 * X_LATENCY  # before A's batch could be done
        [report_b] = second.reports
        assert report_b.episode_id == show_b.episode_id
        assert {t.episode_id for t in still_posting} >= {show_a.episode_id}

        await pipe.poster.drain()
        assert {t.status for t in await all_tweets(sessions)} == {PostStatus.POSTED}
        assert pipe.post_requests() == pipe.tweets_posted() == len(EIGHT_HOSTS) + 1


async def test_the_report_is_edited_mid_batch_and_ends_showing_every_tweet_posted(
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The real bot against the Discord emulator: 8 hosts go live with X slow and 2 posts in
    flight; the stream's report message is edited while the batch runs, once showing some
    hosts posted and others still posting, and ends showing all 8 posted."""
    async with world(tmp_path, database_url) as w:
        pipe, setup = await podcast_on_server(w, sessions, engine, HOSTS_ON_SERVER, 7)
        w.x.slow(X_LATENCY, times=100)
        async with w.bot_in_process(POST_CONCURRENCY="2"):
            go_live(pipe, setup.channel_id, video_id(7))

            def report() -> StoredMessage | None:
                found = [m for m in w.discord.channel_messages(w.announce) if m.embeds]
                return found[0] if found else None

            def mid_batch() -> bool:
                message = report()
                if message is None:
                    return False
                text = message.text()
                return message.edit_count >= 1 and "✅ posted" in text and "📤 posting now" in text

            await w.discord.wait_until(mid_batch, timeout=30, what="a mid-batch edit")

            def all_posted() -> bool:
                message = report()
                return message is not None and message.text().count("✅ posted") == HOSTS_ON_SERVER

            await w.discord.wait_until(all_posted, timeout=30, what="the final edit")
            final = report()
            assert final is not None and "📤" not in final.text()
            assert w.x.count("/2/tweets", "POST") == HOSTS_ON_SERVER


async def test_shutdown_mid_batch_sends_nothing_more_and_gives_the_unsent_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The poster is closed while a batch posts (past the bot's grace): the posts in flight
    stay "posting" and marked sent (recovery makes them unknown: X may have them), every post
    not yet sent goes back to pending at once with its attempt not counted, and X gets nothing
    more."""
    async with open_pipeline(sessions, concurrency=2) as pipe:
        show = await linked_show(pipe, EIGHT_HOSTS)
        pipe.x_emu.slow(X_LATENCY, times=100)
        go_live(pipe, show.channel_id, video_id(1))
        await pipe.checker.run_check()
        while pipe.post_requests() < 2:
            await asyncio.sleep(0.02)

        await pipe.poster.aclose()
        sent = pipe.post_requests()
        await asyncio.sleep(X_LATENCY * 2)

        rows = await all_tweets(sessions)
        in_flight = [t for t in rows if t.status == PostStatus.POSTING]
        given_back = [t for t in rows if t.status == PostStatus.PENDING]
        assert pipe.post_requests() == sent == 2
        assert len(in_flight) == 2 and all(t.sent_at is not None for t in in_flight)
        assert len(given_back) == len(EIGHT_HOSTS) - 2
        assert {(t.sent_at, t.attempts) for t in given_back} == {(None, 0)}


async def test_the_bot_shutting_down_mid_batch_lets_it_finish_and_edits_the_report(
    tmp_path: Path,
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The real bot is closed while a 3-second batch posts: within the shutdown grace the
    batch finishes, every tweet is posted once, and the report's last edit still reaches
    Discord showing them all posted."""
    async with world(tmp_path, database_url) as w:
        pipe, setup = await podcast_on_server(w, sessions, engine, HOSTS_ON_SERVER, 8)
        w.x.slow(X_LATENCY, times=100)
        async with w.bot_in_process(POST_CONCURRENCY="2"):
            go_live(pipe, setup.channel_id, video_id(8))
            await w.discord.wait_until(
                lambda: len(w.x.all_tweets) >= 1, timeout=30, what="the first post"
            )
        assert [t.status for t in await all_tweets(sessions)] == [
            PostStatus.POSTED
        ] * HOSTS_ON_SERVER
        assert w.x.count("/2/tweets", "POST") == HOSTS_ON_SERVER
        [report] = [m for m in w.discord.channel_messages(w.announce) if m.embeds]
        assert report.text().count("✅ posted") == HOSTS_ON_SERVER
