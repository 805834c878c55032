"""Posting claimed tweets to each host's X account, concurrently, and recording every outcome.

Only tweets already claimed (`posting`) reach this module, so a tweet is sent at most once: an
outcome we cannot be sure of (an unexpected error mid-request) becomes `unknown`, never a retry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import AWAY
from bot.clock import utcnow
from bot.crypto import TokenCipher, TokenUnreadable
from bot.drafts import template_draft
from bot.errors import Reason, XNotConfigured, XNotLinked, new_reference
from bot.metrics import Metrics
from bot.tweet_text import compose_tweet, fits, trim_to_fit
from bot.x import PostResult, XService
from db import queries
from db.models import AttemptOutcome, Episode, EpisodeTweet, PostStatus

log = logging.getLogger("onair.posting")

MAX_ATTEMPTS = 5
RETRY_WINDOW = dt.timedelta(hours=2)


def stream_url(episode: Episode, channel_id: str) -> str:
    """The link a tweet carries: the stream once it is known; before that, the channel's live
    page (it opens whatever is on air)."""
    return episode.live_url or f"https://www.youtube.com/channel/{channel_id}/live"


def tweet_link(tweet: EpisodeTweet) -> str | None:
    """The URL appended to `tweet`, or None when its host switched the link off."""
    episode = tweet.episode
    return stream_url(episode, episode.podcast.youtube_channel_id) if tweet.include_url else None


def final_text(tweet: EpisodeTweet) -> str:
    """The exact text posted for `tweet`: the host's words or the draft (or a template), plus
    the stream URL when include_url is on, always within X's 280 weighted characters."""
    episode = tweet.episode
    url = tweet_link(tweet)
    body = tweet.text or template_draft(
        episode.title, tweet.host.display_name, episode.podcast.name
    )
    if not fits(body, url):
        body = trim_to_fit(body, url)
    return compose_tweet(body, url)


@dataclass(frozen=True)
class PostedLine:
    """What happened to one host's tweet, for the report."""

    episode_id: int
    host_name: str
    host_user_id: int
    status: PostStatus  # posted | pending (retry later) | failed | unknown | dry_run
    tweet_url: str | None
    reason: str | None
    text: str


