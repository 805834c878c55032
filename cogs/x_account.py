"""/x: connect a host's X account with the PIN flow, check it, remove it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import link_status_text
from cogs.answers import acknowledge, answer
from cogs.checks import host_only, host_or_former_host, rate_limited, services_of, shared_budget


@app_commands.guild_only()
class XAccountCog(commands.GroupCog, group_name="x", group_description="Your X account"):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="link", description="Connect your X account (you'll get a PIN)")
    @shared_budget("x")
    @rate_limited("x link")
    @host_only()
    async def link(self, interaction: discord.Interaction) -> None:
        await acknowledge(interaction)
        url = await services_of(interaction).linking.start(
            interaction.guild_id or 0, interaction.user.id
        )
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Authorize OnAir on X", url=url))
        await answer(
            interaction,
            "1. Open the link below and authorize OnAir on X.\n"
            "2. X shows you a PIN: run `/x verify pin:<the PIN>` here within 10 minutes.\n"
            f"<{url}>",
            view=view,
        )

    @app_commands.command(name="verify", description="Finish connecting with the PIN X showed you")
    @app_commands.describe(pin="The PIN from X")
    @shared_budget("x")
    @rate_limited("x verify")
    @host_only()
    async def verify(
        self, interaction: discord.Interaction, pin: app_commands.Range[str, 1, 20]
    ) -> None:
        await acknowledge(interaction)
        username = await services_of(interaction).linking.verify(
            interaction.guild_id or 0, interaction.user.id, interaction.user.display_name, pin
        )
        await answer(
            interaction, f"Linked @{username}. Your tweets will be posted from this account."
        )

    @app_commands.command(
        name="status", description="Which X account is linked, and does it still work"
    )
    @shared_budget("x")
    @rate_limited("x status")
    @host_only()
    async def status(self, interaction: discord.Interaction) -> None:
        await acknowledge(interaction)
        status = await services_of(interaction).linking.status(
            interaction.guild_id or 0, interaction.user.id
        )
        await answer(interaction, link_status_text(status.username, status.tokens_work))

    @app_commands.command(name="unlink", description="Remove your X account from OnAir")
    @shared_budget("x")
    @rate_limited("x unlink")
    @host_or_former_host()
    async def unlink(self, interaction: discord.Interaction) -> None:
        await acknowledge(interaction)
        revoked = await services_of(interaction).linking.unlink(
            interaction.guild_id or 0, interaction.user.id
        )
        message = (
            "Unlinked: X revoked OnAir's access to your account, and OnAir deleted your tokens."
            if revoked
            else "Unlinked: OnAir deleted your X tokens, but X couldn't be asked to revoke them. "
            "Revoke the app yourself in X's settings (Security and account access > Apps and "
            "sessions)."
        )
        await answer(interaction, message)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(XAccountCog(bot))
