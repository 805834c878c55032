"""Each host's tweet for each episode: create, draft, edit, switch on or off, post now.

A host only ever reaches their own tweet: every method takes the caller's user id and looks the
tweet up by (episode, that host). Changes take the tweet's row lock, the same lock the live
check's claim takes, so a change either lands before a claim or sees `posting`/`posted`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import hold_reason, needs_approval
from bot.clock import utcnow
from bot.drafts import Draft, Drafter
from bot.errors import (
    LOCKED_STATE_WORDS,
    AIBudgetUsed,
    InvalidInput,
    PodcastNotSetUp,
    RateLimited,
    TweetEmpty,
    TweetHeld,
    TweetLocked,
    TweetNotFound,
    TweetTooLong,
)
from bot.live_check import HostLine, host_line
from bot.podcasts import episode_id_in, resolve_episode
from bot.posting import PostedLine, TweetPoster, final_text, stream_url, tweet_link
from bot.ratelimit import SharedBudget
from bot.tweet_text import validate_custom_text, weighted_length
from bot.user_text import clean_input
from db import queries
from db.engine import single_read
from db.models import Episode, EpisodeTweet, Podcast, PostStatus

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class TweetPreview:
    """Everything `/tweet show` displays about the caller's tweet."""

    episode_id: int
    episode_title: str
    text: str
    weighted_length: int
    status: PostStatus
    enabled: bool
    include_url: bool
    is_custom: bool
    is_fallback: bool
    tweet_url: str | None
    failure: str | None
    linked_username: str | None
    approved: bool
    needs_approval: bool  # it won't post until its host approves it
    hold: str | None  # bot.approval.HELD or AWAY while held


@dataclass(frozen=True)
class CreateAllResult:
    episode_title: str
    created: int
    kept: int
    drafted: int
    fallbacks: int
    unlinked: list[str]


@dataclass(frozen=True)
class EpisodeStatus:
    episode_title: str
    stream_url: str | None
    lines: list[HostLine]


@dataclass(frozen=True)
class PostNowResult:
    preview: TweetPreview
    line: PostedLine


