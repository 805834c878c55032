"""The Discord side of bot.show_events: Guild Scheduled Event calls through discord.py.

Routes and fields as discord-api-docs `resources/guild-scheduled-event` documents them:
POST/PATCH /guilds/{id}/scheduled-events[/{event_id}], EXTERNAL (3) events with an
`entity_metadata.location` and a `scheduled_end_time`, status 2 Active, 3 Completed, 4 Canceled.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import discord

from bot.show_events import EventGone, EventRejected, EventSpec, EventsUnavailable

log = logging.getLogger("onair.events")

STATUS_VALUES = {"active": 2, "completed": 3, "canceled": 4}
UNKNOWN_EVENT = 10070


def can_manage_events(guild: discord.Guild) -> bool:
    """Whether the bot may create and change events here (Manage Events, or Create Events)."""
    me = guild.me
    if me is None:
        return False
    perms = me.guild_permissions
    return perms.manage_events or perms.create_events


class DiscordEventsPort:
    """`bot.show_events.EventsPort` on the bot's discord.py client."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def serves(self, guild_id: int) -> bool:
        return self._client.get_guild(guild_id) is not None

    def _guild(self, guild_id: int) -> discord.Guild:
        guild = self._client.get_guild(guild_id)
        if guild is None or not can_manage_events(guild):
            raise EventsUnavailable()
        return guild

    async def create(self, guild_id: int, spec: EventSpec) -> int:
        guild = self._guild(guild_id)
        try:
            event = await guild.create_scheduled_event(
                name=spec.name,
                start_time=spec.start,
                end_time=spec.end,
                entity_type=discord.EntityType.external,
                privacy_level=discord.PrivacyLevel.guild_only,
                location=spec.location,
                description=spec.description or discord.utils.MISSING,
            )
        except discord.HTTPException as error:
            raise _translated(error) from None
        return event.id

    async def find(self, guild_id: int, spec: EventSpec) -> int | None:
        """An upcoming event this bot made for `spec` (adopted after a creation that crashed)."""
        guild = self._guild(guild_id)
        me = self._client.user
        try:
            events = await guild.fetch_scheduled_events(with_counts=False)
        except discord.HTTPException as error:
            raise _translated(error) from None
        for event in events:
            if (
                event.name == spec.name
                and event.start_time == spec.start
                and event.status == discord.EventStatus.scheduled
                and (me is None or event.creator_id == me.id)
            ):
                return event.id
        return None

    async def move(self, guild_id: int, event_id: int, spec: EventSpec) -> None:
        payload: dict[str, object] = {
            "name": spec.name,
            "scheduled_start_time": spec.start.isoformat(),
            "scheduled_end_time": spec.end.isoformat(),
            "entity_metadata": {"location": spec.location},
        }
        if spec.description:
            payload["description"] = spec.description
        await self._edit(guild_id, event_id, payload)

    async def start(self, guild_id: int, event_id: int, location: str, end: dt.datetime) -> None:
        await self._edit(
            guild_id,
            event_id,
            {
                "status": STATUS_VALUES["active"],
                "entity_metadata": {"location": location},
                "scheduled_end_time": end.isoformat(),
            },
        )

    async def finish(self, guild_id: int, event_id: int, status: str) -> None:
        await self._edit(guild_id, event_id, {"status": STATUS_VALUES[status]})

    async def _edit(self, guild_id: int, event_id: int, payload: dict[str, Any]) -> None:
        self._guild(guild_id)
        try:
            await self._client.http.edit_scheduled_event(guild_id, event_id, **payload)
        except discord.HTTPException as error:
            raise _translated(error) from None


def _translated(error: discord.HTTPException) -> Exception:
    if isinstance(error, discord.Forbidden):
        return EventsUnavailable()
    if isinstance(error, discord.NotFound) and error.code == UNKNOWN_EVENT:
        return EventGone()
    if error.status == 400:
        log.info("Discord refused an event change: %s %s", error.code, error.text[:200])
        return EventRejected()
    return error
