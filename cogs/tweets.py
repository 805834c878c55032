"""/tweets: the admin's view of every host's tweet for an episode."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import InvalidInput, explain
from cogs.answers import acknowledge, answer
from cogs.checks import admin_only, rate_limited, services_of
from cogs.render import status_embed
from cogs.ui import episode_autocomplete

PROGRESS_EVERY_SECONDS = 1.5
MAX_REPLY = 2000  # Discord's limit for a message's content


def _unlinked_line(names: list[str], *, room: int) -> str:
    """ "Not linked to X yet: a, b and 57 more." within `room` characters (60 hosts fit)."""
    shown: list[str] = []
    for count, name in enumerate(names):
        more = len(names) - count
        candidate = ", ".join([*shown, discord.utils.escape_markdown(name)])
        tail = f" and {more - 1} more" if more > 1 else ""
        if len(f"Not linked to X yet: {candidate}{tail}. They can run /x link.") + 1 > room:
            break
        shown.append(discord.utils.escape_markdown(name))
    hidden = len(names) - len(shown)
    listed = ", ".join(shown) + (f" and {hidden} more" if hidden else "")
    if not shown:
        listed = f"{hidden} hosts"
    return f"Not linked to X yet: {listed}. They can run /x link."


@app_commands.guild_only()
class TweetsCog(commands.GroupCog, group_name="tweets", group_description="Every host's tweets"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(
        name="create-all", description="A tweet for every member with the host role"
    )
    @app_commands.describe(
        episode="The episode", generate="Draft each tweet with AI now (default: yes)"
    )
    @app_commands.autocomplete(episode=episode_autocomplete)
    @rate_limited("tweets create-all")
    @admin_only()
    async def create_all(
        self, interaction: discord.Interaction, episode: str, generate: bool = True
    ) -> None:
        services = services_of(interaction)
        guild = interaction.guild
        if guild is None:  # guild_only() already refuses DMs
            return
        podcast = await services.podcasts.get(guild.id)
        await acknowledge(interaction)
        if not guild.chunked:
            await guild.chunk()
        role = guild.get_role(podcast.host_role_id)
        if role is None:
            raise InvalidInput(
                problem="The podcast's host role no longer exists: run /podcast setup again."
            )
        members = [(m.id, m.display_name) for m in role.members if not m.bot]
        if not members:
            raise InvalidInput(
                problem=f"Nobody has the {role.mention} role yet. Give it to the hosts first."
            )
        last_update = 0.0

        async def progress(done: int, total: int) -> None:
            nonlocal last_update
            if done < total and time.monotonic() - last_update < PROGRESS_EVERY_SECONDS:
                return
            last_update = time.monotonic()
            await interaction.edit_original_response(content=f"Drafting… {done}/{total} drafted")

        result = await services.tweets.create_all(
            guild.id, episode, members, generate=generate, progress=progress
        )
        lines = [
            f"**{result.episode_title}**: {result.created} new tweets, {result.kept} kept as they were."
        ]
        if result.drafted:
            lines.append(
                f"Drafted {result.drafted} with AI"
                + (
                    f" ({result.fallbacks} from a template because AI drafting was unavailable)."
                    if result.fallbacks
                    else "."
                )
            )
        lines.append("Hosts see, edit and approve theirs with /tweet show.")
        if result.unlinked:
            lines.insert(
                -1, _unlinked_line(result.unlinked, room=MAX_REPLY - len("\n".join(lines)))
            )
        await interaction.edit_original_response(content="\n".join(lines))

    @app_commands.command(name="status", description="Every host's tweet for an episode")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @admin_only()
    async def status(self, interaction: discord.Interaction, episode: str) -> None:
        status = await services_of(interaction).tweets.status(interaction.guild_id or 0, episode)
        await answer(interaction, embed=status_embed(status))

    @app_commands.command(name="hold", description="Hold a host's tweet: it won't be posted")
    @app_commands.describe(episode="The episode", host="The host whose tweet to hold")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @admin_only()
    async def hold(
        self, interaction: discord.Interaction, episode: str, host: discord.User
    ) -> None:
        await self._set_hold(interaction, episode, host, True)

    @app_commands.command(name="release", description="Release a host's held tweet")
    @app_commands.describe(episode="The episode", host="The host whose tweet to release")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @admin_only()
    async def release(
        self, interaction: discord.Interaction, episode: str, host: discord.User
    ) -> None:
        await self._set_hold(interaction, episode, host, False)

    async def _set_hold(
        self, interaction: discord.Interaction, episode: str, host: discord.User, held: bool
    ) -> None:
        name = discord.utils.escape_markdown(host.display_name)
        result = await services_of(interaction).roster.set_hold(
            interaction.guild_id or 0, episode, host.id, name, held
        )
        if held:
            message = f"Held: {name}'s tweet for “{result.episode_title}” won't be posted until it is released with /tweets release."
        elif result.still_held_for is not None:
            message = f"Released your hold on {name}'s tweet for “{result.episode_title}”, but it stays held: {explain(result.still_held_for, closed=False)}"
        else:
            message = f"Released: {name}'s tweet for “{result.episode_title}” can be posted again."
        await answer(interaction, message)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(TweetsCog(bot))
