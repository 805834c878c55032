"""/podcast: connect the server's podcast to its YouTube channel, roles and announce channel."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import timezones
from bot.errors import InvalidInput
from cogs.checks import admin_only, rate_limited, services_of
from cogs.render import live_check_text, podcast_embed


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
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
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
        await interaction.response.defer(ephemeral=True, thinking=True)
        podcast = await services_of(interaction).podcasts.setup(
            guild_id=guild.id,
            name=name,
            youtube_channel=youtube_channel,
            announce_channel_id=announce_channel.id,
            host_role_id=host_role.id,
            admin_role_id=admin_role.id if admin_role else None,
            timezone=timezone,
            require_approval=require_approval,
        )
        await interaction.followup.send(
            "Saved. OnAir now watches this channel and will tweet for the hosts when it goes live.",
            embed=podcast_embed(podcast),
            ephemeral=True,
        )

    @app_commands.command(name="show", description="The podcast's settings and the last live check")
    @admin_only()
    async def show(self, interaction: discord.Interaction) -> None:
        podcast = await services_of(interaction).podcasts.get(interaction.guild_id or 0)
        await interaction.response.send_message(embed=podcast_embed(podcast), ephemeral=True)

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
        await interaction.response.send_message(message, ephemeral=True)

    @app_commands.command(name="youtube-test", description="Check the YouTube channel now")
    @rate_limited("podcast youtube-test")
    @admin_only()
    async def youtube_test(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        podcast, check = await services_of(interaction).podcasts.youtube_test(
            interaction.guild_id or 0
        )
        await interaction.followup.send(
            f"**{podcast.name}** · channel `{podcast.youtube_channel_id}`\n{live_check_text(check)}",
            ephemeral=True,
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(PodcastCog(bot))
