"""/podcast: connect the server's podcast to its YouTube channel, roles and announce channel."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import timezones
from bot.errors import InvalidInput
from bot.live_check import Announcement
from bot.show_events import channel_live_link
from cogs.answers import acknowledge, answer
from cogs.checks import admin_only, rate_limited, services_of
from cogs.events_port import can_manage_events
from cogs.render import announcement_text, live_check_text, podcast_embed


async def timezone_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Only the canonical names OnAir accepts (never localtime, posix/…, right/…)."""
    return [app_commands.Choice(name=n, value=n) for n in timezones.matching(current[:64])]


@app_commands.guild_only()
class PodcastCog(
    commands.GroupCog, group_name="podcast", group_description="Set up this server's podcast"
):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="setup", description="Create or update this server's podcast")
    @app_commands.describe(
        name="The podcast's name",
        youtube_channel="The YouTube channel: a UC… id, an @handle or a channel link",
        announce_channel="Where OnAir reports each stream and its tweets",
        host_role="Members with this role get a tweet for each episode",
        admin_role="Optional: members with this role can manage the podcast (besides Manage Server)",
        timezone="The podcast's timezone for episode dates, like Europe/Paris (default UTC)",
        require_approval="Only tweets their host approved are posted (default: yes)",
        ping_role="Optional: mentioned (and only it) when a stream goes live",
        events="A Discord Scheduled Event for each episode (default True)",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    @rate_limited("podcast setup")
    @admin_only()
    async def setup(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        youtube_channel: app_commands.Range[str, 1, 200],
        announce_channel: discord.TextChannel,
        host_role: discord.Role,
        admin_role: discord.Role | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        require_approval: bool | None = None,
        ping_role: discord.Role | None = None,
        events: bool | None = None,
    ) -> None:
        guild = interaction.guild
        if guild is None:  # guild_only() already refuses DMs
            return
        me = guild.me
        if me is not None:
            allowed = announce_channel.permissions_for(me)
            if not (allowed.send_messages and allowed.embed_links and allowed.view_channel):
                raise InvalidInput(
                    problem=f"I can't post in {announce_channel.mention}: give me View Channel, "
                    "Send Messages and Embed Links there, then run this again."
                )
        if host_role.is_default():
            raise InvalidInput(problem="Pick a dedicated host role, not @everyone.")
        if ping_role is not None:
            check_ping_role(ping_role, announce_channel, me)
        await acknowledge(interaction)
        podcast = await services_of(interaction).podcasts.setup(
            guild_id=guild.id,
            name=name,
            youtube_channel=youtube_channel,
            announce_channel_id=announce_channel.id,
            host_role_id=host_role.id,
            admin_role_id=admin_role.id if admin_role else None,
            timezone=timezone,
            require_approval=require_approval,
            ping_role_id=ping_role.id if ping_role else None,
            events_enabled=events,
        )
        await answer(
            interaction,
            "Saved. OnAir now watches this channel and will tweet for the hosts when it goes live.",
            embed=podcast_embed(podcast),
        )

    @app_commands.command(name="show", description="The podcast's settings and the last live check")
    @admin_only()
    async def show(self, interaction: discord.Interaction) -> None:
        podcast = await services_of(interaction).podcasts.get(interaction.guild_id or 0)
        events_allowed = interaction.guild is not None and can_manage_events(interaction.guild)
        await answer(interaction, embed=podcast_embed(podcast, events_allowed))

    @app_commands.command(
        name="announce-test", description="Show the go-live announcement without pinging anyone"
    )
    @admin_only()
    async def announce_test(self, interaction: discord.Interaction) -> None:
        podcast = await services_of(interaction).podcasts.get(interaction.guild_id or 0)
        channel = (
            interaction.guild.get_channel(podcast.announce_channel_id)
            if interaction.guild
            else None
        )
        if not isinstance(channel, discord.TextChannel):
            raise InvalidInput(
                problem="I can't find the announce channel. Run /podcast setup with a channel I can see."
            )
        sample = Announcement(
            guild_id=podcast.guild_id,
            announce_channel_id=channel.id,
            show_name=podcast.name,
            stream_title="(the stream's title on YouTube)",
            stream_url=channel_live_link(podcast.youtube_channel_id),
            ping_role_id=podcast.ping_role_id,
        )
        try:
            await channel.send(
                announcement_text(sample, test=True),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.Forbidden:
            raise InvalidInput(
                problem=f"I can't post in {channel.mention}: give me View Channel and Send "
                "Messages there."
            ) from None
        await answer(
            interaction,
            f"Posted the go-live announcement in {channel.mention} as a test; nobody was pinged.",
        )

    @app_commands.command(
        name="filter", description="Only streams whose title contains this text count"
    )
    @app_commands.describe(
        text="Text the stream title must contain (any case); leave empty to clear"
    )
    @admin_only()
    async def filter(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        saved = await services_of(interaction).podcasts.set_filter(interaction.guild_id or 0, text)
        message = (
            f"Only streams whose title contains “{saved}” count as an episode now."
            if saved
            else "Filter cleared: any stream on the channel counts as the episode."
        )
        await answer(interaction, message)

    @app_commands.command(name="youtube-test", description="Check the YouTube channel now")
    @rate_limited("podcast youtube-test")
    @admin_only()
    async def youtube_test(self, interaction: discord.Interaction) -> None:
        await acknowledge(interaction)
        podcast, check = await services_of(interaction).podcasts.youtube_test(
            interaction.guild_id or 0
        )
        await answer(
            interaction,
            f"**{podcast.name}** · channel `{podcast.youtube_channel_id}`\n{live_check_text(check)}",
        )

    @app_commands.command(
        name="api-token", description="Create (shown once) or revoke this server's JSON API token"
    )
    @app_commands.describe(revoke="True: revoke the token instead of creating a new one")
    @admin_only()
    async def api_token(self, interaction: discord.Interaction, revoke: bool = False) -> None:
        api = services_of(interaction).api
        guild_id = interaction.guild_id or 0
        if revoke:
            revoked = await api.revoke_token(guild_id)
            await answer(
                interaction,
                "The API token is revoked: requests with it now get 401."
                if revoked
                else "This server has no API token to revoke.",
            )
            return
        token = await api.create_token(guild_id, interaction.user.id)
        await answer(
            interaction,
            f"This server's API token (shown only now, copy it somewhere safe):\n`{token}`\n"
            "Send it as `Authorization: Bearer <token>` to `/api/v1/` on the bot's HTTP "
            "server. It reads this server only; any earlier token stopped working. "
            "Revoke it with `/podcast api-token revoke:true`.",
        )


def check_ping_role(
    role: discord.Role, channel: discord.TextChannel, me: discord.Member | None
) -> None:
    """Discord pings a role only if it is mentionable or the sender may mention all roles."""
    if role.is_default():
        raise InvalidInput(
            problem="Pick a role for listeners to opt into, not @everyone: OnAir never pings everyone."
        )
    if not role.mentionable and not (
        me is not None and channel.permissions_for(me).mention_everyone
    ):
        raise InvalidInput(
            problem=f"Discord won't let me ping {role.mention}: turn on “Allow anyone to @mention "
            "this role” in its settings, or give me Mention @everyone, @here and All Roles."
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(PodcastCog(bot))
