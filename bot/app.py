"""Wiring: the database, one client per external service, the services, and the Discord bot.

Everything is created here at start-up and closed at shutdown; nothing is created at import.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import yarl
from aiolimiter import AsyncLimiter
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.api_access import ApiAccess
from bot.clock import utcnow
from bot.config import Settings
from bot.crypto import TokenCipher
from bot.drafts import Drafter
from bot.final_videos import DatabaseFinalVideos
from bot.hosts import HostRoster
from bot.linking import XLinkService
from bot.live_check import LiveChecker
from bot.logs import log_context
from bot.memory import release_free_heap
from bot.metrics import Metrics
from bot.podcasts import PodcastService
from bot.posting import RetryPolicy, TweetPoster
from bot.quota import QuotaWatch
from bot.ratelimit import KeyedRateLimiter, SharedBudget
from bot.readiness import ReadinessService
from bot.retention import RemovedServerCleanup
from bot.show_events import ShowEvents
from bot.tweets import TweetService
from bot.x import XService
from bot.youtube import YouTubeClient
from cogs.checks import InputCheckedTree
from db import migrate, queries
from db.embedded import start_embedded
from db.engine import create_fitted_engine, create_sessionmaker

if TYPE_CHECKING:
    from bot.web.server import HttpServer

log = logging.getLogger("onair")

EXTENSIONS = (
    "cogs.errors",
    "cogs.podcast",
    "cogs.episode",
    "cogs.tweets",
    "cogs.tweet",
    "cogs.x_account",
    "cogs.membership",
    "cogs.retention",
    "cogs.readiness",
    "cogs.live",
)

# Per member and command, as CONTRACT.md promises.
COMMAND_LIMITS = {
    "tweet generate": 5,
    "tweets create-all": 2,
    "podcast youtube-test": 10,
    "tweet post-now": 2,
    # Beyond the contract: every other command that calls X or YouTube.
    "x link": 3,
    "x verify": 5,
    "x status": 5,
    "x unlink": 3,
    "podcast setup": 10,
}
# Per minute, for commands (posting at go-live keeps to X's own limits, learned from X's
# answers: bot/ratelimit.py XPostingLimits): (all servers together, one server's share).
X_COMMAND_BUDGET = (30, 10)
AI_BUDGET = (60, 20)

# Per JSON API token (README "JSON API").
API_REQUESTS_PER_MINUTE = 60


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
    poster: TweetPoster
    roster: HostRoster
    retention: RemovedServerCleanup
    metrics: Metrics
    api: ApiAccess
    readiness: ReadinessService
    budgets: dict[str, SharedBudget]
    show: ShowEvents


async def open_database(settings: Settings, stack: AsyncExitStack) -> AsyncEngine:
    """The configured server, or the embedded one under DATA_DIR; migrated to head."""
    url = settings.database_url
    if url is None:
        embedded = await start_embedded(settings.data_dir)
        stack.callback(embedded.stop)
        url = embedded.url
    engine = await create_fitted_engine(url, pool_size=settings.database_pool_size)
    stack.push_async_callback(engine.dispose)
    await migrate.upgrade(engine)
    return engine


async def build_services(
    settings: Settings, stack: AsyncExitStack, *, clock: Callable[[], dt.datetime] = utcnow
) -> Services:
    """Every service, wired. `clock` drives the time-scheduled ones (holds, clean-up, the
    readiness board), so tests can move time instead of waiting."""
    engine = await open_database(settings, stack)
    sessions = create_sessionmaker(engine)
    cipher = TokenCipher(settings.encryption_keys())
    metrics = Metrics()
    youtube = YouTubeClient(
        settings.youtube_base_url,
        settings.youtube_api_base_url,
        settings.secret("youtube_api_key"),
        timeout=settings.http_timeout_seconds,
        max_concurrency=settings.live_check_concurrency,
        on_response=metrics.youtube_response,
        final_store=DatabaseFinalVideos(sessions),
    )
    stack.push_async_callback(youtube.aclose)
    metrics.count_units_of(youtube)
    quota_watch = QuotaWatch(settings.youtube_daily_quota)
    metrics.watch_quota(quota_watch)
    x = XService(
        settings.x_api_base_url,
        settings.secret("x_consumer_key"),
        settings.secret("x_consumer_secret"),
        timeout=settings.http_timeout_seconds,
        trace_configs=[metrics.x_trace_config()],
        on_oauth_status=metrics.x_status,
    )
    stack.push_async_callback(x.aclose)
    drafter = Drafter(
        api_key=settings.secret("openai_api_key"),
        base_url=settings.openai_base_url,
        model=settings.openai_model,
        timeout=settings.http_timeout_seconds * 2,
    )
    stack.push_async_callback(drafter.aclose)
    # Posting at go-live keeps to X's limits per account (no command can use them up);
    # commands get a budget of their own, shared fairly between servers (budgets below refuse
    # instead of queueing).
    x_command_limiter = AsyncLimiter(X_COMMAND_BUDGET[0], 60)
    ai_limiter = AsyncLimiter(AI_BUDGET[0], 60)
    poster = TweetPoster(
        sessions,
        x,
        cipher,
        dry_run=settings.dry_run,
        concurrency=settings.post_concurrency,
        claim_refresh=dt.timedelta(seconds=settings.posting_stuck_after_seconds / 4),
        policy=RetryPolicy(
            base_delay=dt.timedelta(seconds=settings.post_retry_base_seconds),
            min_delay=dt.timedelta(seconds=settings.http_timeout_seconds),
        ),
        metrics=metrics,
        stagger=dt.timedelta(seconds=settings.post_stagger_seconds),
    )
    stack.push_async_callback(poster.aclose)  # then its recorder's last write
    checker = LiveChecker(
        sessions,
        youtube,
        poster,
        interval=dt.timedelta(seconds=settings.live_check_interval_seconds),
        fast_interval=dt.timedelta(seconds=settings.fast_check_interval_seconds),
        stale_posting_after=dt.timedelta(seconds=settings.posting_stuck_after_seconds),
        shards=shards_of(settings),
        quota=quota_watch,
    )
    poster.on_progress = checker.reports.progress  # reports edited as outcomes come in
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        youtube=youtube,
        x=x,
        drafter=drafter,
        podcasts=PodcastService(sessions, youtube),
        tweets=TweetService(
            sessions,
            drafter,
            poster,
            ai_limiter=ai_limiter,
            ai_budget=SharedBudget(*AI_BUDGET),
            ai_daily_drafts=settings.ai_daily_drafts_per_server,
        ),
        linking=XLinkService(sessions, x, cipher, x_limiter=x_command_limiter),
        checker=checker,
        limits={name: KeyedRateLimiter(rate, 60) for name, rate in COMMAND_LIMITS.items()},
        poster=poster,
        roster=HostRoster(sessions, clock=clock),
        retention=RemovedServerCleanup(
            sessions,
            x,
            cipher,
            x_limiter=x_command_limiter,
            token_days=settings.removed_server_token_days,
            data_days=settings.removed_server_data_days,
            clock=clock,
        ),
        metrics=metrics,
        api=ApiAccess(sessions),
        readiness=ReadinessService(
            sessions,
            x,
            cipher,
            x_limiter=x_command_limiter,  # link checks never slow go-live posting down
            clock=clock,
            shards=shards_of(settings),
        ),
        budgets={"x": SharedBudget(*X_COMMAND_BUDGET)},
        show=ShowEvents(sessions, event_minutes=settings.event_default_minutes),
    )


def shards_of(settings: Settings) -> queries.Shards | None:
    """SHARD_IDS of SHARD_COUNT for the queries; None when this process runs every server."""
    local = settings.local_shards
    if settings.shard_count is None or local is None:
        return None
    return queries.Shards(settings.shard_count, tuple(local))


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


class OnAirTree(InputCheckedTree):
    """The command tree, timing every command for /metrics and tagging its log lines with the
    server (README "Operations"). `_call` is discord.py's single entry for an interaction's
    command (app_commands/tree.py); errors are handled inside it, so they are timed too."""

    async def _call(self, interaction: discord.Interaction) -> None:
        started = time.perf_counter()
        with log_context(guild_id=interaction.guild_id):
            try:
                await super()._call(interaction)
            finally:
                if interaction.type is discord.InteractionType.application_command:
                    command = interaction.command
                    name = command.qualified_name if command is not None else "unknown"
                    metrics: Metrics = self.client.services.metrics  # type: ignore[attr-defined]
                    metrics.command_seconds.labels(name).observe(time.perf_counter() - started)


class OnAirBot(commands.Bot):
    def __init__(self, services: Services) -> None:
        # OnAir never joins voice: don't warn at every start that voice libraries are missing.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()
        intents.members = True  # /tweets create-all lists the members holding the host role
        settings = services.settings
        shard_options: dict[str, Any] = {}
        if settings.shard_count is not None:
            shard_options = {
                "shard_count": settings.shard_count,
                "shard_ids": settings.local_shards,
            }
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=OnAirTree,
            **shard_options,
        )
        self.services = services
        services.poster.holds_host_role = self.holds_host_role
        self.http_server: HttpServer | None = None

    def holds_host_role(self, guild_id: int, user_id: int, role_id: int) -> bool | None:
        """From the member cache: does the member still hold the role (None: can't tell)."""
        guild = self.get_guild(guild_id)
        if guild is None or not guild.chunked:
            return None
        member = guild.get_member(user_id)
        return member is not None and member.get_role(role_id) is not None

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # Migrations already ran once: they take an advisory lock, then find nothing to do.
        if self.services.settings.holds_shard_zero:
            await self.sync_commands_if_changed()
        else:
            log.info("slash commands are synced by the process running shard 0")
        await self.start_http_server()
        freeze_start_up_objects()

    async def start_http_server(self) -> None:
        """GET /healthz, /metrics and /api/v1/ when HTTP_PORT is set (README "Operations")."""
        settings = self.services.settings
        if settings.http_port is None:
            return
        from bot.web.server import HttpServer, WebDeps, build_app

        deps = WebDeps(
            engine=self.services.engine,
            metrics=self.services.metrics,
            check_interval_seconds=settings.live_check_interval_seconds,
            gateway_connected=self.gateway_connected,
            api=self.services.api,
            api_limiter=KeyedRateLimiter(API_REQUESTS_PER_MINUTE, 60),
        )
        self.http_server = HttpServer(build_app(deps))
        await self.http_server.start(settings.http_host, settings.http_port)

    def gateway_connected(self) -> bool:
        """Ready, and this process's gateway websocket is open."""
        if self.is_closed() or not self.is_ready():
            return False
        return self.ws is not None and self.ws.open

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

    async def close(self) -> None:
        if self.http_server is not None:
            await self.http_server.stop()
            self.http_server = None
        await super().close()
        gc.unfreeze()


def freeze_start_up_objects() -> None:
    """Move everything alive after start-up (modules, the ORM's mappers, discord.py's
    command tree: most of the heap) out of the cyclic garbage collector's sight.

    They live as long as the process, yet every full collection walked them all: 115 ms with
    the event loop stopped, in the middle of a burst of commands (bench/load.py). Frozen, a
    full collection walks only what was made since (8 ms). Garbage made during start-up is
    collected first, so nothing unreachable is kept (CPython's documented use of gc.freeze),
    and the heap it leaves free goes back to the OS."""
    gc.collect()
    gc.freeze()
    release_free_heap()


class ShardedOnAirBot(OnAirBot, commands.AutoShardedBot):
    """OnAir on SHARD_IDS of SHARD_COUNT: one gateway connection per shard in this process;
    Discord sends each only its servers' events (discord.py's shard.py, AutoShardedClient)."""

    def gateway_connected(self) -> bool:
        if self.is_closed() or not self.is_ready():
            return False
        shards = self.shards
        return len(shards) == len(self.shard_ids or ()) and not any(
            shard.is_closed() for shard in shards.values()
        )


def make_bot(services: Services) -> OnAirBot:
    """AutoShardedBot on SHARD_IDS when SHARD_COUNT is set, else a plain one-connection bot."""
    if services.settings.shard_count is not None:
        return ShardedOnAirBot(services)
    return OnAirBot(services)
