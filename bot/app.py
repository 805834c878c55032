"""Wiring: the database, one client per external service, the services, and the Discord bot.

Everything is created here at start-up and closed at shutdown; nothing is created at import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import discord
import yarl
from aiolimiter import AsyncLimiter
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.crypto import TokenCipher
from bot.drafts import Drafter
from bot.linking import XLinkService
from bot.live_check import LiveChecker
from bot.podcasts import PodcastService
from bot.posting import RetryPolicy, TweetPoster
from bot.ratelimit import KeyedRateLimiter
from bot.tweets import TweetService
from bot.x import XService
from bot.youtube import YouTubeClient
from db import migrate
from db.embedded import start_embedded
from db.engine import create_engine, create_sessionmaker

log = logging.getLogger("onair")

EXTENSIONS = (
    "cogs.errors",
    "cogs.podcast",
    "cogs.episode",
    "cogs.tweets",
    "cogs.tweet",
    "cogs.x_account",
    "cogs.live",
)

# Per member and command, as CONTRACT.md promises.
COMMAND_LIMITS = {
    "tweet generate": 5,
    "tweets create-all": 2,
    "podcast youtube-test": 10,
    "tweet post-now": 2,
}


@dataclass
class Services:
    """Everything the cogs call. Services know nothing of Discord."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    youtube: YouTubeClient
    x: XService
    drafter: Drafter
    podcasts: PodcastService
    tweets: TweetService
    linking: XLinkService
    checker: LiveChecker
    limits: dict[str, KeyedRateLimiter]


async def open_database(settings: Settings, stack: AsyncExitStack) -> AsyncEngine:
    """The configured server, or the embedded one under DATA_DIR; migrated to head."""
    url = settings.database_url
    if url is None:
        embedded = await start_embedded(settings.data_dir)
        stack.callback(embedded.stop)
        url = embedded.url
    engine = create_engine(url)
    stack.push_async_callback(engine.dispose)
    await migrate.upgrade(engine)
    return engine


async def build_services(settings: Settings, stack: AsyncExitStack) -> Services:
    engine = await open_database(settings, stack)
    sessions = create_sessionmaker(engine)
    cipher = TokenCipher(settings.encryption_keys())
    youtube = YouTubeClient(
        settings.youtube_base_url,
        settings.youtube_api_base_url,
        settings.secret("youtube_api_key"),
        timeout=settings.http_timeout_seconds,
        max_concurrency=settings.live_check_concurrency,
    )
    stack.push_async_callback(youtube.aclose)
    x = XService(
        settings.x_api_base_url,
        settings.secret("x_consumer_key"),
        settings.secret("x_consumer_secret"),
        timeout=settings.http_timeout_seconds,
        limiter=AsyncLimiter(60, 60),  # one budget for all X traffic, across all servers
    )
    stack.push_async_callback(x.aclose)
    drafter = Drafter(
        api_key=settings.secret("openai_api_key"),
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        timeout=settings.http_timeout_seconds * 2,
    )
    stack.push_async_callback(drafter.aclose)
    # One shared budget for each paid or rate-limited API, across all servers.
    ai_limiter = AsyncLimiter(60, 60)
    poster = TweetPoster(
        sessions,
        x,
        cipher,
        dry_run=settings.dry_run,
        policy=RetryPolicy(
            base_delay=dt.timedelta(seconds=settings.post_retry_base_seconds),
            min_delay=dt.timedelta(seconds=settings.http_timeout_seconds),
        ),
    )
    stack.push_async_callback(poster.recorder.aclose)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        youtube=youtube,
        x=x,
        drafter=drafter,
        podcasts=PodcastService(sessions, youtube),
        tweets=TweetService(sessions, drafter, poster, ai_limiter=ai_limiter),
        linking=XLinkService(sessions, x, cipher),
        checker=LiveChecker(
            sessions,
            youtube,
            poster,
            interval=dt.timedelta(seconds=settings.live_check_interval_seconds),
            fast_interval=dt.timedelta(seconds=settings.fast_check_interval_seconds),
            stale_posting_after=dt.timedelta(seconds=settings.posting_stuck_after_seconds),
        ),
        limits={name: KeyedRateLimiter(rate, 60) for name, rate in COMMAND_LIMITS.items()},
    )


def point_discord_at(settings: Settings) -> None:
    """All Discord traffic goes to the configured REST base and gateway (proxies, tests)."""
    discord.http.Route.BASE = settings.discord_api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class CommandSyncRefused(Exception):
    """Discord refused to register the slash commands (the bot isn't in DISCORD_GUILD_ID's
    server, or was invited without the applications.commands scope)."""

    def __init__(self, guild_id: int | None) -> None:
        super().__init__(guild_id)
        self.guild_id = guild_id


class OnAirBot(commands.Bot):
    def __init__(self, services: Services) -> None:
        # OnAir never joins voice: don't warn at every start that voice libraries are missing.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()
        intents.members = True  # /tweets create-all lists the members holding the host role
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.services = services

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands_if_changed()

    async def sync_commands_if_changed(self) -> None:
        """Sync to DISCORD_GUILD_ID (instant) or globally, only when the commands changed."""
        settings = self.services.settings
        guild = discord.Object(settings.discord_guild_id) if settings.discord_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        target = f"guild-{guild.id}" if guild else "global"
        marker = Path(settings.data_dir) / f"commands-{self.application_id}-{target}.sha256"
        if marker.exists() and marker.read_text().strip() == digest:
            log.info("slash commands unchanged; not syncing (%s)", target)
            return
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.Forbidden:
            raise CommandSyncRefused(guild.id if guild else None) from None
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest)
        log.info("synced %d slash commands (%s)", len(synced), target)
