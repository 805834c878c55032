"""Who may run what, decided once and applied as decorators on every call.

Admin: Manage Server, or the podcast's admin role. Host: the podcast's host role. These are
runtime checks: `default_permissions` is deliberately not used on admin commands, because it
would hide them from members who hold only the podcast's admin role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.errors import (
    GuildOnly,
    InvalidInput,
    NotAdmin,
    NotAllowed,
    NotHost,
    OnAirError,
    PodcastNotSetUp,
)
from bot.user_text import has_control_characters
from cogs.answers import Acknowledger

if TYPE_CHECKING:
    from bot.app import Services

T = TypeVar("T")


class Refused(app_commands.CheckFailure):
    """A check said no; the message is the one plain sentence the member sees."""

    def __init__(self, error: OnAirError) -> None:
        super().__init__(error.user_message)
        self.user_message = error.user_message


def services_of(interaction: discord.Interaction) -> Services:
    return services_of_bot(interaction.client)


def services_of_bot(client: discord.Client) -> Services:
    """The services of the OnAir bot that runs this cog or interaction."""
    from bot.app import OnAirBot  # bot.app wires the cogs: imported when first needed

    if not isinstance(client, OnAirBot):
        raise TypeError("OnAir cogs run only in OnAirBot")
    return client.services


def _member(interaction: discord.Interaction) -> discord.Member:
    if interaction.guild is None or not isinstance(interaction.user, discord.Member):
        raise Refused(GuildOnly())
    return interaction.user


async def is_admin(interaction: discord.Interaction) -> bool:
    member = _member(interaction)
    if interaction.permissions.manage_guild or member.guild_permissions.manage_guild:
        return True
    podcast = await services_of(interaction).podcasts.find(member.guild.id)
    if podcast is not None and podcast.admin_role_id and member.get_role(podcast.admin_role_id):
        return True
    raise Refused(NotAdmin())


async def is_host(interaction: discord.Interaction) -> bool:
    member = _member(interaction)
    podcast = await services_of(interaction).podcasts.find(member.guild.id)
    if podcast is None:
        raise Refused(PodcastNotSetUp())
    if member.get_role(podcast.host_role_id) is None:
        raise Refused(NotHost(role_id=podcast.host_role_id))
    return True


async def is_host_or_former_host(interaction: discord.Interaction) -> bool:
    """The host role, or a host record: a member who lost the role or left and came back can
    still stop their own tweet and unlink X."""
    try:
        return await is_host(interaction)
    except Refused:
        services = services_of(interaction)
        if await services.roster.has_host_record(interaction.guild_id or 0, interaction.user.id):
            return True
        raise


async def is_admin_or_host(interaction: discord.Interaction) -> bool:
    try:
        return await is_admin(interaction)
    except Refused:
        pass
    try:
        return await is_host(interaction)
    except Refused:
        raise Refused(NotAllowed(reason="Only podcast admins and hosts can do that.")) from None


async def may_see_episodes(interaction: discord.Interaction) -> bool:
    """Admins and hosts may see the podcast's episodes (the autocomplete lists)."""
    try:
        return await is_admin_or_host(interaction)
    except Refused:
        return False


def admin_only() -> Callable[[T], T]:
    return app_commands.check(is_admin)


def host_only() -> Callable[[T], T]:
    return app_commands.check(is_host)


def admin_or_host() -> Callable[[T], T]:
    return app_commands.check(is_admin_or_host)


def host_or_former_host() -> Callable[[T], T]:
    return app_commands.check(is_host_or_former_host)


def rate_limited(command: str) -> Callable[[T], T]:
    """Per server, member and command, as configured in bot.app.COMMAND_LIMITS."""

    async def predicate(interaction: discord.Interaction) -> bool:
        limiter = services_of(interaction).limits[command]
        try:
            await limiter.hit((interaction.guild_id, interaction.user.id, command))
        except OnAirError as exc:
            raise Refused(exc) from None
        return True

    return app_commands.check(predicate)


def shared_budget(name: str) -> Callable[[T], T]:
    """The server's share of an API budget all servers use (bot.app's budgets)."""

    async def predicate(interaction: discord.Interaction) -> bool:
        try:
            await services_of(interaction).budgets[name].take(interaction.guild_id or 0)
        except OnAirError as exc:
            raise Refused(exc) from None
        return True

    return app_commands.check(predicate)


def _typed_strings(options: list[Any]) -> Iterator[str]:
    """Every string value in a slash command's options, subcommands included."""
    for option in options:
        value = option.get("value")
        if isinstance(value, str):
            yield value
        yield from _typed_strings(option.get("options") or [])


class InputCheckedTree(app_commands.CommandTree):
    """The command tree, with one input rule for every option of every command: a value with a
    control character (NUL, which PostgreSQL refuses, and the like) is refused before any
    command runs. Invisible characters are stripped later, by the services that store text.
    A busy bot acknowledges a command before its checks run (cogs.answers)."""

    def __init__(self, client: discord.Client, **options: Any) -> None:
        super().__init__(client, **options)
        self.acknowledger = Acknowledger()

    def _from_interaction(self, interaction: discord.Interaction) -> None:
        """discord.py's entry from the gateway, where each interaction's task is queued."""
        self.acknowledger.arrived(interaction)
        super()._from_interaction(interaction)

    async def _call(self, interaction: discord.Interaction) -> None:
        """discord.py answers only the errors raised inside a command; one raised by a check
        (the database is down while a check reads the podcast) would leave Discord saying "the
        application did not respond". Those get the same error handler."""
        try:
            async with self.acknowledger.handling(interaction):
                await super()._call(interaction)
        except Exception as error:
            if interaction.type is discord.InteractionType.autocomplete:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
                return
            await self.on_error(interaction, error)  # type: ignore[arg-type]

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        data: Any = interaction.data or {}
        if not any(has_control_characters(v) for v in _typed_strings(data.get("options") or [])):
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
            return False
        raise Refused(InvalidInput(problem=CONTROL_CHARACTERS))


CONTROL_CHARACTERS = "That has invisible control characters in it. Type it again without them."
