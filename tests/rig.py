"""The offline world OnAir runs in during tests: four emulators, a podcast server, and the bot.

A scenario takes a few lines:

    async with world(tmp_path, database_url) as w:      # emulators + a Discord server
        async with w.bot_in_process() as bot:            # or: w.bot_subprocess()
            run = await w.command(w.ana, "podcast show")
            assert "Live check" in (await run.wait_done()).text()

`w.env()` is the complete settings environment: the bot finds every service only through the
base-URL settings of CONTRACT.md, exactly as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from tests.emulators.discord_api import (
    Channel,
    DiscordEmulator,
    Guild,
    InteractionRun,
    Member,
    Permission,
    Role,
    discord_py_pointed_at,
)
from tests.emulators.openai_api import OpenAIEmulator
from tests.emulators.x_api import XEmulator
from tests.emulators.youtube_site import YouTubeEmulator

REPO = Path(__file__).resolve().parents[1]
CHANNEL_ID = "UC" + "OnAirTestChannel00000"[:22].ljust(22, "0")


@dataclass
class World:
    discord: DiscordEmulator
    youtube: YouTubeEmulator
    x: XEmulator
    openai: OpenAIEmulator
    data_dir: Path
    database_url: str | None
    guild: Guild
    announce: Channel
    host_role: Role
    admin_role: Role
    ana: Member  # admin (Manage Server through the Staff role)
    alice: Member  # host
    bob: Member  # host
    mallory: Member  # no roles
    encryption_key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    def env(self, **overrides: str) -> dict[str, str]:
        """Every setting the bot needs, pointing at the emulators."""
        values = {
            "DISCORD_TOKEN": self.discord.token,
            "DISCORD_GUILD_ID": str(self.guild.id),
            "DISCORD_API_BASE_URL": self.discord.api_base_url,
            "DISCORD_GATEWAY_URL": self.discord.gateway_url,
            "DATA_DIR": str(self.data_dir),
            "TOKEN_ENCRYPTION_KEY": self.encryption_key,
            "X_CONSUMER_KEY": self.x.consumer_key,
            "X_CONSUMER_SECRET": self.x.consumer_secret,
            "X_API_BASE_URL": self.x.base_url,
            "OPENAI_API_KEY": self.openai.api_key,
            "OPENAI_BASE_URL": self.openai.base_url + "/v1",
            "YOUTUBE_BASE_URL": self.youtube.base_url,
            "YOUTUBE_API_BASE_URL": self.youtube.base_url + "/youtube/v3",
            "LIVE_CHECK_INTERVAL_SECONDS": "1",
            "FAST_CHECK_INTERVAL_SECONDS": "1",
            "POST_RETRY_BASE_SECONDS": "1",
            "HTTP_TIMEOUT_SECONDS": "3",
            "LOG_LEVEL": "INFO",
        }
        if self.database_url:
            values["DATABASE_URL"] = self.database_url
        values.update(overrides)
        return values

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line or a Discord message."""
        return [
            self.discord.token,
            self.x.consumer_secret,
            self.openai.api_key,
            self.encryption_key,
            *self.x._access_tokens,  # every access token the emulator issued ...
            *(t.secret for t in self.x._access_tokens.values()),  # ... and its secret
        ]

    def commands_synced(self) -> bool:
        """To the rig's server (DISCORD_GUILD_ID), or globally when a test unsets it."""
        return bool(self.discord.synced_commands(self.guild) or self.discord.synced_commands())

    async def command(self, member: Member, name: str, /, **options: object) -> InteractionRun:
        return await self.discord.run_command(self.guild, member, name, **options)

    async def answer(self, member: Member, name: str, /, **options: object) -> InteractionRun:
        """Run a command and wait until its visible answer is complete."""
        run = await self.command(member, name, **options)
        return await run.wait_done(timeout=15)

    @contextlib.asynccontextmanager
    async def bot_in_process(
        self, *, clock: Callable[[], dt.datetime] | None = None, **overrides: str
    ) -> AsyncIterator[object]:
        """The real bot wiring (bot.app) in this process, sharing the event loop; `clock`
        (default: real time) drives the time-scheduled services (bot.app.build_services)."""
        from bot.app import OnAirBot, build_services, point_discord_at
        from bot.config import Settings

        settings = Settings(
            _env_file=None, **{k.lower(): v for k, v in self.env(**overrides).items()}
        )  # type: ignore[call-arg]
        with discord_py_pointed_at(self.discord):
            point_discord_at(settings)
            async with contextlib.AsyncExitStack() as stack:
                services = await build_services(
                    settings, stack, **({"clock": clock} if clock else {})
                )
                bot = OnAirBot(services)
                await bot.login(settings.secret("discord_token") or "")
                task = asyncio.create_task(bot.connect(reconnect=False))
                try:
                    await self.discord.wait_for_ready(timeout=15)
                    await self.discord.wait_until(
                        lambda: self.commands_synced(),
                        timeout=15,
                        what="the bot synced its commands",
                    )
                    yield bot
                finally:
                    await bot.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, 10)

    async def start_bot_process(
        self, output: object, **overrides: str
    ) -> asyncio.subprocess.Process:
        """Start `python -m bot` with only these settings (none inherited from the caller)."""
        env = {k: v for k, v in os.environ.items() if not _is_setting(k)}
        env.update(self.env(**overrides), PYTHONPATH=str(REPO))
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=str(self.data_dir.parent),
            env=env,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )

    @contextlib.asynccontextmanager
    async def bot_subprocess(
        self, log_path: Path, **overrides: str
    ) -> AsyncIterator[asyncio.subprocess.Process]:
        """`python -m bot` exactly as an operator runs it, with its output in `log_path`."""
        identified_before = self.discord.identify_count
        with log_path.open("wb") as log:
            process = await self.start_bot_process(log, **overrides)
            try:
                await self.discord.wait_until(
                    lambda: (
                        (
                            self.commands_synced()
                            and self.discord.identify_count > identified_before
                            and self.discord.open_connections > 0
                        )
                        or process.returncode is not None
                    ),
                    timeout=90,
                    what="the bot process synced its commands and connected",
                )
                if process.returncode is not None:
                    raise AssertionError(
                        f"bot exited with {process.returncode}:\n{log_path.read_text()}"
                    )
                yield process
            finally:
                await stop_process(process)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (the bot's graceful stop), then SIGKILL after 30 s."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def _is_setting(name: str) -> bool:
    from bot.config import Settings

    return name.lower() in Settings.model_fields


@contextlib.asynccontextmanager
async def world(tmp_path: Path, database_url: str | None = None) -> AsyncIterator[World]:
    """Start the four emulators and a Discord server with an admin, two hosts and a stranger."""
    async with contextlib.AsyncExitStack() as stack:
        discord_emu = await stack.enter_async_context(DiscordEmulator())
        youtube = await stack.enter_async_context(YouTubeEmulator())
        x = await stack.enter_async_context(XEmulator())
        openai = await stack.enter_async_context(OpenAIEmulator())
        guild = discord_emu.create_guild("The Pod", owner_name="owner")
        staff = guild.add_role("Staff", permissions=Permission.MANAGE_GUILD)
        admin_role = guild.add_role("Pod Admin")
        host_role = guild.add_role("Host")
        announce = guild.add_text_channel("announcements")
        youtube.add_channel(CHANNEL_ID, handle="thepod", title="The Pod")
        data_dir = tmp_path / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        yield World(
            discord=discord_emu,
            youtube=youtube,
            x=x,
            openai=openai,
            data_dir=data_dir,
            database_url=database_url,
            guild=guild,
            announce=announce,
            host_role=host_role,
            admin_role=admin_role,
            ana=guild.add_member("ana", roles=[staff]),
            alice=guild.add_member("alice", roles=[host_role]),
            bob=guild.add_member("bob", roles=[host_role]),
            mallory=guild.add_member("mallory"),
        )
