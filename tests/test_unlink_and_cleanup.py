"""Unlink means gone: /x unlink revokes the token at X; a removed server's data is cleaned up."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.command_helpers import (
    add_episode,
    assert_one_private_line,
    create_tweets,
    link_x,
    running,
    scalar,
    setup_podcast,
)
from tests.emulators.x_api import INVALIDATE_TOKEN_PATH
from tests.pipeline_helpers import OffsetClock


async def test_unlink_revokes_the_token_at_x_and_deletes_it(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/x unlink calls X's invalidate_token with alice's own token (signed), so X refuses that
    token afterwards, deletes it from the database, and says so."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await link_x(w, w.alice, "alice")
        [token] = [t for t, a in w.x._access_tokens.items() if a.username == "alice"]
        gone = await w.answer(w.alice, "x unlink")
        assert_one_private_line(gone, "Unlinked", "X revoked")
        assert w.x.invalidated_tokens == [token]
        assert w.x._access_tokens[token].revoked
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 0


async def test_unlink_deletes_the_tokens_even_when_x_is_down(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """X answering 503 to invalidate_token: the tokens are still deleted, and the answer tells
    the host to revoke the app in X's settings."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await link_x(w, w.alice, "alice")
        w.x.server_error_json(path=INVALIDATE_TOKEN_PATH)
        gone = await w.answer(w.alice, "x unlink")
        assert_one_private_line(gone, "Unlinked", "couldn't be asked", "X's settings")
        assert w.x.invalidated_tokens == []
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 0


async def test_removed_servers_tokens_go_after_7_days_and_data_after_30(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The bot is removed from the server: nothing is deleted at once; after 7 days the hosts'
    X tokens are revoked at X and deleted; after 30 days the podcast and its data are gone."""
    clock = OffsetClock()
    async with running(tmp_path, database_url, clock=clock) as (w, bot):
        await setup_podcast(w)
        await add_episode(w)
        await create_tweets(w)
        await link_x(w, w.alice, "alice")
        cleanup = bot.services.retention
        w.guild.remove_bot()
        await w.discord.wait_until(lambda: bot.get_guild(w.guild.id) is None, what="removal")
        for _ in range(200):  # the bot records the removal right after the gateway event
            if await scalar(engine, "SELECT removed_at FROM podcasts") is not None:
                break
            await asyncio.sleep(0.02)
        assert await scalar(engine, "SELECT removed_at FROM podcasts") is not None

        clock.advance(dt.timedelta(days=6, hours=23))
        assert (await cleanup.run()).tokens_deleted == 0
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 1

        clock.advance(dt.timedelta(hours=2))
        result = await cleanup.run()
        assert (result.tokens_deleted, result.tokens_revoked, result.podcasts_deleted) == (1, 1, 0)
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 0
        assert len(w.x.invalidated_tokens) == 1
        assert await scalar(engine, "SELECT count(*) FROM episode_tweets") == 2

        clock.advance(dt.timedelta(days=23))
        assert (await cleanup.run()).podcasts_deleted == 1
        left = await scalar(
            engine,
            "SELECT (SELECT count(*) FROM podcasts) + (SELECT count(*) FROM episodes) "
            "+ (SELECT count(*) FROM episode_tweets) + (SELECT count(*) FROM hosts)",
        )
        assert left == 0


async def test_setting_up_again_stops_the_clean_up(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A server set up again after a removal keeps its data however long it was away."""
    clock = OffsetClock()
    async with running(tmp_path, database_url, clock=clock) as (w, bot):
        await setup_podcast(w)
        await link_x(w, w.alice, "alice")
        assert await bot.services.podcasts.deactivate(w.guild.id)
        assert await scalar(engine, "SELECT removed_at FROM podcasts") is not None
        await setup_podcast(w)
        assert await scalar(engine, "SELECT removed_at FROM podcasts") is None
        clock.advance(dt.timedelta(days=60))
        result = await bot.services.retention.run()
        assert (result.tokens_deleted, result.podcasts_deleted) == (0, 0)
        assert await scalar(engine, "SELECT count(*) FROM x_accounts") == 1
