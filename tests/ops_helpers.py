"""Set-up shared by the operations tests: a second Discord server with its own podcast."""

from __future__ import annotations

from dataclasses import dataclass

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
    w: World, name: str = "Other Pod", channel_id: str = OTHER_CHANNEL_ID
) -> OtherServer:
    """Another server the bot is in, with an admin (olga), a host (hugo) and a YouTube channel."""
    guild = w.discord.create_guild(name, owner_name=f"{name} owner")
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
