"""`python -m bot check` projects the Data API units a day at the configured interval and
warns before they would use up the quota (bot/quota.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Podcast
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
