"""The show in Discord, end to end through the real bot wiring and the emulators: a Scheduled
Event per episode that follows the stream, the go-live announcement that pings only the ping
role, the report that closes itself when the stream ends, and life without Manage Events."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.show_events import EventSpec
from bot.youtube import watch_url
from db import queries
from tests.command_helpers import (
    CHANNEL_ID,
    NOTES,
    QUIET,
    add_episode,
    answer_setup,
    create_tweets,
    link_x,
    scalar,
    setup_podcast,
)
from tests.emulators.discord_api import Permission, StoredMessage
from tests.emulators.discord_events import EventStatus, ScheduledEvent
from tests.rig import World, world

FAST = {"LIVE_CHECK_INTERVAL_SECONDS": "1", "FAST_CHECK_INTERVAL_SECONDS": "1"}
CHANNEL_LIVE = f"https://www.youtube.com/channel/{CHANNEL_ID}/live"
VIDEO = "vShow000001"
EVENT_PERMISSIONS = Permission.MANAGE_EVENTS | Permission.CREATE_EVENTS


def midday_timezone() -> str:
    """A fixed-offset zone where it is around noon now, so 'today' never crosses midnight
    while a test runs."""
    offset = (12 - dt.datetime.now(dt.UTC).hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"


def local_start(timezone: str, minutes: int) -> dt.datetime:
    """A start `minutes` from now, on the minute, in `timezone`."""
    from zoneinfo import ZoneInfo

    start = dt.datetime.now(ZoneInfo(timezone)) + dt.timedelta(minutes=minutes)
    return start.replace(second=0, microsecond=0)


async def add_timed_episode(w: World, timezone: str, start: dt.datetime, **more: Any) -> str:
    return await add_episode(w, date=start.date().isoformat(), time=start.strftime("%H:%M"), **more)


def events(w: World) -> list[ScheduledEvent]:
    return w.discord.events_of(w.guild)


async def one_event(
    w: World, what: str, predicate: Any = None, timeout: float = 15
) -> ScheduledEvent:
    """Wait until the server has exactly one event (matching `predicate`) and return it."""
    await w.discord.wait_until(
        lambda: len(events(w)) == 1 and (predicate is None or predicate(events(w)[0])),
        timeout,
        what,
    )
    return events(w)[0]


def reports(w: World) -> list[StoredMessage]:
    """The stream reports in the announce channel (not boards or notices)."""
    return [
        m
        for m in w.discord.channel_messages(w.announce)
        if m.embeds and str(m.embeds[0].get("title", "")).startswith(("🔴 Live now", "Ended:"))
    ]


def announcements(w: World) -> list[StoredMessage]:
    return [m for m in w.discord.channel_messages(w.announce) if " is live: " in m.content]


@contextlib.asynccontextmanager
async def show(
    tmp_path: Path, database_url: str, *, bot_permissions: int | None = None, **env: str
) -> AsyncIterator[tuple[World, Any]]:
    async with world(tmp_path, database_url) as w:
        if bot_permissions is not None:
            w.guild.bot_role.permissions = bot_permissions
        async with w.bot_in_process(**{**QUIET, **env}) as bot:
            yield w, bot


async def test_episode_with_a_time_gets_one_event_that_follows_youtubes_schedule(
    tmp_path: Path, database_url: str
) -> None:
    """/episode add with a time makes one external event (title, notes, the channel's live
    link, EVENT_DEFAULT_MINUTES long); YouTube scheduling the stream later moves it."""
    async with show(tmp_path, database_url, EVENT_DEFAULT_MINUTES="45", **FAST) as (w, _):
        zone = midday_timezone()
        await setup_podcast(w, timezone=zone)
        start = local_start(zone, 120)
        await add_timed_episode(w, zone, start, title="Gardens")
        event = await one_event(w, "the episode's event")
        assert (event.name, event.description, event.location) == ("Gardens", NOTES, CHANNEL_LIVE)
        assert event.start == start and event.end == start + dt.timedelta(minutes=45)
        assert event.status == EventStatus.SCHEDULED

        moved = start + dt.timedelta(minutes=35)
        w.youtube.schedule_stream(CHANNEL_ID, VIDEO, "Gardens (live)", scheduled_start=moved)
        event = await one_event(w, "the event moved", lambda e: e.start == moved)
        assert event.end == moved + dt.timedelta(minutes=45)
        assert event.status == EventStatus.SCHEDULED and len(events(w)) == 1


async def test_live_activates_the_event_pings_only_the_role_and_the_end_closes_everything(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Going live: the event turns Active with the stream link and one announcement pings the
    ping role only (not the @everyone or role mention in the title). Ending: the event is
    Completed and the report is edited with the duration and every host's final state."""
    async with show(tmp_path, database_url, **FAST) as (w, _):
        zone = midday_timezone()
        listeners = w.guild.add_role("Listeners", mentionable=True)
        other = w.guild.add_role("Other", mentionable=True)
        w.guild.bot_role.permissions |= Permission.MENTION_EVERYONE  # could ping @everyone
        await setup_podcast(w, timezone=zone, ping_role=listeners, require_approval=False)
        episode = await add_timed_episode(w, zone, local_start(zone, 5))
        await create_tweets(w, episode)
        await link_x(w, w.alice, "alice")
        await one_event(w, "the episode's event")

        title = f"We are live @everyone @here <@&{other.id}> <@{w.mallory.id}>"
        w.youtube.go_live(CHANNEL_ID, VIDEO, title)
        event = await one_event(w, "the event active", lambda e: e.status == EventStatus.ACTIVE)
        assert event.location == watch_url(VIDEO)
        await w.discord.wait_until(lambda: bool(announcements(w)), 15, "the announcement")
        [announcement] = announcements(w)
        assert announcement.content.startswith(f"<@&{listeners.id}> **The Pod** is live: ")
        assert watch_url(VIDEO) in announcement.content
        assert announcement.mention_role_ids == [listeners.id]
        assert (announcement.mention_everyone, announcement.mention_user_ids) == (False, [])

        w.youtube.end_stream(VIDEO)
        await one_event(w, "the event completed", lambda e: e.status == EventStatus.COMPLETED)
        await w.discord.wait_until(
            lambda: any("stream ended" in m.text() for m in w.discord.channel_messages(w.announce)),
            15,
            "the report's last edit",
        )
        [report] = reports(w)
        text = report.text()
        assert "after 0 min" in text or " min." in text, text
        assert "Alice" in text and "Bob" in text and "posted" in text
        assert "before any host's tweet" not in text
        assert await scalar(engine, "SELECT count(*) FROM episodes WHERE ended_at IS NOT NULL") == 1
        assert events(w)[0].history == [
            EventStatus.SCHEDULED,
            EventStatus.ACTIVE,
            EventStatus.COMPLETED,
        ]
        await asyncio.sleep(2.5)  # two more checks: nothing more is announced or edited
        assert len(announcements(w)) == 1
        edits = report.edit_count
        await asyncio.sleep(2.5)
        assert report.edit_count == edits


