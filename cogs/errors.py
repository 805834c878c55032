"""The one error handler for every slash command, button and modal.

Order: expected failures (a check said no, bad input, an OnAirError from a service) get their
own plain sentence; anything else is unexpected: the member sees a reference code and the log
gets the full traceback under the same code. Exception text never reaches a member.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import DatabaseUnavailable, OnAirError, new_reference, unexpected_message
from cogs.answers import answer
from cogs.checks import Refused
from db.engine import is_outage

log = logging.getLogger("onair.errors")


def user_message_for(error: BaseException, interaction: discord.Interaction) -> str:
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, Refused | OnAirError):
        return original.user_message
    if isinstance(original, app_commands.TransformerError):
        return "That value isn't valid for this option. Check it and try again."
    if isinstance(original, app_commands.NoPrivateMessage):
        return "OnAir commands work inside a server, not in direct messages."
    if isinstance(original, app_commands.CheckFailure):
        return "You can't use this command."
    if is_outage(original):
        log.warning(
            "database unreachable (%s) during %s in guild %s",
            type(original).__name__,
            interaction.command.qualified_name if interaction.command else "a component",
            interaction.guild_id,
        )
        return DatabaseUnavailable().user_message
    ref = new_reference()
    command = interaction.command.qualified_name if interaction.command else "component"
    log.error(
        "unexpected error (ref %s) in %s for user %s in guild %s",
        ref,
        command,
        interaction.user.id,
        interaction.guild_id,
        exc_info=original,
    )
    return unexpected_message(ref)


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    message = user_message_for(error, interaction)
    try:
        await answer(interaction, message)
    except discord.HTTPException:
        log.warning("could not deliver an error message (interaction expired)")


class ErrorHandler(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self._previous = bot.tree.on_error
        bot.tree.error(answer_error)  # discord.py's documented way to set the tree's handler

    async def cog_unload(self) -> None:
        self.bot.tree.error(self._previous)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ErrorHandler(bot))
