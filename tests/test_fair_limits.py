"""Fair limits: posting at go-live has its own X budget, commands that call X are limited per
member and per server and refused ("try again in N s") rather than queued, and each server's
AI drafting has a share per minute and a daily budget."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.drafts import DRAFT_MAX_TOKENS, Drafter
from bot.errors import AIBudgetUsed, RateLimited
from bot.ratelimit import SharedBudget
from bot.tweets import TweetService
from tests.command_helpers import (
    CHANNEL_ID,
    add_episode,
    answer_setup,
    create_tweets,
    link_x,
    request_token_of,
    running,
    setup_podcast,
    tweet_row,
)
from tests.emulators.openai_api import OpenAIEmulator
from tests.pipeline_helpers import Pipeline, channel_id, open_pipeline
from tests.pipeline_helpers import setup_podcast as pipe_podcast

SLOW_DOWN = re.compile(r"^Slow down a little: try again in \d+ s\.$")
OTHER_GUILD = 555_000_000_000_000_002


async def test_go_live_posts_are_not_delayed_while_another_server_hammers_x_status(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """Another server's host asks X about their link 200 times at once (more than the whole
    command budget for minutes); meanwhile this server goes live and alice's tweet is posted
    within seconds, because posting has an X budget no command can touch."""
    async with running(tmp_path, database_url) as (w, bot):
        services = bot.services
        await setup_podcast(w, require_approval=False)
        await add_episode(w, days_ahead=0)
        await link_x(w, w.alice, "alice")
        await create_tweets(w, generate=False)
        await services.podcasts.setup(
            guild_id=OTHER_GUILD,
            name="Noisy Pod",
            youtube_channel=CHANNEL_ID,
            announce_channel_id=1,
            host_role_id=2,
            admin_role_id=None,
            timezone="UTC",
        )
        url = await services.linking.start(OTHER_GUILD, 42)
        pin = w.x.authorize(request_token_of(url), "noisy")
        await services.linking.verify(OTHER_GUILD, 42, "Noisy", pin)
        hammer = [asyncio.create_task(services.linking.status(OTHER_GUILD, 42)) for _ in range(200)]
        try:
            await asyncio.sleep(0.5)  # the hammering has used the command budget
            w.youtube.schedule_stream(
                CHANNEL_ID,
                "live0000001",
                "Episode One live",
                scheduled_start=dt.datetime.now(dt.UTC),
            )
            w.youtube.start_stream("live0000001")
            started = time.monotonic()
            await services.checker.run_check()
            await services.poster.drain()
            took = time.monotonic() - started
            assert (await tweet_row(engine, "Alice"))["status"] == "posted"
            assert took < 10, f"posting waited {took:.1f} s behind the commands"
            assert sum(t.done() for t in hammer) < 100, "the command budget isn't limiting"
        finally:
            for task in hammer:
                task.cancel()
            await asyncio.gather(*hammer, return_exceptions=True)


async def test_x_commands_are_limited_per_member_and_per_server(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """The sixth /x status of a member in a minute is refused with "try again in N s"; other
    members go on until the server's share of X calls (10 a minute) is used, then they are
    refused too; nothing is queued behind the refusals."""
    async with running(tmp_path, database_url) as (w, _):
        await setup_podcast(w)
        carol = w.guild.add_member("carol", roles=[w.host_role])
        for _ in range(5):
            run = await w.answer(w.alice, "x status")
            assert not SLOW_DOWN.match(run.text()), run.text()
        slowed = await w.answer(w.alice, "x status")
        assert SLOW_DOWN.match(slowed.text()) and not slowed.deferred, slowed.text()
        for _ in range(5):
            run = await w.answer(w.bob, "x status")
            assert not SLOW_DOWN.match(run.text()), run.text()
        shared = await w.answer(carol, "x status")
        assert SLOW_DOWN.match(shared.text()), shared.text()


async def test_podcast_setup_is_limited_per_member(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/podcast setup resolves the channel on YouTube, so the eleventh in a minute is refused
    before YouTube is asked."""
    async with running(tmp_path, database_url) as (w, _):
        for _ in range(10):
            await setup_podcast(w)
        calls = len(w.youtube.requests)
        run = await answer_setup(w)
        assert SLOW_DOWN.match(run.text()), run.text()
        assert len(w.youtube.requests) == calls


