"""Removed servers: their X tokens and data are cleaned up after a grace period (hourly)."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands, tasks

from bot.errors import new_reference
from cogs.checks import services_of_bot

log = logging.getLogger("onair.retention")


class RetentionCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.services = services_of_bot(bot)
        self.retention = self.services.retention

    async def cog_load(self) -> None:
        if self.services.settings.holds_shard_zero:
            self.cleanup_loop.start()  # once, not in every shard process (README "Sharding")

    async def cog_unload(self) -> None:
        self.cleanup_loop.cancel()

    @tasks.loop(hours=1)
    async def cleanup_loop(self) -> None:
        try:
            await self.retention.run()
        except Exception:
            log.exception("cleaning up removed servers failed (ref %s)", new_reference())

    @cleanup_loop.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Back in a server it was removed from: keep everything (setup switches it on)."""
        try:
            await self.retention.returned(guild.id)
        except Exception:
            log.exception(
                "could not stop the clean-up of guild %s (ref %s)", guild.id, new_reference()
            )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(RetentionCog(bot))
