"""Hosts who leave or lose the role are held (and can still stop their tweet); admin holds."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.models import Host
from tests.command_helpers import (
    CHANNEL_ID,
    add_episode,
    create_tweets,
    link_x,
    rows,
    running,
    setup_podcast,
    tweet_row,
)
from tests.emulators.discord_api import StoredMessage
from tests.pipeline_helpers import channel_id, go_live, open_pipeline, video_id
from tests.pipeline_helpers import setup_podcast as pipe_setup
from tests.rig import World

LIVE = {"FAST_CHECK_INTERVAL_SECONDS": "1", "LIVE_CHECK_INTERVAL_SECONDS": "1"}


async def _ready_today(w: World) -> str:
    """Both hosts linked and approved, for an episode today."""
    await setup_podcast(w)
    episode = await add_episode(w, days_ahead=0)
    await create_tweets(w, episode, generate=False)
    for member, name in ((w.alice, "alice"), (w.bob, "bob")):
        await link_x(w, member, name)
        await w.answer(member, "tweet approve", episode=episode)
    return episode


async def _away(engine: AsyncEngine, name: str) -> dt.datetime | None:
    [host] = await rows(engine, "SELECT away_since FROM hosts WHERE display_name = :n", n=name)
    return host["away_since"]


async def _until_away(engine: AsyncEngine, name: str, away: bool) -> None:
    """Wait until the bot recorded `name` as away (or back)."""
    for _ in range(400):
        if (await _away(engine, name) is not None) == away:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{name} away={away} was never recorded")


async def _report(w: World, *needles: str) -> StoredMessage:
    return await w.discord.wait_for_channel_message(
        w.announce, lambda m: all(n in m.text() for n in needles), timeout=30
    )


async def test_host_who_lost_the_role_is_held_and_can_still_stop_their_tweet(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """bob loses the host role: his tweet shows held in /tweets status, yet he can still
    /tweet disable it and /x unlink; getting the role back releases the hold."""
    async with running(tmp_path, database_url) as (w, _):
        episode = await _ready_today(w)
        w.guild.revoke_role(w.bob, w.host_role)
        await _until_away(engine, "Bob", True)

        status = await w.answer(w.ana, "tweets status", episode=episode)
        bob_line = next(line for line in status.text().splitlines() if "**Bob**" in line)
        assert "held" in bob_line and "host role" in bob_line

        shown = await w.answer(w.bob, "tweet show", episode=episode)
        assert "host role" in shown.text()  # other host commands need the role
        disabled = await w.answer(w.bob, "tweet disable", episode=episode)
        assert disabled.text().startswith("Disabled"), disabled.text()
        assert (await tweet_row(engine, "Bob"))["enabled"] is False
        unlinked = await w.answer(w.bob, "x unlink")
        assert "Unlinked" in unlinked.text(), unlinked.text()
        assert (
            await rows(
                engine,
                "SELECT * FROM x_accounts x JOIN hosts h ON h.id = x.host_id "
                "WHERE h.display_name = 'Bob'",
            )
            == []
        )
        stranger = await w.answer(w.mallory, "x unlink")
        assert "host role" in stranger.text()  # no host record: still refused

        w.guild.grant_role(w.bob, w.host_role)
        await _until_away(engine, "Bob", False)


async def test_held_host_is_not_posted_until_the_role_comes_back(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """At go-live a host who lost the role is not posted (the report says held); once the
    role is back, the next check posts it, once."""
    async with running(tmp_path, database_url, **LIVE) as (w, _):
        await _ready_today(w)
        w.guild.revoke_role(w.bob, w.host_role)
        await _until_away(engine, "Bob", True)
        w.youtube.go_live(CHANNEL_ID, "heldVideo01", "The Pod live")
        await _report(w, "**Alice**: ✅ posted", "**Bob**: ⛔ held")
        assert w.x.tweets_of("bob") == []
        w.guild.grant_role(w.bob, w.host_role)
        await _report(w, "**Alice**: ✅ posted", "**Bob**: ✅ posted")
        assert len(w.x.tweets_of("bob")) == 1 and len(w.x.tweets_of("alice")) == 1


async def test_member_who_left_the_server_is_held(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A host who leaves the server has their tweets held."""
    async with running(tmp_path, database_url) as (w, _):
        await _ready_today(w)
        w.guild.remove_member(w.bob)
        await _until_away(engine, "Bob", True)
        assert await _away(engine, "Alice") is None


async def test_admin_hold_and_release(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweets hold keeps a host's tweet from posting at go-live; /tweets release lets the
    next check post it. Hosts can't hold."""
    async with running(tmp_path, database_url, **LIVE) as (w, _):
        episode = await _ready_today(w)
        refused = await w.answer(w.alice, "tweets hold", episode=episode, host=w.bob)
        assert "Only podcast admins" in refused.text()
        held = await w.answer(w.ana, "tweets hold", episode=episode, host=w.bob)
        assert held.ephemeral and held.text().startswith("Held"), held.text()
        assert (await tweet_row(engine, "Bob"))["held"] is True
        nobody = await w.answer(w.ana, "tweets hold", episode=episode, host=w.mallory)
        assert "no tweet" in nobody.text()

        w.youtube.go_live(CHANNEL_ID, "adminHold01", "The Pod live")
        await _report(w, "**Alice**: ✅ posted", "**Bob**: ⛔ held")
        assert w.x.tweets_of("bob") == []
        released = await w.answer(w.ana, "tweets release", episode=episode, host=w.bob)
        assert released.text().startswith("Released"), released.text()
        await _report(w, "**Bob**: ✅ posted")
        assert len(w.x.tweets_of("bob")) == 1


async def _host_ids(sessions: async_sessionmaker[AsyncSession]) -> dict[int, dt.datetime | None]:
    async with sessions() as session:
        result = await session.execute(sa.select(Host.discord_user_id, Host.away_since))
        return dict(result.all())


async def test_claim_time_check_holds_a_host_whose_role_change_was_missed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """If the member cache says a host no longer has the role when their tweet is claimed
    (the role event never reached the database), the tweet is not posted: it goes back to
    pending, held, and the host is marked away."""
    async with open_pipeline(sessions) as pipe:
        setup = await pipe_setup(
            pipe,
            guild_id=1,
            channel=channel_id(1),
            members=[(11, "Alice"), (12, "Bob")],
            linked={11: "alice", 12: "bob"},
        )
        pipe.poster.holds_host_role = lambda guild, user, role: user != 12
        go_live(pipe, setup.channel_id, video_id(1))
        result = await pipe.check()
        assert pipe.x_emu.tweets_of("alice") and not pipe.x_emu.tweets_of("bob")
        [report] = result.reports
        assert {line.host_name: line.state for line in report.lines} == {
            "Alice": "posted",
            "Bob": "held",
        }
        away = await _host_ids(sessions)
        assert away[11] is None and away[12] is not None
        await pipe.check()  # held: not claimed again
        assert not pipe.x_emu.tweets_of("bob")
