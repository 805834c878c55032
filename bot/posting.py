"""Posting claimed tweets: claim, post, decide, record.

Only tweets already claimed (`posting`) reach this module, so a tweet is sent at most once. Each
tweet is posted through the `Publisher`, the answer goes through `decide` (pure: no I/O, tested
as a table), and the outcome is handed to the `OutcomeRecorder`, which writes it within about a
second of the answer and keeps it while the database is down. An answer we cannot be sure of
becomes `unknown`, never a blind retry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import AWAY
from bot.clock import utcnow
from bot.crypto import TokenCipher, TokenUnreadable
from bot.drafts import template_draft
from bot.errors import CATALOGUE, Party, Reason, XNotConfigured, XNotLinked, new_reference
from bot.metrics import Metrics
from bot.publisher import PostResult, Publisher, credentials_of
from bot.tweet_text import compose_tweet, fits, trim_to_fit
from db import queries
from db.models import AttemptOutcome, Episode, EpisodeTweet, PostStatus
from db.queries import AttemptRow, OutcomeRow

log = logging.getLogger("onair.posting")

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


# ---- the decision (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When a passing failure is tried again.

    The delay counts from the failed *answer* and is never shorter than `min_delay` (the
    request timeout), so a retry never races a first request X may still be processing."""

    max_attempts: int = 5
    window: dt.timedelta = RETRY_WINDOW  # from the stream's start (or the first claim)
    base_delay: dt.timedelta = dt.timedelta(seconds=30)  # doubles per attempt
    min_delay: dt.timedelta = dt.timedelta(seconds=10)
    app_delay: dt.timedelta = dt.timedelta(minutes=5)  # an app-level problem: ask again after


@dataclass(frozen=True)
class TweetState:
    """What the decision needs to know about a claimed tweet."""

    attempts: int  # including the try being decided
    window_start: dt.datetime  # when the stream went live (or when a host posted by hand)
    previous_reason: str | None = None  # why the try before this one did not post


@dataclass(frozen=True)
class Transition:
    """Where a tweet goes after one answer, and how its attempt row reads."""

    status: PostStatus
    outcome: AttemptOutcome
    reason: Reason | None = None
    next_attempt_at: dt.datetime | None = None
    refund_attempt: bool = False  # the app's problem, not the host's: this try is not counted


# After these, X may have accepted the request even though we did not see it say so.
_MAYBE_ACCEPTED = frozenset(
    {Reason.TIMEOUT, Reason.BAD_RESPONSE, Reason.NETWORK_ERROR, Reason.SERVER_ERROR}
)


def decide(
    state: TweetState, result: PostResult, now: dt.datetime, policy: RetryPolicy
) -> Transition:
    """The transition for one X answer (`now`: when it came). No I/O."""
    if result.accepted:
        return Transition(PostStatus.POSTED, AttemptOutcome.POSTED)
    reason = result.reason or Reason.UNEXPECTED
    if reason is Reason.UNEXPECTED:
        return Transition(PostStatus.UNKNOWN, AttemptOutcome.UNKNOWN, reason)
    if reason is Reason.DUPLICATE and state.previous_reason in _MAYBE_ACCEPTED:
        # The try before went unanswered, so X most likely has that one. Nobody stopped: say
        # X may already have it, and let a person check.
        return Transition(PostStatus.UNKNOWN, AttemptOutcome.UNKNOWN, Reason.DUPLICATE_AFTER_RETRY)
    info = CATALOGUE[reason]
    if info.retryable:
        app_problem = info.party is Party.APP
        if app_problem:
            retry_at = max(result.retry_at or now, now + policy.app_delay)
        else:
            backoff = policy.base_delay * 2 ** max(state.attempts - 1, 0)
            retry_at = result.retry_at or now + max(backoff, policy.min_delay)
        in_window = retry_at <= state.window_start + policy.window
        if in_window and (app_problem or state.attempts < policy.max_attempts):
            return Transition(
                PostStatus.PENDING, AttemptOutcome.RETRY, reason, retry_at, app_problem
            )
    return Transition(PostStatus.FAILED, AttemptOutcome.FAILED, reason)


