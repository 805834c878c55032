"""`python -m bot` against an emulated Discord that says no: one clear line and an exit code.

Also: a podcast stops being checked when the bot is removed from its server.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.command_helpers import (
    add_episode,
    create_tweets,
    link_x,
    running,
    scalar,
    setup_podcast,
)
from tests.emulators.discord_api import DiscordEmulator
from tests.rig import CHANNEL_ID, World, world


async def run_bot_process(w: World, **overrides: str) -> tuple[int, str]:
    """Run `python -m bot` to its end (it must end by itself) and return (code, output)."""
    process = await w.start_bot_process(asyncio.subprocess.PIPE, **overrides)
    output, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_rejected_token_exits_2_with_one_line(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Discord answering 401 to the token stops the bot with exit 2 and says what to do."""
    async with world(tmp_path, database_url) as w:
        code, output = await run_bot_process(w, DISCORD_TOKEN="not-the-right-token")
    assert code == 2
    assert "setting DISCORD_TOKEN was rejected by Discord" in output
    assert "Traceback" not in output and "not-the-right-token" not in output


async def test_members_intent_off_exits_2_with_one_line(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A gateway refusing the Server Members intent stops the bot with exit 2 and the fix."""
    async with world(tmp_path, database_url) as w:
        w.discord.privileged_intents = False
        code, output = await run_bot_process(w)
    assert code == 2
    assert "Server Members intent is off" in output and "Privileged Gateway Intents" in output
    assert "Traceback" not in output


async def test_commands_refused_in_guild_exits_2_with_one_line(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """DISCORD_GUILD_ID naming a server the bot isn't in: exit 2 saying how to fix it."""
    async with world(tmp_path, database_url) as w:
        code, output = await run_bot_process(w, DISCORD_GUILD_ID="123456789012345678")
    assert code == 2
    assert "server 123456789012345678 (DISCORD_GUILD_ID) refused the slash commands" in output
    assert "Traceback" not in output


async def test_unreachable_discord_exits_1_with_one_line(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """No Discord at DISCORD_API_BASE_URL: exit 1 naming the settings to check, no traceback."""
    async with world(tmp_path, database_url) as w:
        gone = DiscordEmulator()
        await gone.start()
        url = gone.api_base_url
        await gone.stop()  # nothing listens on that port any more
        code, output = await run_bot_process(w, DISCORD_API_BASE_URL=url)
    assert code == 1
    assert "Discord isn't reachable" in output and "DISCORD_API_BASE_URL" in output
    assert "Traceback" not in output


async def test_removed_from_server_stops_checking_its_channel(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Kicked from a server, the bot marks its podcast inactive; /podcast setup revives it."""

    async def active() -> bool:
        async with engine.connect() as conn:
            return bool(await conn.scalar(sa.text("SELECT active FROM podcasts")))

    async with running(tmp_path, database_url) as (w, bot):
        await setup_podcast(w)
        assert await active()
        w.guild.remove_bot()
        await w.discord.wait_until(lambda: bot.get_guild(w.guild.id) is None, what="guild removed")
        for _ in range(100):
            if not await active():
                break
            await asyncio.sleep(0.05)
        assert not await active()


async def test_shutdown_lets_a_post_in_flight_finish(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Stopping the bot while X is answering a post waits for it: the tweet ends `posted`,
    not stuck in `posting` (which would need a person to check X)."""
    async with world(tmp_path, database_url) as w:
        async with w.bot_in_process(FAST_CHECK_INTERVAL_SECONDS="1"):
            await setup_podcast(w)
            episode = await add_episode(w, days_ahead=0)
            await create_tweets(w, episode, generate=False)
            await link_x(w, w.alice, "alice")
            await w.answer(w.alice, "tweet approve", episode=episode)
            w.x.slow(1.5)
            w.youtube.go_live(CHANNEL_ID, "shutdownVid", "Live now")
            await w.discord.wait_until(
                lambda: w.x.count("/2/tweets", "POST") == 1, timeout=15, what="a post in flight"
            )
        # The bot has stopped: the post X was answering still got recorded.
        status = await scalar(engine, "SELECT status FROM episode_tweets ORDER BY id LIMIT 1")
        assert status == "posted"
        assert len(w.x.tweets_of("alice")) == 1


async def test_http_port_in_use_exits_2_with_one_line(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """HTTP_PORT taken by another program: exit 2 naming the setting, not a Discord problem."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        async with world(tmp_path, database_url) as w:
            port = str(taken.getsockname()[1])
            code, output = await run_bot_process(w, HTTP_PORT=port)
    finally:
        taken.close()
    assert code == 2
    assert f"setting HTTP_PORT {port} can't be used on HTTP_HOST 127.0.0.1" in output, output
    assert "Traceback" not in output and "Discord isn't reachable" not in output
