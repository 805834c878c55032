"""Final videos (plain uploads, ended streams) are remembered in the database: a restarted
client, or one whose in-memory cache is too small for the batch, spends no Data API units on
them. Real YouTubeClient against the loopback Data API, real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.final_videos import DatabaseFinalVideos
from bot.youtube import YouTubeClient
from tests.emulators.youtube_site import YouTubeEmulator

API_KEY = "test-youtube-key"
CHANNEL = "UCaaaaaaaaaaaaaaaaaaaaaa"
OTHER = "UCbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
async def emu() -> AsyncIterator[YouTubeEmulator]:
    async with YouTubeEmulator(api_key=API_KEY) as emulator:
        now = datetime.now(UTC)
        emulator.add_channel(CHANNEL)
        emulator.add_channel(OTHER)
        emulator.add_upload(CHANNEL, "uploadA0001", "Clip 1")
        emulator.add_upload(CHANNEL, "uploadA0002", "Clip 2")
        emulator.go_live(OTHER, "endedB00001", "Old", started_at=now - timedelta(days=7))
        emulator.end_stream("endedB00001", ended_at=now - timedelta(days=7, hours=-1))
        emulator.go_live(OTHER, "liveB000001", "Episode 12")
        yield emulator


def client(emu: YouTubeEmulator, **kwargs: object) -> YouTubeClient:
    return YouTubeClient(emu.base_url, emu.base_url + "/youtube/v3", API_KEY, **kwargs)  # type: ignore[arg-type]


def asked_ids(emu: YouTubeEmulator) -> list[set[str]]:
    return [set(call["id"].split(",")) for call in emu.api_calls("videos")]


async def test_restarted_client_asks_only_about_videos_that_can_change(
    emu: YouTubeEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """After a restart (a new client on the same database) only the live stream is asked
    about; without the database, the new client asks about every video again."""
    async with client(emu, final_store=DatabaseFinalVideos(sessions)) as first:
        await first.check_channels([CHANNEL, OTHER])
    async with client(emu, final_store=DatabaseFinalVideos(sessions)) as restarted:
        batch = await restarted.check_channels([CHANNEL, OTHER])
    async with client(emu) as forgetful:
        await forgetful.check_channels([CHANNEL, OTHER])

    everything = {"uploadA0001", "uploadA0002", "endedB00001", "liveB000001"}
    assert asked_ids(emu) == [everything, {"liveB000001"}, everything]
    assert batch.checks[OTHER].state == "live"
    assert batch.checks[CHANNEL].state == "offline"


async def test_cache_smaller_than_the_batch_still_asks_nothing_final(
    emu: YouTubeEmulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An in-memory cache of 1 video can't hold the batch's finals; the database can."""
    store = DatabaseFinalVideos(sessions)
    async with client(emu, final_store=store, video_cache_size=1) as small:
        await small.check_channels([CHANNEL, OTHER])
        await small.check_channels([CHANNEL, OTHER])
    assert asked_ids(emu)[-1] == {"liveB000001"}