def held(reason: Reason, until: dt.datetime) -> Transition:
    """A claimed tweet not sent because the app itself can't post right now (credits, caps):
    back to pending, its attempt not counted."""
    return Transition(PostStatus.PENDING, AttemptOutcome.RETRY, reason, until, True)


# ---- recording ---------------------------------------------------------------------------------


class OutcomeRecorder:
    """Writes outcomes in small batches within `flush_every` of X's answer, so a crash loses at
    most the posts in flight. While the database is down the outcomes stay here and are written
    when it is back (X already has those tweets: they must not turn `unknown`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_every: float = 0.5,
        retry_every: float = 2.0,
    ) -> None:
        self._sessions = sessions
        self._flush_every = flush_every
        self._retry_every = retry_every
        self._rows: list[OutcomeRow] = []
        self._attempts: list[AttemptRow] = []
        self._write_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Outcomes not written yet."""
        return len(self._rows)

    def add(self, row: OutcomeRow, attempt: AttemptRow | None) -> None:
        self._rows.append(row)
        if attempt is not None:
            self._attempts.append(attempt)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        delay = self._flush_every
        while True:
            await asyncio.sleep(delay)
            written = await self.flush()
            if written and not self._rows:
                return
            delay = self._flush_every if written else self._retry_every

    async def flush(self) -> bool:
        """Write everything waiting; False (and everything kept) if the database refused."""
        async with self._write_lock:
            rows, attempts = list(self._rows), list(self._attempts)
            if not rows and not attempts:
                return True
            try:
                async with self._sessions() as session, session.begin():
                    await queries.record_outcomes(session, rows, attempts)
            except Exception:
                log.warning(
                    "could not record %d outcomes (ref %s); kept, retrying",
                    len(rows),
                    new_reference(),
                    exc_info=True,
                )
                return False
            del self._rows[: len(rows)]
            del self._attempts[: len(attempts)]
            return True

    async def aclose(self) -> None:
        """Shut down: one last write; if the database is still down, say what is lost."""
        if self._flusher is not None:
            self._flusher.cancel()
        if not await self.flush():
            log.error("%d outcomes could not be recorded before shutdown", self.waiting)


# ---- the poster --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostedLine:
    """What happened to one host's tweet, for the report."""

    episode_id: int
    host_name: str
    host_user_id: int
    status: PostStatus
    tweet_url: str | None
    reason: Reason | None
    text: str


class _Batch:
    """One call's claimed tweets on their way out. A tweet is marked sent (in the database)
    just before its request goes to X, a few at a time as workers free up, so a process that
    dies leaves as `posting`-and-sent only what X may really have. Notes the first app-level
    problem, so the rest wait instead of each hitting it (and burning its host's attempts)."""

    def __init__(self, tweets: Sequence[EpisodeTweet]) -> None:
        self.queued: deque[EpisodeTweet] = deque(tweets)  # claimed, not marked sent
        self.ready: deque[EpisodeTweet] = deque()  # marked sent, not yet taken by a worker
        self.idle = 0  # workers waiting for their next tweet
        self.delay: dict[int, float] = {}  # seconds after the start each may go (stagger)
        self.lock = asyncio.Lock()
        self.app_problem: Transition | None = None


