"""The readiness board in the announce channel: posted a day and an hour before each episode,
edited as things change. The board's content comes from bot.readiness."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands, tasks

from bot.errors import new_reference
from bot.readiness import Board
from cogs.checks import services_of_bot
from cogs.render import board_embed, board_mention_text

log = logging.getLogger("onair.readiness")


def host_members(guild: discord.Guild | None, role_id: int) -> list[tuple[int, str]] | None:
    """(user id, display name) of the members holding the role; None if unknown."""
    if guild is None or not guild.chunked:
        return None
    role = guild.get_role(role_id)
    if role is None:
        return None
    return [(m.id, m.display_name) for m in role.members if not m.bot]


class ReadinessCog(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.services = services_of_bot(bot)
        self.board_loop.change_interval(seconds=self.services.settings.readiness_check_seconds)

    async def cog_load(self) -> None:
        self.board_loop.start()

    async def cog_unload(self) -> None:
        self.board_loop.cancel()

    @tasks.loop(seconds=60)
    async def board_loop(self) -> None:
        try:
            await self.refresh_boards()
        except Exception:
            log.exception("updating readiness boards failed (ref %s)", new_reference())

    @board_loop.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def refresh_boards(self) -> None:
        """Post the boards due now and edit the ones whose content changed."""
        boards = await self.services.readiness.due_boards(
            lambda guild_id, role_id: host_members(self.bot.get_guild(guild_id), role_id)
        )
        for board in boards:
            await self._deliver(board)

    async def _deliver(self, board: Board) -> None:
        channel = self.bot.get_channel(board.announce_channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("announce channel %s is gone or hidden", board.announce_channel_id)
            if not board.message_id:
                await self.services.readiness.board_not_posted(board)
            return
        digest = board.digest()
        try:
            if board.message_id:
                await channel.get_partial_message(board.message_id).edit(embed=board_embed(board))
                await self.services.readiness.save_board_message(
                    board.episode_id, None, None, digest
                )
                return
            message = await channel.send(
                content=board_mention_text(board),
                embed=board_embed(board),
                allowed_mentions=discord.AllowedMentions(
                    everyone=False,
                    roles=False,
                    replied_user=False,
                    users=[discord.Object(uid) for uid in board.mentions],
                ),
            )
        except discord.HTTPException:
            log.warning("could not post the readiness board of episode %s", board.episode_id)
            if not board.message_id:
                await self.services.readiness.board_not_posted(board)
            return
        await self.services.readiness.save_board_message(
            board.episode_id, message.channel.id, message.id, digest
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ReadinessCog(bot))
