"""The floor for command acknowledgements: a discord.py bot with one slash command, /ping,
answered at once. Same settings names as OnAir (DISCORD_TOKEN, DISCORD_GUILD_ID,
DISCORD_API_BASE_URL, DISCORD_GATEWAY_URL); run by `bench.load` as `python -m bench._trivial_bot`.
"""

from __future__ import annotations

import os

import discord
import yarl
from discord import app_commands


class TrivialBot(discord.Client):
    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.guild_object = discord.Object(id=guild_id)

        @self.tree.command(name="ping", description="Answers pong", guild=self.guild_object)
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild_object)


def main() -> None:
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE_URL"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    TrivialBot(int(os.environ["DISCORD_GUILD_ID"])).run(
        os.environ["DISCORD_TOKEN"], log_handler=None
    )


if __name__ == "__main__":
    main()
