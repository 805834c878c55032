"""Admin slash commands (/podcast, /episode, /tweets) driven through the emulated Discord."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.command_helpers import (
    CHANNEL_ID,
    EPISODE,
    NOTES,
    add_episode,
    answer_setup,
    assert_one_private_line,
    create_tweets,
    day,
    finished_drafting,
    link_x,
    prepared,
    rows,
    running,
    scalar,
    setup_podcast,
)
from tests.emulators.base import Fault
from tests.emulators.discord_api import Permission
from tests.rig import world


async def test_setup_accepts_id_handle_and_urls(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Every accepted youtube_channel form (UC id, @handle, /@handle URL, /channel/ URL) resolves
    to the same UC… id, and a second setup updates the one podcast instead of adding another."""
    forms = [
        CHANNEL_ID,
        "@thepod",
        "https://www.youtube.com/@thepod",
        f"https://www.youtube.com/channel/{CHANNEL_ID}",
    ]
    async with running(tmp_path, database_url) as (w, _):
        for form in forms:
            run = await setup_podcast(w, youtube_channel=form, timezone="Europe/Paris")
            assert run.ephemeral
            assert run.deferred, "setup resolves the channel on YouTube, so it defers first"
            saved = await rows(engine, "SELECT youtube_channel_id, timezone, name FROM podcasts")
            assert saved == [
                {"youtube_channel_id": CHANNEL_ID, "timezone": "Europe/Paris", "name": "The Pod"}
            ], form
            assert CHANNEL_ID in run.text()


