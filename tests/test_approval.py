"""Approval before anything posts: /tweet approve, the Approve button, autopost, require_approval,
and the migration that decides for tweets written before approval existed."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate
from db.engine import create_engine
from tests.command_helpers import (
    CHANNEL_ID,
    add_episode,
    create_tweets,
    link_x,
    running,
    setup_podcast,
    tweet_row,
)
from tests.emulators.discord_api import StoredMessage
from tests.rig import World

LIVE = {"FAST_CHECK_INTERVAL_SECONDS": "1", "LIVE_CHECK_INTERVAL_SECONDS": "1"}


async def _today_with_linked_hosts(w: World, **setup: object) -> str:
    await setup_podcast(w, **setup)
    episode = await add_episode(w, days_ahead=0)
    await create_tweets(w, episode, generate=True)
    await link_x(w, w.alice, "alice")
    await link_x(w, w.bob, "bob")
    return episode


async def _report(w: World, *needles: str) -> StoredMessage:
    return await w.discord.wait_for_channel_message(
        w.announce, lambda m: all(n in m.text() for n in needles), timeout=30
    )


async def test_unapproved_draft_is_not_posted_while_an_approved_one_is(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Fresh drafts start unapproved; alice approves hers with /tweet approve and it posts at
    go-live; bob's draft is not posted and the report says it was not approved."""
    async with running(tmp_path, database_url, **LIVE) as (w, _):
        episode = await _today_with_linked_hosts(w)
        assert (await tweet_row(engine, "Bob"))["approved"] is False
        run = await w.answer(w.alice, "tweet approve", episode=episode)
        assert run.ephemeral and "Approved" in run.text()
        assert (await tweet_row(engine, "Alice"))["approved"] is True

        w.youtube.go_live(CHANNEL_ID, "approveVid1", "The Pod live")
        report = await _report(w, "**Alice**: ✅ posted", "**Bob**: ✋ not approved")
        assert "/tweet approve" in report.text()
        assert len(w.x.tweets_of("alice")) == 1
        assert w.x.tweets_of("bob") == []
        assert (await tweet_row(engine, "Bob"))["status"] == "pending"

        # Approving during the stream still posts it (within the retry window), once.
        await w.answer(w.bob, "tweet approve", episode=episode)
        await _report(w, "**Alice**: ✅ posted", "**Bob**: ✅ posted")
        assert len(w.x.tweets_of("bob")) == 1
        assert len(w.x.tweets_of("alice")) == 1


async def test_approve_button_under_show_approves_the_current_text(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The Approve button under /tweet show approves, and then disappears from the preview."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        episode = await add_episode(w)
        await create_tweets(w, episode)
        shown = await w.answer(w.alice, "tweet show", episode=episode)
        assert "waiting for your approval" in shown.text()
        await (await w.discord.click_button(shown, "Approve")).wait_done()
        assert (await tweet_row(engine, "Alice"))["approved"] is True
        assert shown.message is not None
        assert "Approve" not in shown.message.button_labels()
        assert "waiting for your approval" not in shown.message.text()
        assert (await tweet_row(engine, "Bob"))["approved"] is False


async def test_autopost_lets_a_hosts_unseen_draft_post(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A host who ran /tweet autopost enabled:true has their draft posted without approving it;
    the other host's unapproved draft is not."""
    async with running(tmp_path, database_url, **LIVE) as (w, _):
        await _today_with_linked_hosts(w)
        run = await w.answer(w.bob, "tweet autopost", enabled=True)
        assert run.ephemeral and "Autopost on" in run.text()
        w.youtube.go_live(CHANNEL_ID, "autopostVid", "The Pod live")
        await _report(w, "**Bob**: ✅ posted", "**Alice**: ✋ not approved")
        assert len(w.x.tweets_of("bob")) == 1
        assert w.x.tweets_of("alice") == []
        assert (await tweet_row(engine, "Bob"))["approved"] is False  # posted by opting in


async def test_require_approval_false_lets_every_draft_post(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/podcast setup require_approval:false: drafts post without approval; /podcast show says
    so; running setup again without the option keeps the choice."""
    async with running(tmp_path, database_url, **LIVE) as (w, _):
        await _today_with_linked_hosts(w, require_approval=False)
        await setup_podcast(w)  # option left out: the saved choice stays
        shown = await w.answer(w.ana, "podcast show")
        assert "not required" in shown.text()
        w.youtube.go_live(CHANNEL_ID, "noApproval1", "The Pod live")
        await _report(w, "**Alice**: ✅ posted", "**Bob**: ✅ posted")
        assert len(w.x.tweets_of("alice")) == 1 and len(w.x.tweets_of("bob")) == 1


async def test_migration_approves_written_and_finished_tweets_only(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """Upgrading a database from before approval: a host's own text and every tweet that is no
    longer pending count as approved; an untouched pending draft does not."""
    engine = create_engine(await fresh_database(), pool_size=1)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO podcasts (guild_id, name, youtube_channel_id, announce_channel_id, "
                "host_role_id) VALUES (1, 'P', 'UC1', 2, 3)",
                "INSERT INTO episodes (podcast_id, title, scheduled_date) "
                "VALUES (1, 'E', '2026-12-01')",
                "INSERT INTO hosts (podcast_id, discord_user_id, display_name) "
                "VALUES (1, 10, 'own'), (1, 11, 'draft'), (1, 12, 'posted')",
                "INSERT INTO episode_tweets (episode_id, host_id, custom_text, generated_text, "
                "status) VALUES (1, 1, 'mine', NULL, 'pending'), (1, 2, NULL, 'ai', 'pending'), "
                "(1, 3, NULL, 'ai', 'posted')",
            ):
                await conn.execute(sa.text(statement))
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            approved = dict(
                (
                    await conn.execute(
                        sa.text(
                            "SELECT h.display_name, t.approved FROM episode_tweets t "
                            "JOIN hosts h ON h.id = t.host_id"
                        )
                    )
                ).all()
            )
            require = await conn.scalar(sa.text("SELECT require_approval FROM podcasts"))
        assert approved == {"own": True, "draft": False, "posted": True}
        assert require is True
    finally:
        await engine.dispose()
