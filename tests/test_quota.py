"""`python -m bot check` projects the Data API units a day at the configured interval and
warns before they would use up the quota (bot/quota.py)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.live_check import LiveChecker
from bot.quota import QuotaWatch
from bot.youtube import YouTubeClient
from db.models import Podcast
from tests.emulators.youtube_site import YouTubeEmulator
from tests.pipeline_helpers import (
    HTTP_TIMEOUT,
    channel_id,
    go_live,
    open_pipeline,
    setup_podcast,
    video_id,
)
from tests.test_cli import run_cli


async def test_check_projects_units_per_day_and_warns_when_short(
    database_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """60 channels, 60 live: 2 units a check; 960 a day at 180 s (no warning), 34,560 at
    5 s (a warning that names the setting to change)."""
    async with sessions() as session, session.begin():
        await session.execute(
            sa.insert(Podcast),
            [
                {
                    "guild_id": 70_000 + n,
                    "name": f"Show {n}",
                    "youtube_channel_id": f"UC{n:022d}",
                    "announce_channel_id": 1,
                    "host_role_id": 1,
                    "last_check_result": "live: Episode 12" if n < 60 else "offline",
                }
                for n in range(80)
            ],
        )
    env = {"DATABASE_URL": database_url, "YOUTUBE_API_KEY": "a-key"}
    (tmp_path / "work").mkdir()

    calm = run_cli("check", cwd=tmp_path / "work", data_dir=tmp_path / "data", env=env)
    short = run_cli(
        "check",
        cwd=tmp_path / "work",
        data_dir=tmp_path / "data",
        env=env | {"LIVE_CHECK_INTERVAL_SECONDS": "5"},
    )

    assert "about 960 units a day (2 a check every 180 s: 80 channels, 60 live" in calm.stdout
    assert "WARNING" not in calm.stdout
    assert "about 34,560 units a day" in short.stdout
    assert "WARNING" in short.stdout and "LIVE_CHECK_INTERVAL_SECONDS" in short.stdout
    assert "a-key" not in calm.stdout + short.stdout + calm.stderr + short.stderr


# ---- the running bot's watch (bot/quota.py QuotaWatch) -------------------------------------------

PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=PACIFIC)


def test_watch_projects_the_rest_of_the_day_at_the_current_rate() -> None:
    """At 18:03 Pacific, after 2 units a check every 180 s: 119 more checks before midnight
    (5 h 57 min), so the day ends at 238 units plus the 4 spent; no warning against 10,000."""
    watch = QuotaWatch(10_000)
    assert watch.observe(2, pacific(18, 0)) is None
    assert watch.observe(2, pacific(18, 3)) is None
    assert watch.spent_today == 4
    assert watch.projected_today == 4 + 2 * 119


def test_watch_warns_once_a_day_before_the_quota_runs_out() -> None:
    """A rate that would pass 80% of the quota before the reset is told once that day (with
    the settings to change), not on every check; the next quota day starts from zero."""
    watch = QuotaWatch(1_000)
    watch.observe(10, pacific(9, 0))
    warning = watch.observe(10, pacific(9, 3))  # 10 units / 3 min: ~2,000 by midnight
    assert warning is not None
    assert "1,000" in warning and "YOUTUBE_DAILY_QUOTA" in warning
    assert "LIVE_CHECK_INTERVAL_SECONDS" in warning
    assert watch.observe(10, pacific(9, 6)) is None
    assert watch.observe(1, pacific(0, 1, day=3)) is None  # a new day: counted afresh
    assert watch.spent_today == 1
    assert watch.observe(10, pacific(0, 4, day=3)) is not None  # and warned afresh


def test_quota_day_follows_pacific_midnight_not_utc() -> None:
    """YouTube resets the quota at midnight Pacific time: 07:59 UTC is still yesterday's."""
    watch = QuotaWatch()
    watch.observe(5, dt.datetime(2026, 12, 2, 7, 59, tzinfo=dt.UTC))
    watch.observe(5, dt.datetime(2026, 12, 2, 7, 59, 30, tzinfo=dt.UTC))
    assert watch.spent_today == 10
    watch.observe(5, dt.datetime(2026, 12, 2, 8, 0, 30, tzinfo=dt.UTC))
    assert watch.spent_today == 5


async def test_live_check_counts_the_units_youtube_charged(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    """A Data API check's units reach the watch (the same count the YouTube client keeps),
    and a quota too small for the day is warned about in the log, once."""
    emu = YouTubeEmulator(api_key="a-key")
    async with emu, open_pipeline(sessions, youtube_emu=emu) as pipe:
        youtube = YouTubeClient(
            emu.base_url, emu.base_url + "/youtube/v3", "a-key", timeout=HTTP_TIMEOUT
        )
        checker = LiveChecker(
            sessions,
            youtube,
            pipe.poster,
            interval=dt.timedelta(milliseconds=1),
            fast_interval=dt.timedelta(milliseconds=1),
            clock=pipe.clock,
            quota=QuotaWatch(5),
        )
        try:
            for n in range(3):
                await setup_podcast(
                    pipe, guild_id=900 + n, channel=channel_id(900 + n), members=[], linked={}
                )
                go_live(pipe, channel_id(900 + n), video_id(900 + n))
            with caplog.at_level(logging.WARNING, logger="onair.quota"):
                for _ in range(3):
                    await checker.run_check()
                    pipe.clock.advance(dt.timedelta(minutes=3))
        finally:
            await youtube.aclose()
    assert youtube.units_used >= 2
    assert checker.quota.spent_today == youtube.units_used
    assert checker.quota.projected_today > 5
    warnings = [r for r in caplog.records if r.name == "onair.quota"]
    assert len(warnings) == 1 and "a-key" not in warnings[0].getMessage()
