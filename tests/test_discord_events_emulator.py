"""The Discord emulator's scheduled events and allowed_mentions, through discord.py's own HTTP
client: what Discord accepts, refuses (status, code, field error) and who a message pings."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from tests.emulators.discord_api import DiscordEmulator, Guild, Permission, discord_py_pointed_at
from tests.emulators.discord_events import EventStatus

LOCATION = "https://www.youtube.com/channel/UC0000000000000000000001/live"


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator


@pytest.fixture
async def client(emu: DiscordEmulator) -> AsyncIterator[discord.Client]:
    """A REST-only discord.py client (logged in, no gateway)."""
    with discord_py_pointed_at(emu):
        bot = discord.Client(intents=discord.Intents.none())
        await bot.login(emu.token)
        yield bot
        await bot.close()


def soon(minutes: int = 60) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


def external(**overrides: Any) -> dict[str, Any]:
    start = soon()
    payload: dict[str, Any] = {
        "name": "Episode 7",
        "privacy_level": 2,
        "entity_type": 3,
        "scheduled_start_time": start.isoformat(),
        "scheduled_end_time": (start + dt.timedelta(hours=2)).isoformat(),
        "entity_metadata": {"location": LOCATION},
        "description": "Tiny gardens.",
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


async def refused(call: Any) -> discord.HTTPException:
    with pytest.raises(discord.HTTPException) as caught:
        await call
    return caught.value


async def test_external_event_is_created_listed_and_fetched(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """A valid external event is stored as SCHEDULED and comes back from list and get."""
    guild = emu.create_guild("Pod")
    created = await client.http.create_guild_scheduled_event(guild.id, **external())
    assert created["status"] == 1 and created["entity_type"] == 3
    assert created["entity_metadata"] == {"location": LOCATION}
    assert created["creator_id"] == str(emu.bot_user_id)
    listed = await client.http.get_scheduled_events(guild.id, False)
    assert [e["id"] for e in listed] == [created["id"]]
    fetched = await client.http.get_scheduled_event(guild.id, created["id"], False)
    assert fetched["name"] == "Episode 7"


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"entity_metadata": None}, "entity_metadata", "BASE_TYPE_REQUIRED"),
        ({"scheduled_end_time": None}, "scheduled_end_time", "BASE_TYPE_REQUIRED"),
        ({"entity_metadata": {"location": "x" * 101}}, "entity_metadata", "BASE_TYPE_BAD_LENGTH"),
        ({"name": "n" * 101}, "name", "BASE_TYPE_BAD_LENGTH"),
        ({"description": "d" * 1001}, "description", "BASE_TYPE_BAD_LENGTH"),
        (
            {"scheduled_start_time": (soon(-5)).isoformat()},
            "scheduled_start_time",
            "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
        ),
    ],
)
async def test_invalid_external_event_is_refused_with_a_field_error(
    emu: DiscordEmulator, client: discord.Client, overrides: dict[str, Any], field: str, code: str
) -> None:
    """Missing location or end, over-long texts and a past start: 400, 50035, the field named."""
    guild = emu.create_guild("Pod")
    error = await refused(
        client.http.create_guild_scheduled_event(guild.id, **external(**overrides))
    )
    assert (error.status, error.code) == (400, 50035)
    assert field in error.text, error.text
    assert code in json.dumps(emu.error_bodies[-1]), emu.error_bodies
    assert emu.events_of(guild) == []


async def test_status_moves_only_along_discords_transitions(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """SCHEDULED -> ACTIVE -> COMPLETED works; SCHEDULED -> COMPLETED and anything after a final
    status are refused; a start can't change once the event is active."""
    guild = emu.create_guild("Pod")
    first = await client.http.create_guild_scheduled_event(guild.id, **external())
    error = await refused(client.http.edit_scheduled_event(guild.id, first["id"], status=3))
    assert (error.status, error.code) == (400, 50035)
    await client.http.edit_scheduled_event(guild.id, first["id"], status=2)
    error = await refused(
        client.http.edit_scheduled_event(
            guild.id, first["id"], scheduled_start_time=soon(90).isoformat()
        )
    )
    assert error.status == 400
    await client.http.edit_scheduled_event(guild.id, first["id"], status=3)
    second = await client.http.create_guild_scheduled_event(guild.id, **external(name="Two"))
    await client.http.edit_scheduled_event(guild.id, second["id"], status=4)
    error = await refused(client.http.edit_scheduled_event(guild.id, second["id"], status=2))
    assert error.status == 400
    one, two = emu.events_of(guild)
    assert one.history == [EventStatus.SCHEDULED, EventStatus.ACTIVE, EventStatus.COMPLETED]
    assert two.history == [EventStatus.SCHEDULED, EventStatus.CANCELED]


