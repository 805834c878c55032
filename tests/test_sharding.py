"""Sharding across processes (README "Sharding"): two `python -m bot` processes, SHARD_IDS=0
and SHARD_IDS=1 of SHARD_COUNT=2, on one PostgreSQL and one emulated Discord."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import SettingsError, load_settings
from bot.live_check import LiveChecker
from db import queries
from db.models import Podcast
from tests.command_helpers import (
    add_episode,
    authorize_url,
    day,
    link_x,
    request_token_of,
    setup_podcast,
)
from tests.db_proxy import free_port
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.youtube_site import YouTubeEmulator
from tests.ops_helpers import (
    OTHER_CHANNEL_ID,
    other_server,
    setup_other_podcast,
    wait_for_health,
)
from tests.pipeline_helpers import channel_id, open_pipeline
from tests.pipeline_helpers import setup_podcast as setup_service_podcast
from tests.rig import CHANNEL_ID, World, world

SHARDS = {"SHARD_COUNT": "2", "DISCORD_GUILD_ID": "", "LIVE_CHECK_INTERVAL_SECONDS": "1"}


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % 2


def channels_asked_about(emu: YouTubeEmulator) -> set[str]:
    """Which of the two channels this YouTube heard about (path or query)."""
    asked = set()
    for request in emu.requests:
        where = request.path + " " + " ".join(request.query.values())
        asked |= {c for c in (CHANNEL_ID, OTHER_CHANNEL_ID) if c in where}
    return asked


async def link_other_host(w: World, guild, member, username: str) -> None:  # type: ignore[no-untyped-def]
    link = await (await w.discord.run_command(guild, member, "x link")).wait_done(timeout=15)
    pin = w.x.authorize(request_token_of(authorize_url(link)), username)
    run = await w.discord.run_command(guild, member, "x verify", pin=pin)
    assert f"Linked @{username}" in (await run.wait_done(timeout=15)).text()


async def test_two_shard_processes_split_the_servers_and_post_each_tweet_once(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Each server's commands, checks and posts are handled by the process of its shard only:
    each YouTube channel is asked about by exactly one process, every tweet is posted once,
    and only shard 0's process syncs the slash commands."""
    async with world(tmp_path, database_url) as w, YouTubeEmulator() as second_youtube:
        ours = shard_of(w.guild.id)
        other = other_server(w, shard=(1 - ours, 2))
        assert shard_of(other.guild.id) == 1 - ours
        # Process k gets its own YouTube, so each one's requests can be told apart.
        youtubes = {ours: w.youtube, 1 - ours: second_youtube}
        second_youtube.add_channel(CHANNEL_ID, handle="thepod", title="The Pod")
        second_youtube.add_channel(OTHER_CHANNEL_ID, handle="otherpod", title="Other Pod")

        ports = {shard: free_port() for shard in (0, 1)}
        async with contextlib.AsyncExitStack() as stack:
            for shard in (0, 1):
                youtube = youtubes[shard]
                await stack.enter_async_context(
                    w.bot_subprocess(
                        tmp_path / f"shard{shard}.log",
                        **SHARDS,
                        SHARD_IDS=str(shard),
                        HTTP_PORT=str(ports[shard]),
                        YOUTUBE_BASE_URL=youtube.base_url,
                        YOUTUBE_API_BASE_URL=youtube.base_url + "/youtube/v3",
                    )
                )
            await w.discord.wait_until(
                lambda: sorted(w.discord.ready_shards()) == [(0, 2), (1, 2)],
                30,
                "both shard processes received READY",
            )
            assert w.discord.command_sync_count() == 1  # shard 0's process only

            await setup_podcast(w)
            await setup_other_podcast(w, other)
            episode = await add_episode(w, days_ahead=0)
            run = await w.discord.run_command(
                other.guild, other.admin, "episode add", title="Their episode", date=day(0)
            )
            await run.wait_done(timeout=15)
            for guild, admin, title in (
                (w.guild, w.ana, episode),
                (other.guild, other.admin, "Their episode"),
            ):
                run = await w.discord.run_command(
                    guild, admin, "tweets create-all", episode=title, generate=False
                )
                await w.discord.wait_until(
                    lambda run=run: "new tweet" in run.text(), 15, "create-all answered"
                )
            await link_x(w, w.alice, "alice")
            await link_other_host(w, other.guild, other.host, "hugo")
            for guild, host, title in (
                (w.guild, w.alice, episode),
                (other.guild, other.host, "Their episode"),
            ):
                run = await w.discord.run_command(guild, host, "tweet approve", episode=title)
                await run.wait_done(timeout=15)

            for youtube in (w.youtube, second_youtube):
                youtube.go_live(CHANNEL_ID, "shardVid001", "The Pod live")
                youtube.go_live(OTHER_CHANNEL_ID, "shardVid002", "Other Pod live")
            await w.discord.wait_until(
                lambda: len(w.x.tweets_of("alice")) == 1 and len(w.x.tweets_of("hugo")) == 1,
                45,
                "alice's and hugo's tweets were posted",
            )
            await asyncio.sleep(3)  # several more ticks in both processes: nothing more is posted
            for port in ports.values():  # every shard of each process is connected
                await wait_for_health(port, 200)

        assert len(w.x.tweets_of("alice")) == 1
        assert len(w.x.tweets_of("hugo")) == 1
        assert len(w.x.all_tweets) == 2
        asked = {shard: channels_asked_about(youtubes[shard]) for shard in (0, 1)}
        assert asked[ours] == {CHANNEL_ID}, asked
        assert asked[1 - ours] == {OTHER_CHANNEL_ID}, asked


