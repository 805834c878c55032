"""Shared set-up for the command-level tests: a running bot, a podcast, episodes, tweets, X links.

Everything goes through slash commands as a member would type them; the database is only read
(through the test's `engine`) to check what a command saved or refused to save.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.emulators.discord_api import InteractionRun, Member
from tests.rig import CHANNEL_ID, World, world

# The background live check would otherwise poll YouTube and the database every second.
QUIET = {
    "LIVE_CHECK_INTERVAL_SECONDS": "3600",
    "FAST_CHECK_INTERVAL_SECONDS": "3600",
    "READINESS_CHECK_SECONDS": "3600",
}
EPISODE = "Episode One"
NOTES = "We talk about tiny gardens on balconies."


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    database_url: str,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    **overrides: str,
) -> AsyncIterator[tuple[World, Any]]:
    """The emulated world with the in-process bot connected (background checks quiet)."""
    async with (
        world(tmp_path, database_url) as w,
        w.bot_in_process(clock=clock, **{**QUIET, **overrides}) as bot,
    ):
        yield w, bot


def today() -> dt.date:
    """The podcast's 'today' (the default timezone is UTC)."""
    return dt.datetime.now(dt.UTC).date()


def day(offset: int) -> str:
    return (today() + dt.timedelta(days=offset)).isoformat()


async def answer_setup(w: World, **options: Any) -> InteractionRun:
    """/podcast setup as ana, with the rig's channel, announce channel and host role unless
    `options` say otherwise; whatever the answer."""
    values: dict[str, Any] = {
        "name": "The Pod",
        "youtube_channel": "@thepod",
        "announce_channel": w.announce,
        "host_role": w.host_role,
    }
    values.update(options)
    return await w.answer(w.ana, "podcast setup", **values)


async def setup_podcast(w: World, **options: Any) -> InteractionRun:
    """/podcast setup as ana (see answer_setup), which must be saved."""
    run = await answer_setup(w, **options)
    assert "Saved" in run.text(), run.text()
    return run


async def add_episode(
    w: World, title: str = EPISODE, *, days_ahead: int = 7, notes: str | None = NOTES, **more: Any
) -> str:
    """/episode add as ana; returns the title (commands accept an exact title as the episode)."""
    options: dict[str, Any] = {"title": title, "date": day(days_ahead), **more}
    if notes is not None:
        options["notes"] = notes
    run = await w.answer(w.ana, "episode add", **options)
    assert "Added" in run.text(), run.text()
    return title


async def create_tweets(
    w: World, episode: str = EPISODE, *, generate: bool = True
) -> InteractionRun:
    run = await w.answer(w.ana, "tweets create-all", episode=episode, generate=generate)
    await finished_drafting(w, run)
    assert "new tweets" in run.text(), run.text()
    return run


async def finished_drafting(w: World, run: InteractionRun, timeout: float = 10) -> None:
    """create-all's progress edit ("Drafting… 1/2") already counts as an answer: wait for more."""
    await w.discord.wait_until(
        lambda: "Drafting…" not in run.content, timeout, "create-all to finish drafting"
    )


async def prepared(w: World, *, generate: bool = True) -> str:
    """A podcast, one episode next week with notes, and a tweet for alice and bob."""
    await setup_podcast(w)
    episode = await add_episode(w)
    await create_tweets(w, episode, generate=generate)
    return episode


def authorize_url(run: InteractionRun) -> str:
    """The X authorize link from a /x link answer (its link button)."""
    for message in run.messages:
        for button in message.buttons():
            if button.get("url"):
                return str(button["url"])
    raise AssertionError(f"no link button in {run.describe()}: {run.text()}")


def request_token_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["oauth_token"][0]


async def link_x(w: World, member: Member, username: str) -> InteractionRun:
    """The whole PIN flow: /x link, the member approves on X, /x verify with the PIN."""
    link = await w.answer(member, "x link")
    pin = w.x.authorize(request_token_of(authorize_url(link)), username)
    run = await w.answer(member, "x verify", pin=pin)
    assert f"Linked @{username}" in run.text(), run.text()
    return run


async def rows(engine: AsyncEngine, sql: str, **params: object) -> list[Mapping[str, Any]]:
    """Read the database the bot writes (assertions only; tests never write through here)."""
    async with engine.connect() as conn:
        result = await conn.execute(sa.text(sql), params)
        return [dict(row) for row in result.mappings()]


async def scalar(engine: AsyncEngine, sql: str, **params: object) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def tweet_row(engine: AsyncEngine, display_name: str) -> Mapping[str, Any]:
    """The one episode tweet of the host called `display_name`."""
    found = await rows(
        engine,
        "SELECT t.* FROM episode_tweets t JOIN hosts h ON h.id = t.host_id "
        "WHERE h.display_name = :name",
        name=display_name,
    )
    assert len(found) == 1, found
    return found[0]


def assert_one_private_line(run: InteractionRun, *words: str) -> None:
    """The answer is one ephemeral sentence containing every one of `words`."""
    text = run.text()
    assert run.ephemeral, f"{run.describe()} is visible to everyone: {text!r}"
    assert text and "\n" not in text.strip(), f"not one line: {text!r}"
    assert not run.embeds, f"a refusal should be plain text, got embeds {run.embeds}"
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


__all__ = [
    "CHANNEL_ID",
    "EPISODE",
    "NOTES",
    "QUIET",
    "add_episode",
    "assert_one_private_line",
    "authorize_url",
    "create_tweets",
    "day",
    "finished_drafting",
    "link_x",
    "prepared",
    "request_token_of",
    "rows",
    "running",
    "scalar",
    "setup_podcast",
    "today",
    "tweet_row",
]
