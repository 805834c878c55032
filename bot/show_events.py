"""The show's Discord Scheduled Events: one per episode, following it from announced to ended.

Knows nothing of discord.py: Discord is reached through an `EventsPort` the cogs adapt. The
database decides who does what: the `episode_events` row is inserted (unique per episode) by
the one process that may create the event, and `claimed_until` lets one process at a time
change it, so two bot processes, or a restart, never make a second event.

Each `sync` compares what the episode says (its time, or the start YouTube announced for that
day; its stream; its end) with what Discord was last told, and sends only the difference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.errors import new_reference
from db import queries
from db.models import Episode, EpisodeEvent, Podcast

log = logging.getLogger("onair.events")

# Discord's limits (discord-api-docs, Guild Scheduled Event object).
NAME_MAX = 100
DESCRIPTION_MAX = 1000
LOCATION_MAX = 100
CLAIM_TTL = dt.timedelta(minutes=2)
# Discord refuses a start in the past; leave room for the request's own travel time.
START_MARGIN = dt.timedelta(minutes=1)
CONCURRENCY = 4


class EventsUnavailable(Exception):
    """The bot may not manage events in this server (no Manage Events), or isn't in it."""


class EventGone(Exception):
    """The event no longer exists in Discord (someone deleted it)."""


class EventRejected(Exception):
    """Discord refused the change (a start that passed meanwhile, a status it already has)."""


@dataclass(frozen=True)
class EventSpec:
    """What the episode's event should show."""

    name: str
    description: str | None
    location: str
    start: dt.datetime
    end: dt.datetime


class EventsPort(Protocol):
    """Discord's scheduled-event calls, as the cogs adapt them."""

    def serves(self, guild_id: int) -> bool:
        """Whether this process is connected to that server (with shards: one of its own)."""
        ...

    async def create(self, guild_id: int, spec: EventSpec) -> int: ...

    async def find(self, guild_id: int, spec: EventSpec) -> int | None: ...

    async def move(self, guild_id: int, event_id: int, spec: EventSpec) -> None: ...

    async def start(
        self, guild_id: int, event_id: int, location: str, end: dt.datetime
    ) -> None: ...

    async def finish(self, guild_id: int, event_id: int, status: str) -> None: ...


def channel_live_link(channel_id: str) -> str:
    """The channel's live page: it opens whatever is on air (61 characters)."""
    return f"https://www.youtube.com/channel/{channel_id}/live"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class _Work:
    action: str  # create | move | start | finish
    episode: Episode
    row: EpisodeEvent | None
    spec: EventSpec
    status: str = "completed"  # for finish: completed | canceled


@dataclass(frozen=True)
class _Outcome:
    episode_id: int
    values: dict[str, object] | None  # None: delete the claim row (nothing was created)


@dataclass(frozen=True)
class SyncResult:
    created: int = 0
    changed: int = 0
    unavailable: int = 0