async def test_setup_refuses_bad_channel_text_and_saves_nothing(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Text that is no channel, or a handle YouTube doesn't know, gets one clear sentence."""
    async with running(tmp_path, database_url) as (w, _):
        cases = {
            "not a channel at all!": "That isn't a YouTube channel",
            "@nosuchpodcast": "YouTube has no channel there",
        }
        for text, sentence in cases.items():
            run = await answer_setup(w, youtube_channel=text)
            assert_one_private_line(run, sentence)
        assert await scalar(engine, "SELECT count(*) FROM podcasts") == 0


async def test_setup_refuses_unknown_timezone(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A timezone that isn't an IANA name is named back with an example; nothing is saved."""
    async with running(tmp_path, database_url) as (w, _):
        run = await answer_setup(w, timezone="Mars/Olympus")
        assert_one_private_line(run, "Mars/Olympus", "isn't a timezone", "Europe/Paris")
        assert await scalar(engine, "SELECT count(*) FROM podcasts") == 0


async def test_setup_refuses_announce_channel_the_bot_cannot_post_in(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """An announce channel where the bot lacks Send Messages is refused with what to fix."""
    async with world(tmp_path, database_url) as w:
        locked = w.guild.add_text_channel("locked")
        locked.set_permissions(w.guild.bot_role, deny=Permission.SEND_MESSAGES)
        async with w.bot_in_process():
            run = await answer_setup(w, announce_channel=locked)
            assert_one_private_line(run, "I can't post in", locked.mention, "Send Messages")
            assert await scalar(engine, "SELECT count(*) FROM podcasts") == 0


async def test_show_lists_settings_and_last_check(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/podcast show has the channel, roles, timezone, filter, and the background check's result."""
    async with world(tmp_path, database_url) as w, w.bot_in_process():  # live check every second
        await setup_podcast(w, admin_role=w.admin_role, timezone="America/New_York")
        for _ in range(100):
            result = await scalar(engine, "SELECT last_check_result FROM podcasts")
            if result:
                break
            await asyncio.sleep(0.05)
        assert result, "the background live check never recorded a result"
        run = await w.answer(w.ana, "podcast show")
        assert run.ephemeral
        [embed] = run.embeds
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert CHANNEL_ID in fields["YouTube channel"]
        assert fields["Announcements"] == w.announce.mention
        assert fields["Host role"] == f"<@&{w.host_role.id}>"
        assert fields["Admin role"] == f"<@&{w.admin_role.id}>"
        assert fields["Timezone"] == "America/New_York"
        assert fields["Title filter"] == "none"
        assert result in fields["Last live check"]
        assert "<t:" in fields["Last live check"], "the check time is a Discord timestamp"


async def test_filter_set_and_clear(tmp_path: Path, database_url: str, engine: AsyncEngine) -> None:
    """/podcast filter saves the text (shown in /podcast show); without text it clears it."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        run = await w.answer(w.ana, "podcast filter", text="  Live Show ")
        assert_one_private_line(run, "“Live Show”")
        assert await scalar(engine, "SELECT title_filter FROM podcasts") == "Live Show"
        shown = await w.answer(w.ana, "podcast show")
        assert "“Live Show”" in shown.text()
        run = await w.answer(w.ana, "podcast filter")
        assert_one_private_line(run, "Filter cleared")
        assert await scalar(engine, "SELECT title_filter FROM podcasts") is None


async def test_youtube_test_reports_offline_then_live(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/podcast youtube-test defers, then says offline, or live with the stream's title and link."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        run = await w.answer(w.ana, "podcast youtube-test")
        assert run.deferred and run.ephemeral
        assert "Not live right now" in run.text()
        w.youtube.go_live(CHANNEL_ID, "vidLIVE0001", "Balcony gardens, live")
        run = await w.answer(w.ana, "podcast youtube-test")
        assert "Live now" in run.text()
        assert "Balcony gardens, live" in run.text()
        assert "vidLIVE0001" in run.text()
        assert CHANNEL_ID in run.text()


async def test_youtube_test_explains_the_bot_wall_in_plain_words(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """When YouTube answers with its bot wall, /podcast youtube-test says so and what fixes it."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        w.youtube.go_live(CHANNEL_ID, "vidLIVE0001", "Balcony gardens, live")
        w.youtube.bot_wall(True)
        run = await w.answer(w.ana, "podcast youtube-test")
        assert "confirm you're not a bot" in run.text(), run.text()
        assert "YOUTUBE_API_KEY" in run.text() and "offline" not in run.text().lower()


async def test_episode_add_refuses_bad_date_time_and_past(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Bad dates, bad times and past dates each get one clear sentence; nothing is saved."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        cases = [
            ({"date": "2026-13-45"}, ["2026-13-45", "isn't a date", "YYYY-MM-DD"]),
            ({"date": "31/12/2030"}, ["isn't a date"]),
            ({"date": day(3), "time": "25:99"}, ["25:99", "isn't a time", "HH:MM"]),
            ({"date": day(3), "time": "7pm"}, ["isn't a time"]),
            ({"date": day(-10)}, [day(-10), "is in the past"]),
        ]
        for options, words in cases:
            run = await w.answer(w.ana, "episode add", title="Nope", **options)
            assert_one_private_line(run, *words)
        assert await scalar(engine, "SELECT count(*) FROM episodes") == 0
        run = await w.answer(w.ana, "episode add", title="Fine", date=day(3), time="19:30")
        assert "Added “Fine”" in run.text()
        assert "<t:" in run.text(), "a timed episode is shown as a Discord timestamp"
        assert await scalar(engine, "SELECT count(*) FROM episodes") == 1


async def test_episode_list_shows_upcoming_and_recent_with_counts(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/episode list: upcoming episodes with their tweet counts, yesterday's under Recent."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        await add_episode(w, "Yesterday Show", days_ahead=-1)
        await w.answer(w.alice, "tweet disable", episode=EPISODE)
        run = await w.answer(w.ana, "episode list")
        assert run.ephemeral
        [embed] = run.embeds
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert EPISODE in fields["Upcoming"]
        assert "2 tweets (1 on)" in fields["Upcoming"]
        assert "Yesterday Show" in fields["Recent"]
        assert "0 tweets" in fields["Recent"]
        assert "Yesterday Show" not in fields["Upcoming"]


async def test_episode_remove_deletes_unless_a_tweet_was_posted(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """An episode without posted tweets is removed with its tweets; one with a posted one stays."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        await add_episode(w, "Spare Episode", days_ahead=9)
        await create_tweets(w, "Spare Episode", generate=False)
        run = await w.answer(w.ana, "episode remove", episode="Spare Episode")
        assert_one_private_line(run, "Removed “Spare Episode”")
        assert [r["title"] for r in await rows(engine, "SELECT title FROM episodes")] == [EPISODE]
        assert await scalar(engine, "SELECT count(*) FROM episode_tweets") == 2

        await link_x(w, w.alice, "alice_x")
        posted = await w.answer(w.alice, "tweet post-now", episode=EPISODE)
        assert "Posted" in posted.text(), posted.text()
        run = await w.answer(w.ana, "episode remove", episode=EPISODE)
        assert_one_private_line(run, EPISODE, "already has posted tweets")
        assert await scalar(engine, "SELECT count(*) FROM episodes") == 1
        assert await scalar(engine, "SELECT count(*) FROM episode_tweets") == 2


async def test_create_all_makes_one_tweet_per_host_and_keeps_existing(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """create-all: a tweet for each host-role member (not admins or strangers), AI drafts from
    the title and notes, progress while drafting, unlinked hosts named; a rerun keeps them."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await add_episode(w)
        await link_x(w, w.alice, "alice_x")
        # One slow draft, so the "Drafting… 1/2" progress stays visible for a moment.
        w.openai.inject(Fault(kind="latency", path_prefix="/v1/chat", seconds=1.0))
        run = await w.command(w.ana, "tweets create-all", episode=EPISODE)
        await run.response()
        assert run.deferred and run.ephemeral
        await w.discord.wait_until(
            lambda: "Drafting… 1/2 drafted" in run.content, timeout=5, what="progress text"
        )
        await finished_drafting(w, run)
        text = run.text()
        assert "2 new tweets, 0 kept" in text
        assert "Drafted 2 with AI." in text
        assert "Not linked to X yet: Bob." in text, text
        assert "Alice" not in text.split("Not linked")[1]

        tweets = await rows(
            engine,
            "SELECT h.display_name, t.generated_text, t.draft_is_fallback FROM episode_tweets t "
            "JOIN hosts h ON h.id = t.host_id ORDER BY h.display_name",
        )
        assert [t["display_name"] for t in tweets] == ["Alice", "Bob"]
        assert all(t["generated_text"] and not t["draft_is_fallback"] for t in tweets)
        assert len(w.openai.prompts) == 2
        for prompt in w.openai.prompts:
            words = "\n".join(str(m.get("content")) for m in prompt)
            assert EPISODE in words and NOTES in words

        again = await create_tweets(w)
        assert "0 new tweets, 2 kept" in again.text()
        assert len(w.openai.prompts) == 2, "kept tweets are not drafted again"
        after = await rows(engine, "SELECT generated_text FROM episode_tweets ORDER BY id")
        assert sorted(a["generated_text"] for a in after) == sorted(
            t["generated_text"] for t in tweets
        )


async def test_create_all_without_generate_drafts_nothing(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """generate:false creates the tweets without asking the AI."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        await add_episode(w)
        run = await create_tweets(w, generate=False)
        assert "2 new tweets" in run.text()
        assert "Drafted" not in run.text()
        assert w.openai.prompts == []
        assert await scalar(engine, "SELECT count(*) FROM episode_tweets") == 2


async def test_tweets_status_one_embed_with_a_line_per_host(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweets status: one embed titled with the episode, one line per host with its state."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        await w.answer(w.alice, "tweet approve", episode=EPISODE)
        await w.answer(w.bob, "tweet disable", episode=EPISODE)
        run = await w.answer(w.ana, "tweets status", episode=EPISODE)
        assert run.ephemeral
        [embed] = run.embeds
        assert EPISODE in embed["title"]
        lines = embed["description"].splitlines()
        assert len(lines) == 2, lines
        by_host = {line.split("**")[1]: line for line in lines}
        assert set(by_host) == {"Alice", "Bob"}
        assert "waiting for the stream" in by_host["Alice"]
        assert "disabled" in by_host["Bob"]