class TweetService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        drafter: Drafter,
        poster: TweetPoster,
        *,
        ai_limiter: AsyncLimiter,
        ai_budget: SharedBudget | None = None,
        ai_daily_drafts: int | None = None,
        draft_concurrency: int = 4,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._drafter = drafter
        self._poster = poster
        self._ai_limiter = ai_limiter
        self._ai_budget = ai_budget  # each server's share per minute; None: no shares
        self._ai_daily_drafts = ai_daily_drafts  # per server and UTC day; None: unlimited
        self._draft_concurrency = draft_concurrency
        self._clock = clock

    # -- admin ------------------------------------------------------------------------------

    async def create_all(
        self,
        guild_id: int,
        episode: str,
        members: Sequence[tuple[int, str]],
        *,
        generate: bool,
        progress: Progress | None = None,
    ) -> CreateAllResult:
        """A tweet for every host-role member; existing tweets are kept as they are."""
        async with self._sessions() as session, session.begin():
            podcast = await _require_podcast(session, guild_id)
            found = await resolve_episode(session, podcast.id, episode)
            host_ids = await queries.upsert_hosts(session, podcast.id, members)
            created_hosts = await queries.insert_missing_tweets(
                session, found.id, host_ids.values()
            )
            linked = await queries.linked_user_ids(session, podcast.id)
        drafted = fallbacks = 0
        if generate and created_hosts:
            async with self._sessions() as session:
                tweets = [
                    t
                    for t in await queries.tweets_of_episode(session, found.id)
                    if t.host_id in created_hosts
                ]
            granted = await self._reserve_ai(podcast, len(tweets))
            drafts = await self._draft_many(podcast, found, tweets, progress, granted)
            async with self._sessions() as session, session.begin():
                await queries.save_drafts(session, drafts)
            drafted = len(drafts)
            fallbacks = sum(1 for d in drafts if d["draft_is_fallback"])
        names = dict(members)
        return CreateAllResult(
            episode_title=found.title,
            created=len(created_hosts),
            kept=len(host_ids) - len(created_hosts),
            drafted=drafted,
            fallbacks=fallbacks,
            unlinked=sorted(names[uid] for uid in host_ids if uid not in linked),
        )

    async def _draft_many(
        self,
        podcast: Podcast,
        episode: Episode,
        tweets: list[EpisodeTweet],
        progress: Progress | None,
        granted: int,
    ) -> list[dict[str, object]]:
        """Drafts for `tweets`: the first `granted` (today's AI budget) with AI while the
        server's share per minute lasts, the rest from the template. Nothing queues."""
        semaphore = asyncio.Semaphore(self._draft_concurrency)
        done = 0

        async def one(index: int, tweet: EpisodeTweet) -> dict[str, object]:
            nonlocal done
            async with semaphore:
                draft = await self._draft(
                    podcast, episode, tweet.host.display_name, ai=index < granted
                )
            done += 1
            if progress is not None:
                await progress(done, len(tweets))
            return {
                "id": tweet.id,
                "generated_text": draft.text,
                "draft_is_fallback": draft.fallback,
            }

        return list(await asyncio.gather(*(one(i, t) for i, t in enumerate(tweets))))

    async def _reserve_ai(self, podcast: Podcast, wanted: int) -> int:
        """How many of `wanted` drafts today's AI budget (AI_DAILY_DRAFTS_PER_SERVER) allows."""
        if self._ai_daily_drafts is None or not self._drafter.ai_enabled:
            return wanted
        async with self._sessions() as session, session.begin():
            return await queries.reserve_ai_drafts(
                session, podcast.id, self._clock().date(), wanted, self._ai_daily_drafts
            )

    async def _draft(
        self,
        podcast: Podcast,
        episode: Episode,
        host_name: str,
        *,
        ai: bool = True,
        counted: bool = False,
    ) -> Draft:
        """One draft; `ai` False or no share left: the template. `counted`: the caller took
        this draft's share already."""
        url = stream_url(episode, podcast.youtube_channel_id)
        if ai and not counted and self._ai_budget is not None and self._drafter.ai_enabled:
            try:
                await self._ai_budget.take(podcast.guild_id)
            except RateLimited:
                ai = False
        if not ai:
            return self._drafter.over_budget(episode.title, host_name, url, podcast.name)
        async with self._ai_limiter:
            return await self._drafter.draft(
                episode_title=episode.title,
                notes=episode.notes,
                host_name=host_name,
                stream_url=url,
                podcast_name=podcast.name,
            )

    async def status(self, guild_id: int, episode: str) -> EpisodeStatus:
        async with self._sessions() as session:
            podcast = await _require_podcast(session, guild_id)
            found = await resolve_episode(session, podcast.id, episode)
            tweets = await queries.tweets_of_episode(session, found.id)
        return EpisodeStatus(
            found.title,
            found.live_url,
            [host_line(t, require_approval=podcast.require_approval) for t in tweets],
        )

    # -- host: always the caller's own tweet --------------------------------------------------

    async def show(self, guild_id: int, user_id: int, episode: str) -> TweetPreview:
        """One statement when the tweet is there; when it isn't, the step-by-step lookup says
        what is missing (no podcast, no such episode, no tweet for this host)."""
        async with single_read(self._sessions) as session:
            tweet = await queries.find_own_tweet(
                session, guild_id, user_id, episode_id=episode_id_in(episode), title=episode.strip()
            )
        if tweet is None:
            async with self._sessions() as session:
                tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=False)
        return _preview(tweet)

    async def generate(
        self, guild_id: int, user_id: int, display_name: str, episode: str
    ) -> tuple[TweetPreview, bool]:
        """A fresh AI draft (creating the caller's tweet if needed); returns (preview, fallback).
        A custom text the host wrote is dropped: asking for a draft means wanting the draft.
        Over the server's AI share: refused ("try again in N s"), nothing changed."""
        async with self._sessions() as session:
            podcast = await _require_podcast(session, guild_id)
            await resolve_episode(session, podcast.id, episode)
        if self._drafter.ai_enabled and self._ai_budget is not None:
            await self._ai_budget.take(guild_id)
        if not await self._reserve_ai(podcast, 1):
            raise AIBudgetUsed(limit=self._ai_daily_drafts)
        async with self._sessions() as session, session.begin():
            podcast = await _require_podcast(session, guild_id)
            found = await resolve_episode(session, podcast.id, episode)
            host_ids = await queries.upsert_hosts(session, podcast.id, [(user_id, display_name)])
            await queries.insert_missing_tweets(session, found.id, host_ids.values())
            tweet = await queries.get_host_tweet(session, found.id, host_ids[user_id], lock=True)
            if tweet is not None:
                _require_changeable(tweet, found)
        draft = await self._draft(podcast, found, display_name, counted=True)
        async with self._sessions() as session, session.begin():
            tweet = await self._own_tweet(session, guild_id, user_id, str(found.id), lock=True)
            _require_changeable(tweet, tweet.episode)
            tweet.generated_text = draft.text
            tweet.draft_is_fallback = draft.fallback
            tweet.custom_text = None
            tweet.approved = False  # a new draft waits for its host's approval
            await session.flush()
            return _preview(tweet), draft.fallback

    async def edit(self, guild_id: int, user_id: int, episode: str, text: str) -> TweetPreview:
        """Save the host's own words, validated with X's weighted length; too long: nothing saved."""
        async with self._sessions() as session, session.begin():
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=True)
            _require_changeable(tweet, tweet.episode)
            url = tweet_link(tweet)
            text = clean_input(text, "Your tweet", multiline=True)
            ok, count, problem = validate_custom_text(text, url)
            if problem == "empty":
                raise TweetEmpty()
            if problem == "invalid_characters":
                raise InvalidInput(
                    problem="That text has characters X doesn't accept. Remove them and try again."
                )
            if not ok:
                raise TweetTooLong(
                    count=count, url_note=" with the stream link (23)" if url else ""
                )
            tweet.custom_text = text.strip()
            tweet.approved = True  # writing the text is approving it
            await session.flush()
            return _preview(tweet)

    async def approve(self, guild_id: int, user_id: int, episode: str) -> TweetPreview:
        """The host approves the current text for posting (/tweet approve, the Approve button)."""
        async with self._sessions() as session, session.begin():
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=True)
            _require_changeable(tweet, tweet.episode)
            tweet.approved = True
            await session.flush()
            return _preview(tweet)

    async def set_autopost(
        self, guild_id: int, user_id: int, display_name: str, enabled: bool
    ) -> None:
        """The host's drafts post without their approval (or, switched off, wait for it again)."""
        async with self._sessions() as session, session.begin():
            podcast = await _require_podcast(session, guild_id)
            host_ids = await queries.upsert_hosts(session, podcast.id, [(user_id, display_name)])
            await queries.set_autopost(session, host_ids[user_id], enabled)

    async def current_text(self, guild_id: int, user_id: int, episode: str) -> tuple[int, str]:
        """(episode id, the body the edit modal starts from); refuses if it can't change."""
        async with self._sessions() as session:
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=False)
            _require_changeable(tweet, tweet.episode)
            return tweet.episode_id, tweet.text or ""

    async def set_enabled(
        self, guild_id: int, user_id: int, episode: str, enabled: bool
    ) -> TweetPreview:
        """Switch the caller's tweet on or off under its row lock: if the live check claimed it
        first, this waits for that claim and then refuses, saying it is being posted."""
        async with self._sessions() as session, session.begin():
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=True)
            _require_changeable(tweet, tweet.episode)
            tweet.enabled = enabled
            await session.flush()
            return _preview(tweet)

    async def set_include_url(
        self, guild_id: int, user_id: int, episode: str, include: bool
    ) -> TweetPreview:
        """Append the stream link or not; the host's own text must still fit with it."""
        async with self._sessions() as session, session.begin():
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=True)
            _require_changeable(tweet, tweet.episode)
            if include and tweet.custom_text:
                url = stream_url(tweet.episode, tweet.episode.podcast.youtube_channel_id)
                ok, count, _ = validate_custom_text(tweet.custom_text, url)
                if not ok:
                    raise TweetTooLong(count=count, url_note=" with the stream link (23)")
            tweet.include_url = include
            await session.flush()
            return _preview(tweet)

    async def post_now(self, guild_id: int, user_id: int, episode: str) -> PostNowResult:
        async with self._sessions() as session, session.begin():
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=True)
            _require_changeable(tweet, tweet.episode)
            if not tweet.enabled:
                raise TweetLocked(title=tweet.episode.title, state="disabled: enable it first")
            if hold_reason(tweet) is not None:
                raise TweetHeld(title=tweet.episode.title)
            self._poster.require_ready(tweet)
            tweet.approved = True  # posting it by hand is approving it
            await session.flush()
            await queries.claim_host_tweet(session, tweet.id, self._clock())
            claimed = {tweet.id: tweet.episode_id}
        [line] = await self._poster.post_claimed(claimed)
        async with self._sessions() as session:
            tweet = await self._own_tweet(session, guild_id, user_id, episode, lock=False)
            return PostNowResult(_preview(tweet), line)

    async def _own_tweet(
        self, session: AsyncSession, guild_id: int, user_id: int, episode: str, *, lock: bool
    ) -> EpisodeTweet:
        podcast = await _require_podcast(session, guild_id)
        found = await resolve_episode(session, podcast.id, episode)
        host = await queries.get_host(session, podcast.id, user_id)
        tweet = None
        if host is not None:
            tweet = await queries.get_host_tweet(session, found.id, host.id, lock=lock)
        if tweet is None:
            raise TweetNotFound(title=found.title)
        return tweet


