"""`python -m bot [run|migrate|check]`: start OnAir, migrate its database, or check its settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import aiohttp
import discord
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings, SettingsError, load_settings
from bot.logs import configure_logging, redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from alembic.script import ScriptDirectory
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("onair")


_UNREACHABLE = (
    "OnAir: the database is not reachable ({kind}): check DATABASE_URL, "
    "or unset it for the embedded database"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="OnAir: tweets from every podcast host's X account when the YouTube stream starts.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,migrate,check}")
    sub.add_parser("run", help="run the bot (the default)")
    migrate = sub.add_parser("migrate", help="bring the database schema up to date and exit")
    migrate.add_argument(
        "revision", nargs="?", default="head", help="target revision (default: head)"
    )
    sub.add_parser(
        "check", help="validate settings, reach the database, say what is configured and missing"
    )
    args = parser.parse_args(argv)
    args.command = args.command or "run"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(require_token=args.command == "run")
        keys = settings.encryption_keys()
    except SettingsError as exc:
        print(f"OnAir: {exc}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level, [*settings.secret_values(), *keys], log_format=settings.log_format
    )
    runner = {"run": run_bot, "migrate": run_migrate, "check": run_check}[args.command]
    try:
        return asyncio.run(runner(settings, args))
    except KeyboardInterrupt:
        return 0


async def run_bot(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import CommandSyncRefused, build_services, make_bot, point_discord_at
    from bot.web import HttpPortUnavailable

    point_discord_at(settings)
    async with AsyncExitStack() as stack:
        try:
            services = await build_services(settings, stack)
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            log.debug("database unreachable at start-up", exc_info=True)
            print(_UNREACHABLE.format(kind=type(exc).__name__), file=sys.stderr)
            return 1
        bot = make_bot(services)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with bot:
            runner = asyncio.create_task(bot.start(settings.secret("discord_token") or ""))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.info("shutting down")
                await bot.close()
            stopper.cancel()
            try:
                await runner
            except discord.LoginFailure:
                print(
                    "OnAir: setting DISCORD_TOKEN was rejected by Discord: copy a fresh token "
                    "from the Developer Portal (Bot > Reset Token) into .env",
                    file=sys.stderr,
                )
                return 2
            except CommandSyncRefused as refused:
                where = (
                    f"server {refused.guild_id} (DISCORD_GUILD_ID)"
                    if refused.guild_id
                    else "Discord"
                )
                print(
                    f"OnAir: {where} refused the slash commands: invite the bot there with the "
                    "bot and applications.commands scopes, or fix DISCORD_GUILD_ID",
                    file=sys.stderr,
                )
                return 2
            except HttpPortUnavailable as busy:
                print(
                    f"OnAir: setting HTTP_PORT {busy.port} can't be used on HTTP_HOST "
                    f"{busy.host} ({busy.reason.lower()}): pick a free port, or unset HTTP_PORT",
                    file=sys.stderr,
                )
                return 2
            except discord.PrivilegedIntentsRequired:
                print(
                    "OnAir: the Server Members intent is off: enable it in the Developer Portal "
                    "(Bot > Privileged Gateway Intents) and start again",
                    file=sys.stderr,
                )
                return 2
            except (
                OSError,
                aiohttp.ClientError,
                discord.GatewayNotFound,
                discord.ConnectionClosed,
                discord.HTTPException,
            ) as exc:
                log.debug("Discord connection failed", exc_info=True)
                print(
                    f"OnAir: Discord isn't reachable ({type(exc).__name__}): check the network, "
                    "DISCORD_API_BASE_URL and DISCORD_GATEWAY_URL",
                    file=sys.stderr,
                )
                return 1
    return 0


async def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from db import migrate
    from db.embedded import start_embedded
    from db.engine import create_engine

    script = ScriptDirectory.from_config(migrate.alembic_config())
    try:
        script.get_revision(args.revision)  # unknown ids fail here, before a database starts
    except CommandError:
        print(
            f"OnAir: unknown schema revision {args.revision!r}: "
            "use head, base or a revision id from migrations/versions",
            file=sys.stderr,
        )
        return 2
    async with AsyncExitStack() as stack:
        url = settings.database_url
        if url is None:
            embedded = await start_embedded(settings.data_dir)
            stack.callback(embedded.stop)
            url = embedded.url
        engine = create_engine(url, pool_size=1)
        stack.push_async_callback(engine.dispose)
        try:
            current = await _current_revision(engine)
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            print(_UNREACHABLE.format(kind=type(exc).__name__), file=sys.stderr)
            return 1
        if _is_downgrade(script, current, args.revision):
            await migrate.downgrade(engine, args.revision)
        else:
            await migrate.upgrade(engine, args.revision)
        print(f"OnAir: database schema at {await _current_revision(engine) or 'base'}")
    return 0


def _is_downgrade(script: ScriptDirectory, current: str | None, target: str) -> bool:
    """True when `target` lies below the database's `current` revision (alembic can't tell)."""
    if current is None or target == "head":
        return False
    if target == "base":
        return True
    wanted = script.get_revision(target)
    below = {r.revision for r in script.iterate_revisions(current, "base")} - {current}
    return wanted is not None and wanted.revision in below


async def _quota_rows(
    settings: Settings, engine: AsyncEngine, row: Callable[[str, str], None]
) -> None:
    """Projected Data API units a day at the configured interval (bot/quota.py)."""
    from bot import quota
    from db import queries
    from db.engine import create_sessionmaker

    async with create_sessionmaker(engine)() as session:
        channels, changing = await queries.channels_that_can_change(session)
    per_check = quota.units_per_check(changing)
    per_day = quota.projected_units_per_day(per_check, settings.live_check_interval_seconds)
    daily = settings.youtube_daily_quota
    row(
        "YouTube quota",
        f"about {per_day:,} units a day ({per_check} a check every "
        f"{settings.live_check_interval_seconds} s: {channels} channels, {changing} live or "
        f"waiting; quota {daily:,})",
    )
    if warning := quota.quota_warning(per_day, daily):
        row("", "WARNING: " + warning)


async def _current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        exists = await conn.scalar(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        revision = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        return None if revision is None else str(revision)


async def run_check(settings: Settings, args: argparse.Namespace) -> int:
    from db.embedded import start_embedded
    from db.engine import create_engine

    def row(name: str, text: str) -> None:
        print(f"  {name:<22} {text}")

    print("OnAir configuration check")
    row(
        "Discord token",
        "set" if settings.discord_token else "MISSING: set DISCORD_TOKEN in .env to run the bot",
    )
    row(
        "Discord commands",
        f"synced to server {settings.discord_guild_id} (instant)"
        if settings.discord_guild_id
        else "synced globally (DISCORD_GUILD_ID unset; new commands can take a while to appear)",
    )
    row(
        "Token encryption",
        "TOKEN_ENCRYPTION_KEY"
        if settings.token_encryption_key
        else f"key file in {settings.data_dir}",
    )
    row(
        "X app",
        "configured"
        if settings.x_configured
        else "MISSING X_CONSUMER_KEY / X_CONSUMER_SECRET: linking and posting will explain this to users",
    )
    row(
        "AI drafts",
        f"{settings.openai_model} via "
        f"{redact_url(settings.openai_base_url) if settings.openai_base_url else 'OpenAI'}"
        if settings.openai_api_key
        else "OPENAI_API_KEY unset: drafts use a template",
    )
    row(
        "YouTube",
        "Data API (YOUTUBE_API_KEY set)"
        if settings.youtube_api_key
        else "page checks (no API key, no quota)",
    )
    row("Live check", f"every {settings.live_check_interval_seconds} s")
    row("Dry run", "ON: nothing is sent to X" if settings.dry_run else "off")
    ok = True
    async with AsyncExitStack() as stack:
        try:
            url = settings.database_url
            where = "external PostgreSQL (DATABASE_URL)"
            if url is None:
                embedded = await start_embedded(settings.data_dir)
                stack.callback(embedded.stop)
                url, where = (
                    embedded.url,
                    f"embedded PostgreSQL in {settings.data_dir / 'postgres'}",
                )
            engine = create_engine(url, pool_size=1)
            stack.push_async_callback(engine.dispose)
            async with engine.connect() as conn:
                version = await conn.scalar(sa.text("SHOW server_version"))
            revision = await _current_revision(engine)
            row(
                "Database",
                f"{where}: reachable (PostgreSQL {version}), schema {revision or 'not created yet (run migrate)'}",
            )
            if settings.youtube_api_key and revision:
                await _quota_rows(settings, engine, row)
        except Exception as exc:
            ok = False
            row("Database", f"NOT reachable ({type(exc).__name__}); check DATABASE_URL or DATA_DIR")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
