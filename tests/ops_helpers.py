"""Shared by the operations tests: a second Discord server with its own podcast, /healthz."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from tests.emulators.discord_api import Channel, Guild, Member, Permission, Role
from tests.rig import World

OTHER_CHANNEL_ID = "UC" + "OtherPodChannel".ljust(22, "0")


@dataclass
class OtherServer:
    guild: Guild
    admin: Member
    host: Member
    host_role: Role
    announce: Channel


def other_server(
    w: World,
    name: str = "Other Pod",
    channel_id: str = OTHER_CHANNEL_ID,
    shard: tuple[int, int] | None = None,
) -> OtherServer:
    """Another server the bot is in, with an admin (olga), a host (hugo) and a YouTube channel;
    `shard=(shard_id, num_shards)` puts it on that shard."""
    guild = w.discord.create_guild(name, owner_name=f"{name} owner", shard=shard)
    staff = guild.add_role("Staff", permissions=Permission.MANAGE_GUILD)
    host_role = guild.add_role("Host")
    announce = guild.add_text_channel("announcements")
    w.youtube.add_channel(channel_id, handle=name.lower().replace(" ", ""), title=name)
    return OtherServer(
        guild=guild,
        admin=guild.add_member("olga", roles=[staff]),
        host=guild.add_member("hugo", roles=[host_role]),
        host_role=host_role,
        announce=announce,
    )


async def setup_other_podcast(
    w: World, other: OtherServer, channel_id: str = OTHER_CHANNEL_ID
) -> None:
    run = await w.discord.run_command(
        other.guild,
        other.admin,
        "podcast setup",
        name=other.guild.name,
        youtube_channel=channel_id,
        announce_channel=other.announce,
        host_role=other.host_role,
    )
    done = await run.wait_done(timeout=15)
    assert "Saved" in done.text(), done.text()


async def healthz(port: int) -> tuple[int, dict[str, object]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    return response.status_code, response.json()


async def wait_for_health(port: int, status: int, timeout: float = 30) -> dict[str, object]:
    """Poll /healthz until it answers `status`; the last body on success."""
    deadline = asyncio.get_running_loop().time() + timeout
    seen: tuple[int, dict[str, object]] | None = None
    while asyncio.get_running_loop().time() < deadline:
        seen = await healthz(port)
        if seen[0] == status:
            return seen[1]
        await asyncio.sleep(0.3)
    raise AssertionError(f"/healthz never answered {status}; last: {seen}")
