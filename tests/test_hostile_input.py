"""Hostile input through the Discord emulator: every command and option gets control
characters, invisible characters, look-alike digits, impossible dates, huge strings, forged
autocomplete values and another server's ids. Each answer is one short, polite, private sentence
without exception text, and the database is exactly as it was."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.drafts import template_draft
from tests.command_helpers import (
    EPISODE,
    QUIET,
    add_episode,
    prepared,
    rows,
    running,
    scalar,
    setup_podcast,
    tweet_row,
)
from tests.pipeline_helpers import channel_id, go_live, open_pipeline, video_id
from tests.pipeline_helpers import setup_podcast as pipe_podcast
from tests.rig import World, world

NUL = "\x00"
LEAKS = re.compile(
    r"Traceback|Error\b|Exception|asyncpg|sqlalchemy|psycopg|0x00|\\x00|Something went wrong", re.I
)
TEXT_FIELD = "Tweet (the stream link is added after it)"
OTHER_GUILD = 555_000_000_000_000_001

# What the database holds that a refused command must not touch (the background check's own
# columns on podcasts are left out: it may run while the test does).
SNAPSHOT = {
    "podcasts": "SELECT id, guild_id, name, youtube_channel_id, title_filter, announce_channel_id,"
    " host_role_id, admin_role_id, timezone, active FROM podcasts ORDER BY id",
    "episodes": "SELECT * FROM episodes ORDER BY id",
    "episode_tweets": "SELECT * FROM episode_tweets ORDER BY id",
    "hosts": "SELECT * FROM hosts ORDER BY id",
    "x_accounts": "SELECT * FROM x_accounts ORDER BY id",
    "x_link_requests": "SELECT * FROM x_link_requests ORDER BY id",
    "post_attempts": "SELECT * FROM post_attempts ORDER BY id",
}


async def snapshot(engine: AsyncEngine) -> dict[str, list[Any]]:
    return {table: await rows(engine, sql) for table, sql in SNAPSHOT.items()}


def setup_options(w: World, **override: Any) -> dict[str, Any]:
    return {
        "name": "The Pod",
        "youtube_channel": "@thepod",
        "announce_channel": w.announce,
        "host_role": w.host_role,
        **override,
    }


def hostile_calls(w: World, other_episode: str) -> list[tuple[Any, str, dict[str, Any]]]:
    """(member with the right role, command, options) for every command and string option."""
    huge = "9" * 5000
    episode_values = ["²", "١٢", NUL, f"1{NUL}", "\u202e\ufeff", huge, other_episode, "-1"]
    calls: list[tuple[Any, str, dict[str, Any]]] = [
        (w.ana, "podcast setup", setup_options(w, name=f"The{NUL}Pod")),
        (w.ana, "podcast setup", setup_options(w, name="\u202e\ufeff\u200b")),
        (w.ana, "podcast setup", setup_options(w, name="Bell\x07")),
        (w.ana, "podcast setup", setup_options(w, youtube_channel=f"@the{NUL}pod")),
        (w.ana, "podcast setup", setup_options(w, youtube_channel="[x](https://evil.example)")),
        (w.ana, "podcast setup", setup_options(w, timezone=f"UTC{NUL}")),
        (w.ana, "podcast setup", setup_options(w, timezone="posix/Europe/Paris")),
        (w.ana, "podcast filter", {"text": f"live{NUL}"}),
        (w.ana, "podcast filter", {"text": "\u200b\u202e"}),
        (w.ana, "episode add", {"title": f"Ep{NUL}", "date": "2099-01-01"}),
        (w.ana, "episode add", {"title": "Ep\x1b[31m", "date": "2099-01-01"}),
        (w.ana, "episode add", {"title": "\ufeff", "date": "2099-01-01"}),
        (w.ana, "episode add", {"title": "Ep", "date": "2099-01-01", "notes": f"a{NUL}b"}),
        (w.ana, "episode add", {"title": "Ep", "date": "9999-12-31"}),
        (w.ana, "episode add", {"title": "Ep", "date": "9999-12-31", "time": "23:59"}),
        (w.ana, "episode add", {"title": "Ep", "date": "²⁰²⁶-01-01"}),
        (w.ana, "episode add", {"title": "Ep", "date": "2099-01-01", "time": "²:30"}),
        (w.ana, "episode add", {"title": "Ep", "date": "2099-01-01", "time": "-1:30"}),
        (w.ana, "episode add", {"title": "Ep", "date": "2099-01-01", "time": f"1{NUL}:30"}),
        (w.alice, "x verify", {"pin": "²²²²²²²"}),
        (w.alice, "x verify", {"pin": f"123{NUL}4567"}),
        (w.alice, "x verify", {"pin": "12345678901234567890"}),
    ]
    for value in episode_values:
        calls += [
            (w.ana, "episode remove", {"episode": value}),
            (w.ana, "tweets status", {"episode": value}),
            *(
                (w.alice, f"tweet {name}", {"episode": value})
                for name in ("edit", "show", "enable", "disable")
            ),
        ]
    # Rate-limited commands: a few hostile values each, within their per-minute limits.
    for value in ("²", other_episode):
        calls += [
            (w.ana, "tweets create-all", {"episode": value}),
            (w.alice, "tweet post-now", {"episode": value}),
        ]
    for value in ("²", NUL, other_episode, huge):
        calls.append((w.alice, "tweet generate", {"episode": value}))
    return calls


def assert_polite(run: Any, what: str) -> None:
    text = run.text()
    assert run.ephemeral, f"{what}: visible to everyone: {text!r}"
    assert text and len(text) <= 300 and "\n" not in text.strip(), f"{what}: {text!r}"
    assert not LEAKS.search(text), f"{what}: leaks or fails: {text!r}"


async def test_hostile_values_in_every_option_change_nothing(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Every hostile value in every string option of every command is answered with one short
    private sentence, none of them the unexpected-error path, and nothing in the database moves;
    forged autocomplete text gets no choices, not an error."""
    async with running(tmp_path, database_url) as (w, bot):
        await prepared(w)
        services = bot.services
        await services.podcasts.setup(
            guild_id=OTHER_GUILD,
            name="Other Pod",
            youtube_channel="@thepod",
            announce_channel_id=1,
            host_role_id=2,
            admin_role_id=None,
            timezone="UTC",
        )
        other = await services.podcasts.add_episode(
            OTHER_GUILD, title="Other episode", date="2099-02-02", time=None, notes=None
        )
        before = await snapshot(engine)
        for member, name, options in hostile_calls(w, str(other.id)):
            run = await w.answer(member, name, **options)
            assert_polite(run, f"/{name} {options!r}"[:200])
        for typed in (NUL, "\u202e", "%", "_", "9" * 200):
            choices = await w.discord.autocomplete(w.guild, w.alice, "tweet show", "episode", typed)
            assert all(c["name"] != "Other episode" for c in choices), choices
        run = await w.command(w.alice, "tweet edit", episode=EPISODE)
        for text in (f"Hi{NUL}there", "\u202e\ufeff", "bell\x07"):
            run = await w.command(w.alice, "tweet edit", episode=EPISODE)
            submitted = await (await w.discord.submit_modal(run, {TEXT_FIELD: text})).wait_done()
            assert_polite(submitted, f"modal {text!r}")
        assert await snapshot(engine) == before