class ShowEvents:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        event_minutes: int,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._length = dt.timedelta(minutes=event_minutes)
        self._clock = clock
        self._semaphore = asyncio.Semaphore(CONCURRENCY)

    # -- what the episode says ------------------------------------------------------------------

    def desired_starts(self, podcast: Podcast, episodes: list[Episode]) -> dict[int, dt.datetime]:
        """Each episode's start: its own time, or the start YouTube announced for its day (the
        first episode of that day still waiting for a stream takes it)."""
        starts = {e.id: e.scheduled_at for e in episodes if e.scheduled_at is not None}
        upcoming = podcast.upcoming_start_at
        if upcoming is not None:
            day = upcoming.astimezone(ZoneInfo(podcast.timezone)).date()
            waiting = [e for e in episodes if e.live_video_id is None and e.scheduled_date == day]
            waiting.sort(key=lambda e: (e.scheduled_at is None, e.scheduled_at or upcoming, e.id))
            if waiting:
                starts[waiting[0].id] = upcoming
        return starts

    def spec(self, episode: Episode, podcast: Podcast, start: dt.datetime) -> EventSpec:
        notes = (episode.notes or "").strip()
        return EventSpec(
            name=clip(episode.title, NAME_MAX),
            description=clip(notes, DESCRIPTION_MAX) if notes else None,
            location=clip(
                episode.live_url or channel_live_link(podcast.youtube_channel_id), LOCATION_MAX
            ),
            start=start,
            end=start + self._length,
        )

    def plan(self, candidates: list[tuple[Episode, EpisodeEvent | None]]) -> list[_Work]:
        now = self._clock()
        by_podcast: dict[int, list[Episode]] = {}
        for episode, _ in candidates:
            by_podcast.setdefault(episode.podcast_id, []).append(episode)
        starts: dict[int, dt.datetime] = {}
        for episodes in by_podcast.values():
            starts.update(self.desired_starts(episodes[0].podcast, episodes))
        work: list[_Work] = []
        for episode, row in candidates:
            podcast = episode.podcast
            start = starts.get(episode.id)
            if row is None or row.state == "creating":
                stale = row is not None and (row.claimed_until or now) <= now
                if row is not None and not stale:
                    continue  # another process is creating it right now
                if not podcast.events_enabled or episode.live_video_id or episode.ended_at:
                    continue
                if start is None or start < now + START_MARGIN:
                    continue
                work.append(_Work("create", episode, row, self.spec(episode, podcast, start)))
                continue
            if row.claimed_until is not None and row.claimed_until > now:
                continue
            spec = self.spec(episode, podcast, row.start_at or start or now)
            if row.state == "scheduled" and (episode.live_video_id or episode.ended_at):
                went_live = episode.went_live_at or now
                spec = EventSpec(
                    spec.name, spec.description, spec.location, spec.start, went_live + self._length
                )
                work.append(_Work("start", episode, row, spec))
            elif row.state == "active" and episode.ended_at:
                work.append(_Work("finish", episode, row, spec, "completed"))
            elif (
                row.state == "scheduled"
                and start is not None
                and start != row.start_at
                and start >= now + START_MARGIN
            ):
                work.append(_Work("move", episode, row, self.spec(episode, podcast, start)))
        return work

    # -- doing it -------------------------------------------------------------------------------

    async def sync(self, port: EventsPort, guild_id: int | None = None) -> SyncResult:
        """Bring every episode's event (or one server's) in line with the episode, once."""
        now = self._clock()
        async with self._sessions() as session:
            candidates = await queries.event_candidates(session, now, guild_id)
        work = [w for w in self.plan(list(candidates)) if port.serves(w.episode.podcast.guild_id)]
        if not work:
            return SyncResult()
        until = now + CLAIM_TTL
        fresh = [w for w in work if w.action == "create" and w.row is None]
        others = [w for w in work if not (w.action == "create" and w.row is None)]
        async with self._sessions() as session, session.begin():
            won = await queries.claim_new_events(
                session, [(w.episode.id, w.episode.podcast.guild_id) for w in fresh], until
            )
            won |= await queries.claim_events(session, [w.episode.id for w in others], now, until)
        mine = [w for w in work if w.episode.id in won]
        outcomes = await asyncio.gather(*(self._do(port, w) for w in mine))
        done = [(w, o) for w, o in zip(mine, outcomes, strict=True) if o is not None]
        async with self._sessions() as session, session.begin():
            kept = await queries.existing_events(session, [o.episode_id for _, o in done])
            await queries.release_events(
                session,
                [o.values for _, o in done if o.values is not None and o.episode_id in kept],
                [o.episode_id for _, o in done if o.values is None],
            )
        for work_item, outcome in done:
            if outcome.episode_id not in kept and outcome.values:
                # The episode was removed while its event was being made: cancel that too.
                event_id = outcome.values.get("discord_event_id")
                await self.cancel(port, work_item.episode.podcast.guild_id, event_id)  # type: ignore[arg-type]
        return SyncResult(
            created=sum(1 for w, o in done if w.action == "create" and o.values),
            changed=sum(1 for w, o in done if w.action != "create" and o.values),
            unavailable=sum(1 for _, o in done if o.values is None),
        )

    async def _do(self, port: EventsPort, work: _Work) -> _Outcome | None:
        """One Discord call for one claimed event; None leaves the claim to lapse."""
        episode, spec = work.episode, work.spec
        guild_id = episode.podcast.guild_id
        row = work.row
        values: dict[str, object] = {
            "episode_id": episode.id,
            "discord_event_id": row.discord_event_id if row else None,
            "state": row.state if row else "creating",
            "start_at": row.start_at if row else None,
            "location": row.location if row else None,
        }
        released = _Outcome(episode.id, None)  # a creation that didn't happen: drop the row
        async with self._semaphore:
            try:
                if work.action == "create":
                    event_id = None
                    if row is not None:  # a creation that crashed: adopt what it made
                        event_id = await port.find(guild_id, spec)
                    if event_id is None:
                        event_id = await port.create(guild_id, spec)
                    values.update(
                        discord_event_id=event_id,
                        state="scheduled",
                        start_at=spec.start,
                        location=spec.location,
                    )
                    return _Outcome(episode.id, values)
                event_id = row.discord_event_id if row else None
                if event_id is None:
                    return _Outcome(episode.id, {**values, "state": "gone"})
                if work.action == "move":
                    await port.move(guild_id, event_id, spec)
                    values.update(start_at=spec.start, location=spec.location)
                elif work.action == "start":
                    await port.start(guild_id, event_id, spec.location, spec.end)
                    values.update(state="active", location=spec.location)
                else:
                    await port.finish(guild_id, event_id, work.status)
                    values.update(state=work.status)
                return _Outcome(episode.id, values)
            except EventsUnavailable:
                # Tried again on a later sync, once the permission is back.
                return released if work.action == "create" else _Outcome(episode.id, values)
            except EventGone:
                log.info("the event of episode %s was deleted in Discord", episode.id)
                return _Outcome(episode.id, {**values, "state": "gone"})
            except EventRejected:
                # Discord moved it on by itself (an external event starts at its start time and
                # ends at its end time): take its word and don't ask again.
                log.info("Discord refused to %s the event of episode %s", work.action, episode.id)
                if work.action == "create":
                    return released
                done: dict[str, dict[str, object]] = {
                    "move": {"start_at": spec.start},
                    "start": {"state": "active"},
                }
                return _Outcome(
                    episode.id, {**values, **done.get(work.action, {"state": work.status})}
                )
            except Exception:
                log.exception(
                    "updating the event of episode %s failed (ref %s)", episode.id, new_reference()
                )
                if work.action == "create":
                    return None  # unknown whether Discord made it: the claim lapses, then adopt
                return _Outcome(episode.id, values)

    async def cancel(self, port: EventsPort, guild_id: int, event_id: int | None) -> None:
        """The episode was removed: its event is cancelled (if it is still upcoming)."""
        if event_id is None:
            return
        try:
            await port.finish(guild_id, event_id, "canceled")
        except (EventsUnavailable, EventGone, EventRejected):
            log.info("could not cancel event %s (gone, started or not allowed)", event_id)
        except Exception:
            log.exception("cancelling event %s failed (ref %s)", event_id, new_reference())