class TweetPoster:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        x: XService,
        cipher: TokenCipher,
        *,
        dry_run: bool,
        x_limiter: AsyncLimiter,
        concurrency: int = 8,
        retry_base: dt.timedelta = dt.timedelta(seconds=30),
        clock: Callable[[], dt.datetime] = utcnow,
        metrics: Metrics | None = None,
        stagger: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._stagger = stagger.total_seconds()
        self._x = x
        self._cipher = cipher
        self._dry_run = dry_run
        self._x_limiter = x_limiter
        self._semaphore = asyncio.Semaphore(concurrency)
        self._retry_base = retry_base
        self._clock = clock
        # Set by the Discord layer: (guild id, user id, host role id) -> does the member still
        # hold the host role (None: can't tell). Checked at claim time, before each post.
        self.holds_host_role: Callable[[int, int, int], bool | None] | None = None

    def require_ready(self, tweet: EpisodeTweet) -> None:
        """Refuse before claiming a tweet that could only fail (a host posting by hand should
        link X first, not lose the tweet to a `not_linked` failure)."""
        if self._dry_run:
            return
        if not self._x.configured:
            raise XNotConfigured()
        if tweet.host.x_account is None:
            raise XNotLinked()

    async def post_claimed(self, tweet_ids: list[int]) -> list[PostedLine]:
        """Post tweets this process claimed, then record all outcomes in one transaction."""
        if not tweet_ids:
            return []
        async with self._sessions() as session:
            tweets = await queries.load_claimed(session, tweet_ids)
        away = [t for t in tweets if self._lost_host_role(t)]
        # POST_STAGGER_SECONDS: one episode's hosts post that far apart, not all at once.
        place: dict[int, int] = {}
        delays = []
        for tweet in tweets:
            if tweet not in away:
                delays.append((tweet, place.get(tweet.episode_id, 0) * self._stagger))
                place[tweet.episode_id] = place.get(tweet.episode_id, 0) + 1
        outcomes = await asyncio.gather(*(self._post_bounded(t, d) for t, d in delays))
        updates = [u for u, _, _ in outcomes] + [_held_update(t) for t in away]
        attempts = [a for _, a, _ in outcomes if a is not None]
        async with self._sessions() as session, session.begin():
            await queries.record_outcomes(session, updates, attempts)
            await queries.mark_hosts_away(session, [t.host_id for t in away], self._clock())
        if self._metrics is not None:
            self._metrics.post_attempts(attempts)
        return [line for _, _, line in outcomes] + [_held_line(t) for t in away]

    def _lost_host_role(self, tweet: EpisodeTweet) -> bool:
        """The member left or lost the host role and we missed the event: hold, don't post."""
        if self.holds_host_role is None:
            return False
        podcast = tweet.episode.podcast
        return (
            self.holds_host_role(podcast.guild_id, tweet.host.discord_user_id, podcast.host_role_id)
            is False
        )

    async def _post_bounded(
        self, tweet: EpisodeTweet, delay: float = 0
    ) -> tuple[dict[str, object], dict[str, object] | None, PostedLine]:
        if delay:
            await asyncio.sleep(delay)
        async with self._semaphore:
            return await self._post_one(tweet)

    async def _post_one(
        self, tweet: EpisodeTweet
    ) -> tuple[dict[str, object], dict[str, object] | None, PostedLine]:
        now = self._clock()
        text = final_text(tweet)
        update: dict[str, object] = {
            "tid": tweet.id,
            "status": PostStatus.FAILED,
            "tweet_id": None,
            "tweet_url": None,
            "failure_reason": None,
            "next_attempt_at": None,
            "posted_at": None,
        }
        attempt: dict[str, object] = {
            "episode_tweet_id": tweet.id,
            "attempt_no": tweet.attempts,
            "outcome": AttemptOutcome.FAILED,
            "reason": None,
            "http_status": None,
            "duration_ms": 0,
        }
        account = tweet.host.x_account
        if self._dry_run:
            update["status"] = PostStatus.DRY_RUN
            attempt["outcome"] = AttemptOutcome.DRY_RUN
        elif not self._x.configured:
            update["failure_reason"] = attempt["reason"] = Reason.NOT_CONFIGURED
        elif account is None:
            update["failure_reason"] = attempt["reason"] = Reason.NOT_LINKED
        else:
            try:
                token = self._cipher.decrypt(account.access_token_encrypted)
                secret = self._cipher.decrypt(account.access_token_secret_encrypted)
            except TokenUnreadable:
                update["failure_reason"] = attempt["reason"] = Reason.TOKEN_UNREADABLE
            else:
                try:
                    async with self._x_limiter:
                        result = await self._x.post_tweet(token, secret, text)
                except Exception:
                    # We can't tell whether X got it: a person must check, never a blind retry.
                    ref = new_reference()
                    log.exception(
                        "posting tweet %s failed unexpectedly (ref %s)",
                        tweet.id,
                        ref,
                        extra={"ref": ref, "tweet_id": tweet.id, "episode_id": tweet.episode_id},
                    )
                    update.update(status=PostStatus.UNKNOWN, failure_reason=Reason.UNEXPECTED)
                    attempt.update(outcome=AttemptOutcome.UNKNOWN, reason=Reason.UNEXPECTED)
                else:
                    attempt.update(
                        outcome=AttemptOutcome(result.outcome),
                        reason=result.reason_code,
                        http_status=result.http_status,
                        duration_ms=result.duration_ms or 0,
                    )
                    self._apply_result(tweet, account.username, result, now, update)
                    if (
                        update["status"] != PostStatus.PENDING
                        and attempt["outcome"] == AttemptOutcome.RETRY
                    ):
                        attempt["outcome"] = AttemptOutcome.FAILED  # retries ran out
        line = PostedLine(
            episode_id=tweet.episode_id,
            host_name=tweet.host.display_name,
            host_user_id=tweet.host.discord_user_id,
            status=PostStatus(update["status"]),
            tweet_url=update["tweet_url"],  # type: ignore[arg-type]
            reason=update["failure_reason"],  # type: ignore[arg-type]
            text=text,
        )
        return update, attempt, line

    def _apply_result(
        self,
        tweet: EpisodeTweet,
        username: str,
        result: PostResult,
        now: dt.datetime,
        update: dict[str, object],
    ) -> None:
        if result.outcome == AttemptOutcome.POSTED:
            update.update(
                status=PostStatus.POSTED,
                tweet_id=result.tweet_id,
                tweet_url=f"https://x.com/{username}/status/{result.tweet_id}",
                posted_at=now,
            )
            return
        if result.outcome == AttemptOutcome.RETRY:
            started = tweet.episode.went_live_at or now
            retry_at = result.retry_at or now + self._retry_base * 2 ** max(tweet.attempts - 1, 0)
            if tweet.attempts < MAX_ATTEMPTS and retry_at <= started + RETRY_WINDOW:
                update.update(
                    status=PostStatus.PENDING,
                    failure_reason=result.reason_code,
                    next_attempt_at=retry_at,
                )
                return
        if result.reason_code == Reason.DUPLICATE and tweet.attempts > 1:
            # An earlier attempt timed out after X may have accepted it: a person checks.
            update.update(status=PostStatus.UNKNOWN, failure_reason=Reason.INTERRUPTED)
            return
        update.update(status=PostStatus.FAILED, failure_reason=result.reason_code)


def _held_update(tweet: EpisodeTweet) -> dict[str, object]:
    """Back to pending, unposted: the tweet posts again only if its host gets the role back."""
    return {
        "tid": tweet.id,
        "status": PostStatus.PENDING,
        "tweet_id": None,
        "tweet_url": None,
        "failure_reason": AWAY,
        "next_attempt_at": None,
        "posted_at": None,
    }


def _held_line(tweet: EpisodeTweet) -> PostedLine:
    return PostedLine(
        episode_id=tweet.episode_id,
        host_name=tweet.host.display_name,
        host_user_id=tweet.host.discord_user_id,
        status=PostStatus.PENDING,
        tweet_url=None,
        reason=AWAY,
        text=final_text(tweet),
    )
