"""How every slash command answers: at once when the bot is idle, acknowledged first when busy.

Discord gives an interaction 3 seconds for its first response. When many commands arrive
together (a whole team opening their tweets before a show), or while a check keeps the event
loop busy, or the database is slow, answering each in turn can take longer than that. A deferred
acknowledgement ("OnAir is thinking…") is one small request that makes the deadline safe; the
answer replaces it when ready. An idle bot answers directly, without that flicker. README
"Commands under load" tells operators; bench/load.py measures it.

Every answer is ephemeral: only the member who ran the command sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

log = logging.getLogger("onair.commands")

BUSY_AT = 4
"""Commands already in flight in this process from which a new one is acknowledged first."""
ANSWER_WITHIN = 1.5
"""Seconds: a command not answered by then is acknowledged (Discord allows 3)."""

ACKS_FIRST_AT_MOST = 0.5
"""Seconds a busy command's work waits at most for the acknowledgements of those after it."""

_ARRIVED = "onair.arrived"  # Interaction.extras key: counted by Acknowledger.arrived
_LOCK = "onair.answer_lock"  # Interaction.extras key: one response at a time per interaction
# Command.extras key. "Showing a modal must be the first response to an interaction. You
# cannot defer() or deferUpdate() then show a modal later" (discordjs/guide,
# interactions/modals.md); a form's submission may be deferred either way (type 5, or type 6
# when it came from a button: discord/discord-api-docs#5486).
_OPENS_MODAL = "onair.opens_modal"

CommandT = TypeVar("CommandT", bound=app_commands.Command[Any, Any, Any])


def opens_modal(command: CommandT) -> CommandT:
    """Mark a command whose first response is a modal: it is never acknowledged early."""
    command.extras[_OPENS_MODAL] = True
    return command


def _answer_lock(interaction: discord.Interaction) -> asyncio.Lock:
    lock = interaction.extras.get(_LOCK)
    if not isinstance(lock, asyncio.Lock):
        lock = interaction.extras[_LOCK] = asyncio.Lock()
    return lock


async def acknowledge(interaction: discord.Interaction) -> None:
    """Defer (ephemeral, "thinking") unless the interaction already has its first response."""
    await _defer_once(interaction, ephemeral=True, thinking=True)


async def _defer_once(interaction: discord.Interaction, **options: bool) -> None:
    async with _answer_lock(interaction):
        if not interaction.response.is_done():
            await interaction.response.defer(**options)


async def answer(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
) -> None:
    """The command's answer: its first response, or the message that replaces the
    acknowledgement (Discord resolves a deferred "thinking" message with the first follow-up)."""
    extra = _message_parts(content, embed, view)
    async with _answer_lock(interaction):
        if interaction.response.is_done():
            await interaction.followup.send(ephemeral=True, **extra)
        else:
            await interaction.response.send_message(ephemeral=True, **extra)


async def acknowledge_update(interaction: discord.Interaction) -> None:
    """Defer a button press or a form opened from one: the message stays as it is until
    ``update`` edits it."""
    await _defer_once(interaction)


async def update(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
) -> None:
    """A button's answer: the message it is under, edited (after a deferral, through the
    interaction's webhook)."""
    extra = _message_parts(content, embed, view)
    async with _answer_lock(interaction):
        if interaction.response.is_done():
            await interaction.edit_original_response(**extra)
        else:
            await interaction.response.edit_message(**extra)


Acknowledging = Callable[[discord.Interaction], Awaitable[None]]
_late: set[asyncio.Task[None]] = set()


def acknowledge_if_slow(
    interaction: discord.Interaction, acknowledging: Acknowledging = acknowledge
) -> asyncio.TimerHandle:
    """Acknowledge `interaction` with `acknowledging` unless it has its first response
    ANSWER_WITHIN seconds from now (a slow database, a busy loop)."""

    def fire() -> None:
        if not interaction.response.is_done():
            task = asyncio.create_task(_quietly(acknowledging(interaction)))
            _late.add(task)
            task.add_done_callback(_late.discard)

    return asyncio.get_running_loop().call_later(ANSWER_WITHIN, fire)


async def _quietly(acknowledging: Awaitable[None]) -> None:
    try:
        await acknowledging
    except discord.HTTPException as exc:  # expired, or answered meanwhile by another path
        log.warning("could not acknowledge a slow interaction (HTTP %s)", exc.status)


def _message_parts(
    content: str | None, embed: discord.Embed | None, view: discord.ui.View | None
) -> dict[str, Any]:
    """Only the parts given: a part left out stays as it is (discord.py's MISSING)."""
    parts = {"content": content, "embed": embed, "view": view}
    return {name: part for name, part in parts.items() if part is not None}


class Acknowledger:
    """Counts the slash commands in flight and acknowledges a command early when the bot is
    busy, or when it has not answered within ANSWER_WITHIN seconds."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._arrived = 0  # received, not yet acknowledged or started on an idle bot
        self._all_acknowledged = asyncio.Event()
        self._all_acknowledged.set()

    @property
    def waiting(self) -> int:
        """Commands received and not yet acknowledged (or started, on an idle bot)."""
        return self._arrived

    def arrived(self, interaction: discord.Interaction) -> None:
        """An interaction was received (its task is queued): busy commands let it be
        acknowledged before they go on with their work."""
        if interaction.type is discord.InteractionType.application_command:
            interaction.extras[_ARRIVED] = True
            self._arrived += 1
            self._all_acknowledged.clear()

    def _settled(self, interaction: discord.Interaction) -> None:
        if interaction.extras.pop(_ARRIVED, False):
            self._arrived -= 1
            if self._arrived <= 0:
                self._arrived = 0
                self._all_acknowledged.set()

    @contextlib.asynccontextmanager
    async def handling(self, interaction: discord.Interaction) -> AsyncIterator[None]:
        command = interaction.command if _is_slash_command(interaction) else None
        if command is None or command.extras.get(_OPENS_MODAL):
            self._settled(interaction)
            yield
            return
        busy = self.in_flight >= BUSY_AT
        self.in_flight += 1
        timer = acknowledge_if_slow(interaction)
        try:
            try:
                if busy:
                    await acknowledge(interaction)
            finally:
                self._settled(interaction)
            if busy:  # acknowledgements first: the commands received after this one
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_acknowledged.wait(), ACKS_FIRST_AT_MOST)
            yield
        finally:
            self.in_flight -= 1
            timer.cancel()


def _is_slash_command(interaction: discord.Interaction) -> bool:
    return interaction.type is discord.InteractionType.application_command and isinstance(
        interaction.command, app_commands.Command
    )