async def test_a_server_holds_at_most_100_unfinished_events(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """The 101st SCHEDULED/ACTIVE event is refused with 30038; a finished one frees a place."""
    guild = emu.create_guild("Pod")
    ids = [
        (await client.http.create_guild_scheduled_event(guild.id, **external(name=f"E{n}")))["id"]
        for n in range(100)
    ]
    error = await refused(client.http.create_guild_scheduled_event(guild.id, **external()))
    assert (error.status, error.code) == (400, 30038)
    await client.http.edit_scheduled_event(guild.id, ids[0], status=4)
    await client.http.create_guild_scheduled_event(guild.id, **external(name="again"))
    assert len(emu.events_of(guild)) == 101


async def test_events_need_the_event_permissions_and_an_existing_event(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """Without Create/Manage Events: 403 50013; an unknown event id: 404 10070."""
    guild = emu.create_guild("Pod")
    event = await client.http.create_guild_scheduled_event(guild.id, **external())
    guild.bot_role.permissions &= ~(Permission.MANAGE_EVENTS | Permission.CREATE_EVENTS)
    error = await refused(client.http.create_guild_scheduled_event(guild.id, **external()))
    assert (error.status, error.code) == (403, 50013)
    error = await refused(client.http.edit_scheduled_event(guild.id, event["id"], status=2))
    assert (error.status, error.code) == (403, 50013)
    error = await refused(client.http.edit_scheduled_event(guild.id, 12345678901234567, status=2))
    assert (error.status, error.code) == (404, 10070)


# ---- allowed_mentions ------------------------------------------------------------------------


def listeners(guild: Guild, *, mentionable: bool = True) -> int:
    return guild.add_role("Listeners", mentionable=mentionable).id


async def send(
    client: discord.Client, guild: Guild, content: str, mentions: discord.AllowedMentions | None
) -> discord.Message:
    channel = client.get_partial_messageable(guild.general.id, guild_id=guild.id)
    if mentions is None:
        return await channel.send(content)
    return await channel.send(content, allowed_mentions=mentions)


async def test_only_the_named_role_pings_whatever_the_content_holds(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """allowed_mentions naming one role: that role pings; @everyone, a user and another role in
    the same content ping nobody."""
    guild = emu.create_guild("Pod")
    role = listeners(guild)
    other = guild.add_role("Other", mentionable=True).id
    guild.bot_role.permissions |= Permission.MENTION_EVERYONE
    member = guild.add_member("carol")
    content = f"<@&{role}> live: @everyone <@{member.id}> <@&{other}> @here"
    only_role = discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(role)], replied_user=False
    )
    message = await send(client, guild, content, only_role)
    stored = emu.message(message.id)
    assert stored.mention_role_ids == [role]
    assert (stored.mention_everyone, stored.mention_user_ids) == (False, [])
    assert message.mention_everyone is False and message.raw_role_mentions == [role, other]


async def test_without_allowed_mentions_everything_in_the_content_pings(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """No allowed_mentions key: users, mentionable roles and (with the permission) @everyone."""
    guild = emu.create_guild("Pod")
    role = listeners(guild)
    hidden = guild.add_role("Staff").id  # not mentionable, bot lacks Mention Everyone
    member = guild.add_member("carol")
    message = await send(client, guild, f"@everyone <@{member.id}> <@&{role}> <@&{hidden}>", None)
    stored = emu.message(message.id)
    assert stored.mention_role_ids == [role]  # Staff can't be pinged by this bot
    assert stored.mention_user_ids == [member.id]
    assert stored.mention_everyone is False  # no MENTION_EVERYONE permission
    none = discord.AllowedMentions.none()
    silent = emu.message((await send(client, guild, f"<@&{role}> @everyone", none)).id)
    assert (silent.mention_role_ids, silent.mention_everyone) == ([], False)


async def test_parse_and_an_id_list_of_the_same_kind_are_refused(
    emu: DiscordEmulator, client: discord.Client
) -> None:
    """parse: ["roles"] with roles: [id] is a 400 form error, as Discord documents."""
    guild = emu.create_guild("Pod")
    role = listeners(guild)
    body = {
        "content": f"<@&{role}>",
        "allowed_mentions": {"parse": ["roles"], "roles": [str(role)]},
    }
    route = discord.http.Route(
        "POST", "/channels/{channel_id}/messages", channel_id=guild.general.id
    )
    error = await refused(client.http.request(route, json=body))
    assert (error.status, error.code) == (400, 50035)
    assert emu.channel_messages(guild.general) == []