async def test_invisible_characters_are_stripped_where_text_is_kept(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Bidi overrides, BOMs and zero-width spaces are removed from titles, notes, the filter and
    a host's own tweet text before they are saved; emoji joiners stay."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        added = await w.answer(
            w.ana,
            "episode add",
            title="\u202eLive\ufeff \U0001f469\u200d\U0001f4bb show",
            date="2099-01-01",
            notes="Notes\u200b here, \u2066twice\u2069",
        )
        assert "Added" in added.text(), added.text()
        saved = await rows(engine, "SELECT title, notes FROM episodes WHERE title LIKE 'Live%'")
        assert saved == [
            {"title": "Live \U0001f469\u200d\U0001f4bb show", "notes": "Notes here, twice"}
        ]
        await w.answer(w.ana, "podcast filter", text="\u2066Live\u2069")
        assert await rows(engine, "SELECT title_filter FROM podcasts") == [{"title_filter": "Live"}]
        run = await w.command(w.alice, "tweet edit", episode=EPISODE)
        done = await (
            await w.discord.submit_modal(run, {TEXT_FIELD: "Join \u202eus\ufeff now"})
        ).wait_done()
        assert "Saved." in done.text(), done.text()
        assert (await tweet_row(engine, "Alice"))["custom_text"] == "Join us now"


async def test_notices_show_stream_titles_and_filters_literally(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A stream title or filter with markdown shows as typed in the notice: a masked link or
    bold text does not render."""
    async with open_pipeline(sessions) as pipe:
        setup = await pipe_podcast(
            pipe, guild_id=1, channel=channel_id(1), members=[(101, "Alice")], linked={}
        )
        await pipe.podcasts.set_filter(1, "**Ep**")
        go_live(pipe, setup.channel_id, video_id(1), title="[free](https://evil.example) *now*")
        [notice] = (await pipe.check()).notices
        assert "\\[free\\]\\(https\\://evil.example\\)" in notice.text, notice.text
        assert "\\*now\\*" in notice.text and "\\*\\*Ep\\*\\*" in notice.text, notice.text


def test_template_draft_has_no_invisible_characters() -> None:
    """The template draft drops bidi overrides and BOMs from a stored title or podcast name."""
    text = template_draft("\u202eEpisode\ufeff 1", "Alice", "Pod\u200b\u2066cast\u2069")
    assert text == template_draft("Episode 1", "Alice", "Podcast")  # the wording is per host
    assert "Podcast" in text and "Episode 1." in text


async def test_create_all_for_sixty_unlinked_hosts_fits_one_message(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/tweets create-all for 60 hosts with long names, none linked to X, answers within
    Discord's 2,000 characters, counts the hosts it could not list, and made the 60 tweets."""
    async with world(tmp_path, database_url) as w:
        for n in range(60):
            w.guild.add_member(f"host-with-a-rather-long-name-{n:02d}", roles=[w.host_role])
        async with w.bot_in_process(**QUIET):
            await setup_podcast(w)
            await add_episode(w)
            run = await w.answer(w.ana, "tweets create-all", episode=EPISODE, generate=False)
            text = run.text()
            assert "62 new tweets" in text and len(text) <= 2000, text
            assert re.search(r"and \d+ more\. They can run /x link\.", text), text
            assert await scalar(engine, "SELECT count(*) FROM episode_tweets") == 62


async def test_episode_autocomplete_is_only_for_hosts_and_admins(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """A member with neither role sees no episodes in any autocomplete list; a host and an
    admin see them."""
    async with running(tmp_path, database_url) as (w, _):
        await prepared(w)
        for member, expected in ((w.mallory, []), (w.alice, [EPISODE]), (w.ana, [EPISODE])):
            for command in ("tweet show", "tweets status"):
                choices = await w.discord.autocomplete(w.guild, member, command, "episode", "")
                assert [c["name"].split(" · ", 1)[1] for c in choices] == expected, (
                    member,
                    command,
                    choices,
                )