@pytest.fixture
async def openai_emu() -> object:
    async with OpenAIEmulator() as emu:
        yield emu


def drafting(pipe: Pipeline, drafter: Drafter, *, per_server: int, daily: int) -> TweetService:
    return TweetService(
        pipe.sessions,
        drafter,
        pipe.poster,
        ai_limiter=AsyncLimiter(1000, 1),
        ai_budget=SharedBudget(total=100, per_server=per_server),
        ai_daily_drafts=daily,
        clock=pipe.clock,
    )


async def test_each_server_has_an_ai_share_per_minute(
    sessions: async_sessionmaker[AsyncSession], openai_emu: OpenAIEmulator
) -> None:
    """With a share of 2 drafts a minute, create-all for 3 hosts drafts 2 with AI (max_tokens
    set) and 1 from the template, without waiting; a /tweet generate then is refused with the
    wait and asks no AI; another server still gets its AI drafts."""
    async with open_pipeline(sessions) as pipe:
        drafter = Drafter(api_key=openai_emu.api_key, base_url=openai_emu.base_url + "/v1")
        tweets = drafting(pipe, drafter, per_server=2, daily=100)
        try:
            members = [(101, "Ann"), (102, "Ben"), (103, "Cat")]
            one = await pipe_podcast(pipe, guild_id=1, channel=channel_id(1), members=[], linked={})
            result = await tweets.create_all(1, str(one.episode_id), members, generate=True)
            assert (result.drafted, result.fallbacks) == (3, 1)
            assert len(openai_emu.completion_requests) == 2
            assert all(
                r.get("max_tokens") == DRAFT_MAX_TOKENS for r in openai_emu.completion_requests
            )
            with pytest.raises(RateLimited):
                await tweets.generate(1, 101, "Ann", str(one.episode_id))
            assert len(openai_emu.completion_requests) == 2
            two = await pipe_podcast(pipe, guild_id=2, channel=channel_id(2), members=[], linked={})
            _, fallback = await tweets.generate(2, 201, "Dee", str(two.episode_id))
            assert not fallback and len(openai_emu.completion_requests) == 3
        finally:
            await drafter.aclose()


async def test_each_server_has_a_daily_ai_budget(
    sessions: async_sessionmaker[AsyncSession], openai_emu: OpenAIEmulator
) -> None:
    """With AI_DAILY_DRAFTS_PER_SERVER at 1, the second /tweet generate of the day says the
    budget is used (and asks no AI), create-all falls back to templates, and another server's
    budget is its own."""
    async with open_pipeline(sessions) as pipe:
        drafter = Drafter(api_key=openai_emu.api_key, base_url=openai_emu.base_url + "/v1")
        tweets = drafting(pipe, drafter, per_server=100, daily=1)
        try:
            one = await pipe_podcast(pipe, guild_id=1, channel=channel_id(1), members=[], linked={})
            _, fallback = await tweets.generate(1, 101, "Ann", str(one.episode_id))
            assert not fallback
            with pytest.raises(AIBudgetUsed):
                await tweets.generate(1, 102, "Ben", str(one.episode_id))
            result = await tweets.create_all(1, str(one.episode_id), [(103, "Cat")], generate=True)
            assert (result.drafted, result.fallbacks) == (1, 1)
            assert len(openai_emu.completion_requests) == 1
            two = await pipe_podcast(pipe, guild_id=2, channel=channel_id(2), members=[], linked={})
            _, fallback = await tweets.generate(2, 201, "Dee", str(two.episode_id))
            assert not fallback and len(openai_emu.completion_requests) == 2
        finally:
            await drafter.aclose()