async def test_a_stream_that_ends_before_any_tweet_went_out_says_so(
    tmp_path: Path, database_url: str
) -> None:
    """Nobody linked X and the stream ends: the report's last edit says no tweet went out."""
    async with show(tmp_path, database_url, **FAST) as (w, _):
        await setup_podcast(w)
        episode = await add_episode(w, days_ahead=0)
        await create_tweets(w, episode)
        w.youtube.go_live(CHANNEL_ID, VIDEO, "Short one")
        await w.discord.wait_until(lambda: bool(reports(w)), 15, "a report")
        w.youtube.end_stream(VIDEO)
        await w.discord.wait_until(
            lambda: any(
                "before any host's tweet could go out" in m.text()
                for m in w.discord.channel_messages(w.announce)
            ),
            15,
            "the report saying no tweet went out",
        )
        assert announcements(w) and not announcements(w)[0].mention_role_ids  # no ping role


async def test_removed_episode_cancels_its_event(tmp_path: Path, database_url: str) -> None:
    """/episode remove cancels the episode's event (Scheduled -> Canceled)."""
    async with show(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        start = local_start("UTC", 24 * 60)
        episode = await add_timed_episode(w, "UTC", start)
        await one_event(w, "the episode's event")
        run = await w.answer(w.ana, "episode remove", episode=episode)
        assert "Removed" in run.text(), run.text()
        event = await one_event(
            w, "the cancelled event", lambda e: e.status == EventStatus.CANCELED
        )
        assert event.history == [EventStatus.SCHEDULED, EventStatus.CANCELED]


async def test_without_manage_events_show_says_so_once_and_the_rest_works(
    tmp_path: Path, database_url: str
) -> None:
    """A bot invited without the event permissions: /podcast show has one line saying so, no
    event request is even tried, and announcements and reports still go out."""
    from tests.emulators.discord_model import DEFAULT_BOT_PERMISSIONS

    permissions = DEFAULT_BOT_PERMISSIONS & ~EVENT_PERMISSIONS
    async with show(tmp_path, database_url, bot_permissions=permissions, **FAST) as (w, _):
        await setup_podcast(w)
        await add_timed_episode(w, "UTC", local_start("UTC", 24 * 60))
        run = await w.answer(w.ana, "podcast show")
        [line] = [f["value"] for f in run.embeds[0]["fields"] if f["name"] == "Discord events"]
        assert "Manage Events" in line and "Everything else works" in line, line
        episode = await add_episode(w, "Today", days_ahead=0)
        await create_tweets(w, episode)
        w.youtube.go_live(CHANNEL_ID, VIDEO, "Live without events")
        await w.discord.wait_until(
            lambda: bool(announcements(w)) and bool(reports(w)),
            15,
            "the announcement and the report",
        )
        assert events(w) == []
        assert not [e for e in w.discord.api_errors if "scheduled-events" in e], (
            w.discord.api_errors
        )


async def test_announce_test_shows_the_announcement_and_pings_nobody(
    tmp_path: Path, database_url: str
) -> None:
    """/podcast announce-test posts the announcement with the role's mention, pinging no one."""
    async with show(tmp_path, database_url) as (w, _):
        listeners = w.guild.add_role("Listeners", mentionable=True)
        await setup_podcast(w, ping_role=listeners)
        run = await w.answer(w.ana, "podcast announce-test")
        assert run.ephemeral and "nobody was pinged" in run.text(), run.text()
        [message] = announcements(w)
        assert f"<@&{listeners.id}> **The Pod** is live: " in message.content
        assert CHANNEL_LIVE in message.content
        assert (message.mention_role_ids, message.mention_everyone) == ([], False)


async def test_setup_refuses_a_ping_role_discord_would_not_ping(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A ping role that isn't mentionable (and no Mention All Roles) is refused; nothing saved;
    events:False is saved and no event is made."""
    async with show(tmp_path, database_url) as (w, _):
        quiet_role = w.guild.add_role("Quiet")
        run = await answer_setup(w, ping_role=quiet_role)
        assert "won't let me ping" in run.text(), run.text()
        assert await scalar(engine, "SELECT count(*) FROM podcasts") == 0
        await setup_podcast(w, events=False)
        assert await scalar(engine, "SELECT events_enabled FROM podcasts") is False
        await add_timed_episode(w, "UTC", local_start("UTC", 24 * 60))
        await asyncio.sleep(0.5)
        assert events(w) == []


async def test_two_bot_processes_make_one_event_not_two(tmp_path: Path, database_url: str) -> None:
    """Two bots on one database sync a new episode at the same moment: one event, and syncing
    again (as after a restart) makes no other."""
    async with (
        world(tmp_path, database_url) as w,
        w.bot_in_process(**QUIET) as first,
        w.bot_in_process(**QUIET) as second,
    ):
        bots = (first, second)
        await w.discord.wait_until(
            lambda: all(b.get_guild(w.guild.id) is not None for b in bots),
            15,
            "both bots to see the server",
        )
        await setup_podcast(w)
        start = local_start("UTC", 24 * 60)
        await first.services.podcasts.add_episode(  # no command: neither bot syncs first
            w.guild.id,
            title="Race",
            date=start.date().isoformat(),
            time=start.strftime("%H:%M"),
            notes=None,
        )

        async def sync_both() -> list[int]:
            results = await asyncio.gather(
                *(b.services.show.sync(b.get_cog("LiveCog").events) for b in bots)
            )
            return [r.created for r in results]

        assert sorted(await sync_both()) == [0, 1]
        assert await sync_both() == [0, 0]
        [event] = events(w)
        assert event.name == "Race"


async def test_a_creation_cut_short_by_a_crash_is_adopted_not_repeated(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A process died after Discord made the event but before it saved the id: once its claim
    lapsed, the next sync finds that event in Discord and keeps it instead of making another."""
    async with show(tmp_path, database_url) as (w, bot):
        await setup_podcast(w, events=False)  # /episode add makes no event yet
        start = local_start("UTC", 24 * 60)
        await add_timed_episode(w, "UTC", start, title="Crash")
        episode_id = await scalar(engine, "SELECT id FROM episodes")
        port = bot.get_cog("LiveCog").events
        # What the crashed process got done: its claim (now lapsed) and Discord's event.
        async with bot.services.sessions() as session, session.begin():
            lapsed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
            await queries.claim_new_events(session, [(episode_id, w.guild.id)], lapsed)
        spec = EventSpec("Crash", NOTES, CHANNEL_LIVE, start, start + dt.timedelta(minutes=120))
        made = await port.create(w.guild.id, spec)
        await setup_podcast(w, events=True)

        result = await bot.services.show.sync(port)

        assert result.created == 1  # recorded as this episode's event ...
        assert [e.id for e in events(w)] == [made]  # ... and it is the one already there
        assert await scalar(engine, "SELECT discord_event_id FROM episode_events") == made
        assert await scalar(engine, "SELECT state FROM episode_events") == "scheduled"
