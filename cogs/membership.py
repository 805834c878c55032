"""Hosts who lose the role or leave: the gateway's member events hold or release their tweets."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import discord
from discord.ext import commands

from bot.errors import new_reference
from cogs.checks import services_of_bot

log = logging.getLogger("onair.hosts")


class MembershipCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.services = services_of_bot(bot)
        self.roster = self.services.roster

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if before.roles == after.roles or after.bot:
            return
        await self._guarded(
            self.roster.member_roles_changed(
                after.guild.id, after.id, [role.id for role in after.roles]
            )
        )

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        await self._guarded(self.roster.member_left(payload.guild_id, payload.user.id))

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """(Re)connected: catch up on role changes made while the bot was away."""
        if guild.chunked:
            await self._guarded(self._reconcile(guild))

    async def _reconcile(self, guild: discord.Guild) -> None:
        podcast = await self.services.podcasts.find(guild.id)
        role = guild.get_role(podcast.host_role_id) if podcast is not None else None
        if role is not None:
            await self.roster.reconcile(guild.id, [m.id for m in role.members if not m.bot])

    async def _guarded(self, change: Awaitable[None]) -> None:
        try:
            await change
        except Exception:
            log.exception("could not record a host's role change (ref %s)", new_reference())


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(MembershipCog(bot))