class TweetPoster:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        cipher: TokenCipher,
        *,
        dry_run: bool,
        x_limiter: AsyncLimiter,
        policy: RetryPolicy | None = None,
        recorder: OutcomeRecorder | None = None,
        concurrency: int = 8,
        send_ahead: int = 0,
        clock: Callable[[], dt.datetime] = utcnow,
        metrics: Metrics | None = None,
        stagger: dt.timedelta = dt.timedelta(0),
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._x_limiter = x_limiter
        self._metrics = metrics
        self._stagger = stagger.total_seconds()
        self._cipher = cipher
        self._dry_run = dry_run
        self._policy = policy or RetryPolicy()
        self.recorder = recorder or OutcomeRecorder(sessions)
        self._concurrency = concurrency
        # Tweets marked sent at once beyond the workers that are free: 0 marks exactly what is
        # about to go out; more means fewer statements, and more `unknown` after a crash.
        self._send_ahead = send_ahead
        self._clock = clock
        # Set by the Discord layer: (guild id, user id, host role id) -> does the member still
        # hold the host role (None: can't tell). Checked at claim time, before each post.
        self.holds_host_role: Callable[[int, int, int], bool | None] | None = None

    def require_ready(self, tweet: EpisodeTweet) -> None:
        """Refuse before claiming a tweet that could only fail (a host posting by hand should
        link X first, not lose the tweet to a `not_linked` failure)."""
        if self._dry_run:
            return
        if not self._publisher.configured:
            raise XNotConfigured()
        if tweet.host.x_account is None:
            raise XNotLinked()

    async def post_claimed(self, tweet_ids: list[int]) -> list[PostedLine]:
        """Post tweets this process claimed; each outcome is recorded as it comes in."""
        if not tweet_ids:
            return []
        async with self._sessions() as session:
            tweets = await queries.load_claimed(session, tweet_ids)
        away = [t for t in tweets if self._lost_host_role(t)]
        lines: dict[int, PostedLine] = {t.id: self._hold_away(t) for t in away}
        if away:
            async with self._sessions() as session, session.begin():
                await queries.mark_hosts_away(session, [t.host_id for t in away], self._clock())
        batch = _Batch([t for t in tweets if t.id not in lines])
        # POST_STAGGER_SECONDS: one episode's hosts post that far apart, not all at once.
        place: dict[int, int] = {}
        for tweet in batch.queued:
            batch.delay[tweet.id] = place.get(tweet.episode_id, 0) * self._stagger
            place[tweet.episode_id] = place.get(tweet.episode_id, 0) + 1
        started = asyncio.get_running_loop().time()

        async def worker() -> None:
            while (tweet := await self._next(batch)) is not None:
                wait = started + batch.delay.get(tweet.id, 0) - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
                lines[tweet.id] = await self._post_one(tweet, batch)

        await asyncio.gather(*(worker() for _ in range(self._concurrency)))
        await self.recorder.flush()  # if the database is down, the recorder keeps retrying
        return [lines[t.id] for t in tweets if t.id in lines]

    def _lost_host_role(self, tweet: EpisodeTweet) -> bool:
        """The member left or lost the host role and we missed the event: hold, don't post."""
        if self.holds_host_role is None:
            return False
        podcast = tweet.episode.podcast
        return (
            self.holds_host_role(podcast.guild_id, tweet.host.discord_user_id, podcast.host_role_id)
            is False
        )

    def _hold_away(self, tweet: EpisodeTweet) -> PostedLine:
        """Back to pending, unposted: it posts again only if its host gets the role back."""
        self.recorder.add(
            OutcomeRow(
                tid=tweet.id,
                status=PostStatus.PENDING,
                tweet_id=None,
                tweet_url=None,
                failure_reason=AWAY,
                next_attempt_at=None,
                posted_at=None,
                refund=0,
            ),
            None,
        )
        return PostedLine(
            episode_id=tweet.episode_id,
            host_name=tweet.host.display_name,
            host_user_id=tweet.host.discord_user_id,
            status=PostStatus.PENDING,
            tweet_url=None,
            reason=AWAY,
            text=final_text(tweet),
        )

    async def _next(self, batch: _Batch) -> EpisodeTweet | None:
        """The next tweet to post, marked sent; None when the batch is done."""
        batch.idle += 1
        await asyncio.sleep(0)  # let every free worker queue up: one mark for all of them
        try:
            async with batch.lock:
                if not batch.ready and batch.queued:
                    await self._mark_sending(batch)
                return batch.ready.popleft() if batch.ready else None
        finally:
            batch.idle -= 1

    async def _mark_sending(self, batch: _Batch) -> None:
        size = min(max(batch.idle, self._send_ahead, 1), len(batch.queued))
        lease = [batch.queued.popleft() for _ in range(size)]
        if self._dry_run or batch.app_problem is not None:
            batch.ready.extend(lease)  # nothing of these goes to X
            return
        try:
            async with self._sessions() as session, session.begin():
                ours = await queries.mark_sending(
                    session, [t.id for t in lease], [t.id for t in batch.queued]
                )
        except Exception:
            # Nothing unmarked may go to X. These stay claimed; once their claim is stale they
            # go back to pending (never sent) and a later check posts them.
            log.warning(
                "could not mark %d posts as sent (ref %s); they wait for a later check",
                len(lease) + len(batch.queued),
                new_reference(),
                exc_info=True,
            )
            batch.queued.clear()
            return
        batch.ready.extend(t for t in lease if t.id in ours)

    async def _post_one(self, tweet: EpisodeTweet, batch: _Batch) -> PostedLine:
        text = final_text(tweet)
        state = TweetState(
            tweet.attempts, tweet.episode.went_live_at or self._clock(), tweet.failure_reason
        )
        result: PostResult | None = None
        if self._dry_run:
            transition = Transition(PostStatus.DRY_RUN, AttemptOutcome.DRY_RUN)
        elif batch.app_problem is not None:
            problem = batch.app_problem
            transition = held(
                problem.reason or Reason.UNEXPECTED, problem.next_attempt_at or self._clock()
            )
        else:
            result = await self._send(tweet, text)
            transition = decide(state, result, self._clock(), self._policy)
            if transition.refund_attempt and batch.app_problem is None:
                batch.app_problem = transition
                log.warning("X refused the app itself (%s): holding this batch", result.reason)
        self._record(tweet, transition, result)
        return PostedLine(
            episode_id=tweet.episode_id,
            host_name=tweet.host.display_name,
            host_user_id=tweet.host.discord_user_id,
            status=transition.status,
            tweet_url=result.tweet_url if result is not None else None,
            reason=transition.reason,
            text=text,
        )

    async def _send(self, tweet: EpisodeTweet, text: str) -> PostResult:
        """Post through the publisher; what happens before X is asked is a result too."""
        account = tweet.host.x_account
        if not self._publisher.configured:
            return PostResult(reason=Reason.NOT_CONFIGURED)
        if account is None:
            return PostResult(reason=Reason.NOT_LINKED)
        try:
            credentials = credentials_of(account, self._cipher)
        except TokenUnreadable:
            return PostResult(reason=Reason.TOKEN_UNREADABLE)
        try:
            async with self._x_limiter:
                return await self._publisher.post(credentials, text)
        except Exception:
            # We can't tell whether X got it: a person must check, never a blind retry.
            ref = new_reference()
            log.exception(
                "posting tweet %s failed unexpectedly (ref %s)",
                tweet.id,
                ref,
                extra={"ref": ref, "tweet_id": tweet.id, "episode_id": tweet.episode_id},
            )
            return PostResult(reason=Reason.UNEXPECTED)

    def _record(
        self, tweet: EpisodeTweet, transition: Transition, result: PostResult | None
    ) -> None:
        posted = transition.status is PostStatus.POSTED and result is not None
        attempt = (
            None
            if result is None and transition.status is not PostStatus.DRY_RUN
            else AttemptRow(
                episode_tweet_id=tweet.id,
                attempt_no=tweet.attempts,
                outcome=transition.outcome,
                reason=transition.reason,
                http_status=result.http_status if result else None,
                duration_ms=result.duration_ms if result else 0,
            )
        )
        self.recorder.add(
            OutcomeRow(
                tid=tweet.id,
                status=transition.status,
                tweet_id=result.tweet_id if posted and result else None,
                tweet_url=result.tweet_url if posted and result else None,
                failure_reason=transition.reason,
                next_attempt_at=transition.next_attempt_at,
                posted_at=self._clock() if posted else None,
                refund=int(transition.refund_attempt),
            ),
            attempt,
        )
        if self._metrics is not None and attempt is not None:
            self._metrics.post_attempts([{"outcome": attempt.outcome, "reason": attempt.reason}])