async def identify(emu: DiscordEmulator, shard: list[int]) -> tuple[int | None, dict | None]:  # type: ignore[type-arg]
    """Open a gateway socket, IDENTIFY with `shard`; (close code, READY data)."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(emu.gateway_url + "?v=10&encoding=json") as ws,
    ):
        hello = await ws.receive_json(timeout=5)
        assert hello["op"] == 10
        await ws.send_json(
            {"op": 2, "d": {"token": emu.token, "intents": 1, "properties": {}, "shard": shard}}
        )
        message = await ws.receive(timeout=5)
        if message.type is aiohttp.WSMsgType.CLOSE:
            return message.data, None
        frame = json.loads(message.data)
        assert frame["t"] == "READY"
        return None, frame["d"]


async def test_gateway_sends_each_shard_only_its_servers() -> None:
    """IDENTIFY with [shard_id, num_shards]: READY lists only that shard's servers and echoes
    the shard; a shard outside the count is closed with 4010, as Discord does."""
    async with DiscordEmulator() as emu:
        on_zero = emu.create_guild("Zero", shard=(0, 2))
        on_one = emu.create_guild("One", shard=(1, 2))
        for shard, guild in ((0, on_zero), (1, on_one)):
            code, ready = await identify(emu, [shard, 2])
            assert code is None and ready is not None
            assert ready["shard"] == [shard, 2]
            assert [g["id"] for g in ready["guilds"]] == [str(guild.id)]
        code, ready = await identify(emu, [0, 1])
        assert ready is not None and len(ready["guilds"]) == 2
        code, _ = await identify(emu, [2, 2])
        assert code == 4010


def test_shard_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """SHARD_IDS needs SHARD_COUNT and shards inside it, each once; `0,1` is the format."""
    cases = {
        ("", "0"): "setting SHARD_IDS is invalid (needs SHARD_COUNT",
        ("2", "0,2"): "setting SHARD_IDS is invalid (every shard must be between 0 and",
        ("2", "1,1"): "setting SHARD_IDS is invalid (must list each shard once)",
        ("2", "one"): "setting SHARD_IDS is invalid (must be shard numbers separated by commas",
        ("0", "0"): "setting SHARD_COUNT is invalid",
    }
    for (count, ids), expected in cases.items():
        monkeypatch.setenv("SHARD_COUNT", count)
        monkeypatch.setenv("SHARD_IDS", ids)
        with pytest.raises(SettingsError) as refused:
            load_settings(env_file=None)
        assert str(refused.value).startswith(expected), str(refused.value)
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "0,1")
    assert load_settings(env_file=None).local_shards == [0, 1]
    monkeypatch.setenv("SHARD_IDS", "3")
    assert load_settings(env_file=None).local_shards == [3]
    monkeypatch.delenv("SHARD_IDS")
    assert load_settings(env_file=None).local_shards == [0, 1, 2, 3]
    monkeypatch.delenv("SHARD_COUNT")
    assert load_settings(env_file=None).local_shards is None


async def test_a_shard_checks_only_its_servers_in_the_same_statements(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """A checker on shard k of 2 checks exactly the podcasts whose `(guild_id >> 22) % 2` is
    k, the two shards together check each podcast once, and each runs as many SQL statements
    as an unsharded check of all of them."""
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    async with open_pipeline(sessions) as pipe:
        guilds = [(1_000 + n) << 22 for n in range(6)]
        for n, guild_id in enumerate(guilds):
            await setup_service_podcast(
                pipe,
                guild_id=guild_id,
                channel=channel_id(n),
                members=[],
                linked={},
                with_episode=False,
            )

        async def check(shards: queries.Shards | None) -> tuple[set[int], int]:
            async with sessions() as session, session.begin():
                await session.execute(sa.update(Podcast).values(last_checked_at=None))
            checker = LiveChecker(
                sessions,
                pipe.youtube,
                pipe.poster,
                interval=dt.timedelta(minutes=3),
                fast_interval=dt.timedelta(seconds=30),
                shards=shards,
            )
            statements.clear()
            await checker.run_check()
            count = len(statements)
            async with sessions() as session:
                checked = await session.scalars(
                    sa.select(Podcast.guild_id).where(Podcast.last_checked_at.is_not(None))
                )
                return set(checked), count

        everyone, unsharded_statements = await check(None)
        zero, zero_statements = await check(queries.Shards(2, (0,)))
        one, one_statements = await check(queries.Shards(2, (1,)))
    assert everyone == set(guilds)
    assert zero == {g for g in guilds if (g >> 22) % 2 == 0} and len(zero) == 3
    assert one == set(guilds) - zero
    assert zero_statements == one_statements == unsharded_statements
