"""Shared Discord pieces: episode autocomplete, and views/modals that report errors the same way."""

from __future__ import annotations

import contextlib
from typing import Any

import discord
from discord import app_commands

from bot.errors import NotYours
from cogs.answers import acknowledge, acknowledge_if_slow, acknowledge_update, answer
from cogs.checks import may_see_episodes, services_of
from cogs.errors import answer_error


async def episode_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """The server's episodes, upcoming soonest first, then recent (Discord shows at most 25).
    Only for the podcast's admins and hosts: discord.py runs no command checks for autocomplete."""
    if interaction.guild_id is None or not await may_see_episodes(interaction):
        return []
    choices = await services_of(interaction).podcasts.episode_choices(interaction.guild_id, current)
    return [app_commands.Choice(name=c.label, value=str(c.id)) for c in choices[:25]]


class OwnedView(discord.ui.View):
    """Buttons only their owner may press; they switch off cleanly when they expire."""

    def __init__(
        self, owner: discord.abc.User, origin: discord.Interaction, *, timeout: float = 600
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner = owner
        self.origin = origin

    def modal_items(self) -> tuple[discord.ui.Item[Any], ...]:
        """The items whose press opens a form: never deferred (Discord refuses the form)."""
        return ()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner.id:
            await answer(interaction, NotYours(owner=self.owner.display_name).user_message)
            return False
        data: Any = interaction.data or {}
        pressed = data.get("custom_id")
        if all(getattr(item, "custom_id", None) != pressed for item in self.modal_items()):
            acknowledge_if_slow(interaction, acknowledge_update)
        return True

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        # The message may be gone or the token expired: then there is nothing to switch off.
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(view=self)

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[Any],
    ) -> None:
        await answer_error(interaction, error)


class OnAirModal(discord.ui.Modal):
    """A form that reports errors like every command, is acknowledged when its save is slow,
    and stops listening after 10 minutes (discord.py's modals otherwise wait forever).
    `updates_message`: opened from a button, its answer edits that button's message."""

    def __init__(self, *, timeout: float = 600, updates_message: bool = False) -> None:
        super().__init__(timeout=timeout)
        self.updates_message = updates_message

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """A slow save is acknowledged in time, as a slow command is (cogs.answers)."""
        acknowledge_if_slow(
            interaction, acknowledge_update if self.updates_message else acknowledge
        )
        return True

    # discord.py's Modal.on_error itself drops BaseView's `item` argument; mypy checks the
    # override against BaseView, so only this exact code is silenced.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await answer_error(interaction, error)
