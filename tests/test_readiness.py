"""The readiness board (a day and an hour before an episode, and /episode ready), look-alike
tweets, template drafts that differ per host, and POST_STAGGER_SECONDS."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.live_check import LiveChecker
from bot.posting import TweetPoster
from tests.command_helpers import (
    add_episode,
    create_tweets,
    link_x,
    running,
    scalar,
    setup_podcast,
)
from tests.emulators.discord_api import Permission, StoredMessage
from tests.pipeline_helpers import (
    OffsetClock,
    channel_id,
    go_live,
    open_pipeline,
    tweet_rows,
    video_id,
)
from tests.pipeline_helpers import setup_podcast as pipe_setup
from tests.rig import World

EDIT_LABEL = "Tweet (the stream link is added after it)"


def boards(w: World) -> list[StoredMessage]:
    return [
        m
        for m in w.discord.channel_messages(w.announce)
        if m.embeds and m.embeds[0].get("title", "").startswith("Ready for")
    ]


def host_line(message: StoredMessage, name: str) -> str:
    """The board's line (and its to-do line) for host `name`."""
    lines = message.embeds[0]["description"].splitlines()
    at = next(i for i, line in enumerate(lines) if f"**{name}**" in line)
    todo = lines[at + 1] if at + 1 < len(lines) and lines[at + 1].strip().startswith("→") else ""
    return lines[at] + todo


async def _episode_in_two_days(w: World, engine: AsyncEngine) -> tuple[str, dt.datetime]:
    await setup_podcast(w)
    episode = await add_episode(w, days_ahead=2, time="12:00")
    start = await scalar(engine, "SELECT scheduled_at FROM episodes")
    return episode, start


def _set_now(clock: OffsetClock, when: dt.datetime) -> None:
    clock.offset = when - dt.datetime.now(dt.UTC)


async def _edit(w: World, member: Any, episode: str, text: str) -> None:
    opened = await w.command(member, "tweet edit", episode=episode)
    await opened.response()
    await (await w.discord.submit_modal(opened, {EDIT_LABEL: text})).wait_done()


