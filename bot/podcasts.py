"""Podcasts and episodes: setup, the title filter, adding, listing and removing episodes.

Knows nothing of Discord: ids are plain integers and answers are plain values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.errors import (
    EpisodeHasPostedTweets,
    EpisodeNotFound,
    InvalidInput,
    PodcastNotSetUp,
    ServiceUnavailable,
)
from bot.timezones import canonical_name, local_today
from bot.user_text import clean_input, escape_markdown
from bot.youtube import (
    ChannelNotFound,
    InvalidChannel,
    LiveCheck,
    YouTubeClient,
    YouTubeUnavailable,
)
from db import queries
from db.engine import single_read
from db.models import Episode, Podcast

MAX_TITLE = 200
MAX_NOTES = 2000
MAX_FILTER = 100
# Episodes further ahead are typos (and year 9999 overflows once converted to UTC).
MAX_YEARS_AHEAD = 100


def _unknown_timezone(name: str) -> InvalidInput:
    return InvalidInput(
        problem=f"“{escape_markdown(name.strip()[:64])}” isn't a timezone I know. Pick one from "
        "the list as you type, like Europe/Paris, America/New_York or UTC."
    )


def parse_timezone(name: str) -> str:
    """A canonical IANA zone name (Europe/Paris, America/New_York, UTC), in its own spelling."""
    canonical = canonical_name(name)
    if canonical is None:
        raise _unknown_timezone(name)
    return canonical


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            problem=f"“{text.strip()[:40]}” isn't a date. Use YYYY-MM-DD, like 2026-12-31."
        ) from None


def parse_time(text: str) -> dt.time:
    cleaned = text.strip()
    try:
        hour, minute = cleaned.split(":")
        if len(minute) != 2:
            raise ValueError
        return dt.time(int(hour), int(minute))
    except ValueError:
        raise InvalidInput(
            problem=f"“{cleaned[:20]}” isn't a time. Use 24-hour HH:MM, like 19:30."
        ) from None


@dataclass(frozen=True)
class RemovedEpisode:
    title: str
    discord_event_id: int | None


@dataclass(frozen=True)
class EpisodeLine:
    id: int
    title: str
    scheduled_date: dt.date
    scheduled_at: dt.datetime | None
    tweets: int
    enabled: int
    posted: int
    live_url: str | None


@dataclass(frozen=True)
class EpisodeChoice:
    id: int
    label: str


class PodcastService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        youtube: YouTubeClient,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._youtube = youtube
        self._clock = clock

    # -- podcast ----------------------------------------------------------------------------

    async def setup(
        self,
        *,
        guild_id: int,
        name: str,
        youtube_channel: str,
        announce_channel_id: int,
        host_role_id: int,
        admin_role_id: int | None,
        timezone: str | None,
        require_approval: bool | None = None,
        ping_role_id: int | None = None,
        events_enabled: bool | None = None,
    ) -> Podcast:
        """Create or update the server's podcast; a handle or URL is resolved to the UC… id once.
        Options left out (None) keep their current value, or the default for a new podcast."""
        cleaned = clean_input(name, "The podcast name")
        if not cleaned or len(cleaned) > 100:
            raise InvalidInput(problem="The podcast name must be 1 to 100 characters.")
        if timezone is not None:
            timezone = parse_timezone(timezone)
        youtube_channel_id = await self.resolve_channel(youtube_channel)
        fields: dict[str, object] = {
            "name": cleaned,
            "youtube_channel_id": youtube_channel_id,
            "announce_channel_id": announce_channel_id,
            "host_role_id": host_role_id,
            "admin_role_id": admin_role_id,
            "active": True,
            "removed_at": None,  # set up again: nothing of it is cleaned up
            "ping_role_id": ping_role_id,
        }
        if events_enabled is not None:
            fields["events_enabled"] = events_enabled
        if timezone is not None:
            fields["timezone"] = timezone
        if require_approval is not None:
            fields["require_approval"] = require_approval
        async with self._sessions() as session, session.begin():
            if timezone is not None and not await queries.postgres_knows_timezone(
                session, timezone
            ):
                raise _unknown_timezone(timezone)
            existing = await queries.get_podcast_by_guild(session, guild_id)
            if existing is not None and existing.youtube_channel_id != youtube_channel_id:
                # A new channel starts a fresh live history.
                fields.update(last_reported_video_id=None, upcoming_start_at=None)
            return await queries.upsert_podcast(session, guild_id, **fields)

    async def resolve_channel(self, text: str) -> str:
        try:
            return await self._youtube.resolve_channel(text)
        except InvalidChannel:
            raise InvalidInput(
                problem="That isn't a YouTube channel. Give its UC… id, its @handle, "
                "or a link like https://www.youtube.com/@yourpodcast."
            ) from None
        except ChannelNotFound:
            raise InvalidInput(
                problem="YouTube has no channel there. Check the handle or link."
            ) from None
        except YouTubeUnavailable:
            raise ServiceUnavailable(service="YouTube") from None

    async def youtube_test(self, guild_id: int) -> tuple[Podcast, LiveCheck]:
        """Check the podcast's channel now (nothing is recorded or posted)."""
        podcast = await self.get(guild_id)
        return podcast, await self._youtube.check_channel(podcast.youtube_channel_id)

    async def get(self, guild_id: int) -> Podcast:
        async with single_read(self._sessions) as session:
            return await self._require(session, guild_id)

    async def find(self, guild_id: int) -> Podcast | None:
        async with single_read(self._sessions) as session:
            return await queries.get_podcast_by_guild(session, guild_id)

    async def deactivate(self, guild_id: int) -> bool:
        async with self._sessions() as session, session.begin():
            return await queries.deactivate_podcast(session, guild_id, self._clock())

    async def set_filter(self, guild_id: int, text: str | None) -> str | None:
        cleaned = clean_input(text or "", "The filter") or None
        if cleaned is not None and len(cleaned) > MAX_FILTER:
            raise InvalidInput(problem=f"The filter can be at most {MAX_FILTER} characters.")
        async with self._sessions() as session, session.begin():
            podcast = await self._require(session, guild_id)
            await queries.set_title_filter(session, podcast.id, cleaned)
        return cleaned

    # -- episodes ---------------------------------------------------------------------------

    async def add_episode(
        self, guild_id: int, *, title: str, date: str, time: str | None, notes: str | None
    ) -> Episode:
        cleaned = clean_input(title, "The title")
        if not cleaned or len(cleaned) > MAX_TITLE:
            raise InvalidInput(problem=f"The title must be 1 to {MAX_TITLE} characters.")
        if notes is not None:
            notes = clean_input(notes, "The notes", multiline=True)
        if notes is not None and len(notes) > MAX_NOTES:
            raise InvalidInput(problem=f"Notes can be at most {MAX_NOTES} characters.")
        day = parse_date(date)
        at = parse_time(time) if time and time.strip() else None
        async with self._sessions() as session, session.begin():
            podcast = await self._require(session, guild_id)
            today = local_today(podcast.timezone, self._clock())
            if day < today - dt.timedelta(days=1):
                raise InvalidInput(
                    problem=f"{day.isoformat()} is in the past. Episodes are for today or later."
                )
            if day > today + dt.timedelta(days=MAX_YEARS_AHEAD * 366):
                raise InvalidInput(
                    problem=f"{day.isoformat()} is too far ahead: episodes can be at most "
                    f"{MAX_YEARS_AHEAD} years away."
                )
            scheduled_at = (
                dt.datetime.combine(day, at, tzinfo=ZoneInfo(podcast.timezone))
                if at is not None
                else None
            )
            return await queries.add_episode(
                session,
                podcast_id=podcast.id,
                title=cleaned,
                scheduled_date=day,
                scheduled_at=scheduled_at,
                notes=notes or None,
            )

    async def list_episodes(
        self, guild_id: int, *, upcoming: int = 10, recent: int = 5
    ) -> tuple[Podcast, list[EpisodeLine], list[EpisodeLine]]:
        async with single_read(self._sessions) as session:  # a listing: no snapshot needed
            podcast = await self._require(session, guild_id)
            today = local_today(podcast.timezone, self._clock())
            up, past = await queries.list_episodes(
                session, podcast.id, today, upcoming=upcoming, recent=recent
            )

        def line(s: queries.EpisodeSummary) -> EpisodeLine:
            e = s.episode
            return EpisodeLine(
                e.id,
                e.title,
                e.scheduled_date,
                e.scheduled_at,
                s.tweets,
                s.enabled,
                s.posted,
                e.live_url,
            )

        return podcast, [line(s) for s in up], [line(s) for s in past]

    async def remove_episode(self, guild_id: int, episode: str) -> RemovedEpisode:
        """Delete the episode; its Discord event's id comes back so the caller cancels it."""
        async with self._sessions() as session, session.begin():
            podcast = await self._require(session, guild_id)
            found = await resolve_episode(session, podcast.id, episode)
            event = await queries.event_of_episode(session, found.id)
            event_id = event.discord_event_id if event is not None else None
            if not await queries.delete_episode_without_posts(session, found.id):
                raise EpisodeHasPostedTweets(title=found.title)
            return RemovedEpisode(found.title, event_id)

    async def episode_choices(self, guild_id: int, text: str) -> list[EpisodeChoice]:
        """Autocomplete for every `episode` option: upcoming soonest first, then recent."""
        async with self._sessions() as session:
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                return []
            today = local_today(podcast.timezone, self._clock())
            episodes = await queries.search_episodes(session, podcast.id, text.strip()[:100], today)
        return [EpisodeChoice(e.id, episode_label(e)) for e in episodes]

    async def _require(self, session: AsyncSession, guild_id: int) -> Podcast:
        podcast = await queries.get_podcast_by_guild(session, guild_id)
        if podcast is None:
            raise PodcastNotSetUp()
        return podcast


def episode_label(episode: Episode) -> str:
    """What a member sees in the autocomplete list (Discord caps choice names at 100)."""
    when = episode.scheduled_date.isoformat()
    label = f"{when} · {episode.title}"
    return label if len(label) <= 100 else label[:99] + "…"


def episode_id_in(value: str) -> int | None:
    """The episode id autocomplete put in an `episode` option, or None for a typed title."""
    cleaned = value.strip()
    if cleaned.isascii() and cleaned.isdigit() and len(cleaned) < 19:  # not "²" or "١"
        return int(cleaned)
    return None


async def resolve_episode(session: AsyncSession, podcast_id: int, value: str) -> Episode:
    """An `episode` option's value: the id autocomplete put there, or a typed exact title."""
    cleaned = value.strip()
    episode = None
    if (episode_id := episode_id_in(cleaned)) is not None:
        episode = await queries.get_episode(session, podcast_id, episode_id)
    if episode is None and cleaned:
        episode = await queries.find_episode_by_title(session, podcast_id, cleaned)
    if episode is None:
        raise EpisodeNotFound()
    return episode
