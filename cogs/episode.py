"""/episode: add, list and remove the podcast's episodes."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from cogs.answers import acknowledge, answer
from cogs.checks import admin_only, admin_or_host, services_of
from cogs.events_port import DiscordEventsPort
from cogs.readiness import host_members
from cogs.render import board_embed, episodes_embed
from cogs.ui import episode_autocomplete


@app_commands.guild_only()
class EpisodeCog(
    commands.GroupCog, group_name="episode", group_description="The podcast's episodes"
):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.events = DiscordEventsPort(bot)

    @app_commands.command(name="add", description="Add an episode")
    @app_commands.describe(
        title="The episode's title",
        date="The day it streams, YYYY-MM-DD, in the podcast's timezone",
        time="Optional start time, HH:MM (24-hour), in the podcast's timezone",
        notes="What the episode is about: the AI drafts tweets from this",
    )
    @admin_only()
    async def add(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 200],
        date: app_commands.Range[str, 8, 10],
        time: app_commands.Range[str, 3, 5] | None = None,
        notes: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        episode = await services_of(interaction).podcasts.add_episode(
            interaction.guild_id or 0, title=title, date=date, time=time, notes=notes
        )
        when = (
            discord.utils.format_dt(episode.scheduled_at, "F")
            if episode.scheduled_at
            else episode.scheduled_date.isoformat()
        )
        await answer(
            interaction,
            f"Added “{episode.title}” for {when}. Next: /tweets create-all to give every host a tweet.",
        )
        await services_of(interaction).show.sync(self.events, interaction.guild_id)

    @app_commands.command(name="list", description="Upcoming and recent episodes with their tweets")
    @admin_only()
    async def list(self, interaction: discord.Interaction) -> None:
        podcast, upcoming, recent = await services_of(interaction).podcasts.list_episodes(
            interaction.guild_id or 0
        )
        await answer(interaction, embed=episodes_embed(podcast, upcoming, recent))

    @app_commands.command(name="remove", description="Remove an episode that has no posted tweets")
    @app_commands.describe(episode="The episode to remove")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @admin_only()
    async def remove(self, interaction: discord.Interaction, episode: str) -> None:
        services = services_of(interaction)
        removed = await services.podcasts.remove_episode(interaction.guild_id or 0, episode)
        await answer(interaction, f"Removed “{removed.title}” and its tweets.")
        await services.show.cancel(self.events, interaction.guild_id or 0, removed.discord_event_id)

    @app_commands.command(
        name="ready", description="Each host's X link and tweet for an episode, and what's missing"
    )
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @admin_or_host()
    async def ready(self, interaction: discord.Interaction, episode: str) -> None:
        await acknowledge(interaction)
        services = services_of(interaction)
        podcast = await services.podcasts.get(interaction.guild_id or 0)
        board = await services.readiness.board(
            podcast.guild_id, episode, host_members(interaction.guild, podcast.host_role_id)
        )
        await answer(interaction, embed=board_embed(board))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(EpisodeCog(bot))