async def _require_podcast(session: AsyncSession, guild_id: int) -> Podcast:
    podcast = await queries.get_podcast_by_guild(session, guild_id)
    if podcast is None:
        raise PodcastNotSetUp()
    return podcast


def _require_changeable(tweet: EpisodeTweet, episode: Episode) -> None:
    if not tweet.status.changeable:
        raise TweetLocked(
            title=episode.title, state=LOCKED_STATE_WORDS.get(tweet.status, tweet.status)
        )


def _preview(tweet: EpisodeTweet) -> TweetPreview:
    text = final_text(tweet)
    account = tweet.host.x_account
    return TweetPreview(
        episode_id=tweet.episode_id,
        episode_title=tweet.episode.title,
        text=text,
        weighted_length=weighted_length(text),
        status=tweet.status,
        enabled=tweet.enabled,
        include_url=tweet.include_url,
        is_custom=bool(tweet.custom_text),
        is_fallback=tweet.draft_is_fallback and not tweet.custom_text,
        tweet_url=tweet.tweet_url,
        failure=tweet.failure_reason,
        linked_username=account.username if account is not None else None,
        approved=tweet.approved,
        needs_approval=needs_approval(tweet, tweet.episode.podcast.require_approval),
        hold=hold_reason(tweet),
    )
