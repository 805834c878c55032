"""The end of a stream at the service level (LiveChecker, real PostgreSQL, the YouTube and X
emulators): when it counts as ended, and the report's last edit and announcement it yields."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.pipeline_helpers import (
    Pipeline,
    PodcastSetup,
    channel_id,
    go_live,
    load_episode,
    open_pipeline,
    setup_podcast,
    utcnow,
    video_id,
)

GUILD = 1
ALICE = 101
VIDEO = video_id(1)


@pytest.fixture
async def pipe(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Pipeline]:
    async with open_pipeline(sessions) as pipeline:
        yield pipeline


async def live_podcast(pipe: Pipeline) -> PodcastSetup:
    """Alice's podcast, live now, its first check done (tweet posted, announced once)."""
    setup = await setup_podcast(
        pipe,
        guild_id=GUILD,
        channel=channel_id(1),
        members=[(ALICE, "Alice")],
        linked={ALICE: "alice"},
    )
    go_live(pipe, setup.channel_id, VIDEO)
    first = await pipe.check()
    assert [a.guild_id for a in first.announcements] == [GUILD]
    [report] = first.reports
    assert report.ended_at is None
    # What the Discord side does with the first report: it sent it as this message.
    await pipe.checker.save_report_message(setup.episode_id, report.announce_channel_id, 555)
    return setup


async def test_not_live_for_two_checks_in_a_row_ends_it(pipe: Pipeline) -> None:
    """Two checks in a row without the stream (the channel shows the next waiting room, not
    the ended stream) end it, not one: one last report with ended and duration."""
    setup = await live_podcast(pipe)
    pipe.youtube_emu.end_stream(VIDEO)
    tomorrow = utcnow() + dt.timedelta(days=1)
    pipe.youtube_emu.schedule_stream(setup.channel_id, video_id(2), "Next week", tomorrow)
    once = await pipe.check()
    assert once.reports == []
    assert (await load_episode(pipe.sessions, setup.episode_id)).offline_checks == 1

    twice = await pipe.check()
    [report] = twice.reports
    assert report.report_message_id == 555  # the report is edited, not sent again
    assert report.ended_at is not None and report.went_live_at is not None
    assert report.ended_at >= report.went_live_at
    assert [line.state for line in report.lines] == ["posted"]
    assert (await pipe.check()).reports == []  # edited once, not every check


async def test_a_restart_under_a_new_video_is_neither_an_end_nor_a_new_announcement(
    pipe: Pipeline,
) -> None:
    """The stream drops and comes back as a new video: the episode stays on air with the new
    link, nothing is announced again, and later checks don't end it."""
    setup = await live_podcast(pipe)
    pipe.youtube_emu.end_stream(VIDEO)
    go_live(pipe, setup.channel_id, video_id(2))
    for _ in range(3):
        check = await pipe.check()
        assert check.announcements == []
    episode = await load_episode(pipe.sessions, setup.episode_id)
    assert episode.live_video_id == video_id(2)
    assert (episode.ended_at, episode.offline_checks) == (None, 0)