async def test_board_a_day_and_an_hour_before_edited_as_hosts_fix_things(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """No board 25 h before; at T-24h one board in the announce channel mentioning only the
    host who must act (bob, not linked), once; unchanged, it is not edited; when bob links X it
    is edited to his next step; at T-1h a second board mentions him again."""
    clock = OffsetClock()
    async with running(tmp_path, database_url, clock=clock) as (w, bot):
        episode, start = await _episode_in_two_days(w, engine)
        await create_tweets(w, episode, generate=False)
        await link_x(w, w.alice, "alice")
        await w.answer(w.alice, "tweet approve", episode=episode)
        cog = bot.get_cog("ReadinessCog")

        _set_now(clock, start - dt.timedelta(hours=25))
        await cog.refresh_boards()
        assert boards(w) == []

        _set_now(clock, start - dt.timedelta(hours=23, minutes=59))
        await cog.refresh_boards()
        [board] = boards(w)
        assert board.mention_user_ids == [w.bob.id]
        assert (
            board.content.count(f"<@{w.bob.id}>") == 1 and f"<@{w.alice.id}>" not in board.content
        )
        assert "✅" in host_line(board, "Alice") and "@alice ✓" in host_line(board, "Alice")
        assert "/x link" in host_line(board, "Bob") and "❌" in host_line(board, "Bob")

        await cog.refresh_boards()
        assert board.edit_count == 0  # nothing changed: not edited

        await link_x(w, w.bob, "bob")
        await cog.refresh_boards()
        assert board.edit_count == 1
        assert "@bob ✓" in host_line(board, "Bob") and "/tweet approve" in host_line(board, "Bob")
        assert board.mention_user_ids == [w.bob.id]  # an edit notifies nobody new

        _set_now(clock, start - dt.timedelta(minutes=59))
        await cog.refresh_boards()
        first, second = boards(w)
        assert first is board and second.mention_user_ids == [w.bob.id]
        await w.answer(w.bob, "tweet approve", episode=episode)
        await cog.refresh_boards()
        assert "✅" in host_line(second, "Bob") and board.edit_count == 1


async def test_episode_ready_shows_a_broken_x_link_and_is_for_admins_and_hosts(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/episode ready: when X answers 401 to the link check, the host's line says the link is
    broken and to relink; admins and hosts may ask, other members may not."""
    async with running(tmp_path, database_url) as (w, _):
        episode, _start = await _episode_in_two_days(w, engine)
        await create_tweets(w, episode, generate=False)
        await link_x(w, w.alice, "alice")
        checks = w.x.count("/2/users/me", "GET")
        shown = await w.answer(w.bob, "episode ready", episode=episode)
        assert shown.ephemeral and "✓" in shown.text()
        assert w.x.count("/2/users/me", "GET") == checks + 1  # one cheap call per linked host

        w.x.revoke("alice")
        await link_x(w, w.bob, "bob")  # ... and a relink is checked afresh
        shown = await w.answer(w.ana, "episode ready", episode=episode)
        [embed] = shown.embeds
        alice = next(line for line in embed["description"].split("\n") if "**Alice**" in line)
        assert "link broken" in alice
        assert "relink with /x link" in embed["description"]
        await w.answer(w.ana, "tweets hold", episode=episode, host=w.bob)
        shown = await w.answer(w.alice, "episode ready", episode=episode)
        bob = next(line for line in shown.text().split("\n") if "**Bob**" in line)
        assert "⛔" in bob and "held by an admin" in bob
        refused = await w.answer(w.mallory, "episode ready", episode=episode)
        assert "admins and hosts" in refused.text() and not refused.embeds


async def test_template_drafts_differ_and_near_duplicates_are_flagged(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Template drafts differ per host, so the board has no look-alike warning; once both
    hosts write nearly the same text, the board warns that X forbids it."""
    async with running(tmp_path, database_url) as (w, _):
        episode, _start = await _episode_in_two_days(w, engine)
        await create_tweets(w, episode, generate=False)
        alice = await w.answer(w.alice, "tweet show", episode=episode)
        bob = await w.answer(w.bob, "tweet show", episode=episode)
        assert alice.embeds[0]["description"] != bob.embeds[0]["description"]
        shown = await w.answer(w.ana, "episode ready", episode=episode)
        assert "Nearly identical" not in shown.text()

        await _edit(w, w.alice, episode, "We're live with tiny balcony gardens, join us now!")
        await _edit(w, w.bob, episode, "We're live with tiny balcony gardens: join us now!!")
        shown = await w.answer(w.ana, "episode ready", episode=episode)
        assert "Nearly identical" in shown.text()
        assert "Alice and Bob" in shown.text() and "% alike" in shown.text()


async def test_post_stagger_spaces_hosts_posts_apart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """With a stagger, one episode's two hosts are posted that far apart, not at once, and
    the second is not marked sent before its wait is over (a crash meanwhile would leave it
    pending, not unknown)."""
    async with open_pipeline(sessions) as pipe:
        stagger = dt.timedelta(seconds=0.8)
        poster = TweetPoster(
            sessions, pipe.x, pipe.cipher, dry_run=False, clock=pipe.clock, stagger=stagger
        )
        checker = LiveChecker(
            sessions,
            pipe.youtube,
            poster,
            interval=dt.timedelta(milliseconds=1),
            fast_interval=dt.timedelta(milliseconds=1),
            clock=pipe.clock,
        )
        setup = await pipe_setup(
            pipe,
            guild_id=1,
            channel=channel_id(1),
            members=[(11, "Alice"), (12, "Bob")],
            linked={11: "alice", 12: "bob"},
        )
        go_live(pipe, setup.channel_id, video_id(1))
        started = time.monotonic()
        await checker.run_check()
        while not pipe.x_emu.all_tweets:
            await asyncio.sleep(0.01)
        first_at = time.monotonic()
        await asyncio.sleep(0.3)
        assert len(pipe.x_emu.all_tweets) == 1  # the second waits its turn
        marked = {t.sent_at is not None for t in (await tweet_rows(sessions)).values()}
        assert marked == {True, False}
        await poster.drain()
        assert len(pipe.x_emu.all_tweets) == 2
        assert time.monotonic() - started >= stagger.total_seconds()
        assert first_at - started < stagger.total_seconds()
        await poster.aclose()


def test_board_start_prefers_the_scheduled_stream() -> None:
    """The board counts down to YouTube's scheduled start on the episode's day, else the
    episode's time, else the start of its day in the podcast's timezone."""
    from bot.readiness import due_stage, episode_start
    from db.models import Episode, Podcast

    podcast = Podcast(timezone="Europe/Paris", upcoming_start_at=None)
    episode = Episode(scheduled_date=dt.date(2026, 12, 3), scheduled_at=None)
    assert episode_start(episode, podcast) == dt.datetime(2026, 12, 2, 23, 0, tzinfo=dt.UTC)
    episode.scheduled_at = dt.datetime(2026, 12, 3, 19, 0, tzinfo=dt.UTC)
    assert episode_start(episode, podcast) == episode.scheduled_at
    podcast.upcoming_start_at = dt.datetime(2026, 12, 3, 19, 30, tzinfo=dt.UTC)
    assert episode_start(episode, podcast) == podcast.upcoming_start_at
    podcast.upcoming_start_at = dt.datetime(2026, 12, 9, 19, 30, tzinfo=dt.UTC)  # another day's
    assert episode_start(episode, podcast) == episode.scheduled_at
    start = episode.scheduled_at
    assert due_stage(start, start - dt.timedelta(hours=25)) == 0
    assert due_stage(start, start - dt.timedelta(hours=2)) == 1
    assert due_stage(start, start - dt.timedelta(minutes=30)) == 2
    assert due_stage(start, start + dt.timedelta(minutes=1)) == 0


async def test_a_board_that_could_not_be_posted_is_posted_at_the_next_check(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Discord refusing the board (the bot lost Send Messages) doesn't lose it: once the
    permission is back, the next check posts it."""
    clock = OffsetClock()
    async with running(tmp_path, database_url, clock=clock) as (w, bot):
        episode, start = await _episode_in_two_days(w, engine)
        await create_tweets(w, episode, generate=False)
        cog = bot.get_cog("ReadinessCog")
        _set_now(clock, start - dt.timedelta(hours=20))
        w.announce.set_permissions(w.guild.bot_member, deny=Permission.SEND_MESSAGES)
        await cog.refresh_boards()
        assert boards(w) == []
        w.announce.set_permissions(w.guild.bot_member, allow=Permission.SEND_MESSAGES)
        await cog.refresh_boards()
        [board] = boards(w)
        assert sorted(board.mention_user_ids) == sorted([w.alice.id, w.bob.id])
