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
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import AWAY
from bot.clock import utcnow
from bot.crypto import TokenCipher, TokenUnreadable
from bot.drafts import template_draft
from bot.errors import CATALOGUE, Party, Reason, XNotConfigured, XNotLinked, new_reference
from bot.metrics import Metrics
from bot.publisher import PostResult, Publisher, credentials_of
from bot.ratelimit import XPostingLimits
from bot.tweet_text import compose_tweet, fits, trim_to_fit
from db import queries
from db.models import AttemptOutcome, Episode, EpisodeTweet, PostStatus
from db.queries import AttemptRow, OutcomeRow

log = logging.getLogger("onair.posting")

RETRY_WINDOW = dt.timedelta(hours=2)
# After the database refused a lease of "sent" marks, the next one is tried this much later.
LEASE_RETRY_SECONDS = 2.0


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
    """A claimed tweet not sent because X can't take it now (the app's credits or caps, or
    its account's limit until `until`): back to pending until then, its attempt not counted."""
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
        # Told the tweet ids of every write (the poster keeps the reports edited from it).
        self.on_written: Callable[[list[int]], None] | None = None
        self._extra_flushes: set[asyncio.Task[bool]] = set()

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

    def flush_soon(self) -> None:
        """Write what is waiting now (in the background), not after `flush_every`."""
        if self._rows or self._attempts:
            task = asyncio.create_task(self.flush())
            self._extra_flushes.add(task)
            task.add_done_callback(self._extra_flushes.discard)

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
        if self.on_written is not None and rows:
            self.on_written([row.tid for row in rows])
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

    @classmethod
    def of(
        cls,
        tweet: EpisodeTweet,
        status: PostStatus,
        reason: Reason | None,
        text: str,
        tweet_url: str | None = None,
    ) -> PostedLine:
        return cls(
            tweet.episode_id,
            tweet.host.display_name,
            tweet.host.discord_user_id,
            status,
            tweet_url,
            reason,
            text,
        )


class Batch:
    """One hand-over of claimed tweets; `lines()` waits until each has its answer."""

    def __init__(self) -> None:
        self._lines: dict[int, PostedLine | None] = {}
        self._order: list[int] = []
        self._open = 0
        self._done = asyncio.Event()
        self._done.set()

    def add(self, tweet_id: int) -> None:
        self._order.append(tweet_id)
        self._open += 1
        self._done.clear()

    def finish(self, tweet_id: int, line: PostedLine | None) -> None:
        """`line` None: not ours to post after all (another process has it)."""
        self._lines[tweet_id] = line
        self._open -= 1
        if self._open <= 0:
            self._done.set()

    async def lines(self) -> list[PostedLine]:
        await self._done.wait()
        return [line for t in self._order if (line := self._lines.get(t)) is not None]


class _Job:
    """One claimed tweet in the poster."""

    __slots__ = ("account", "batch", "deferred", "marked", "not_before", "tweet")

    def __init__(self, tweet: EpisodeTweet, batch: Batch, not_before: float) -> None:
        self.tweet = tweet
        self.batch = batch
        self.not_before = not_before  # loop time: POST_STAGGER_SECONDS
        account = tweet.host.x_account
        self.account = account.x_user_id if account is not None else f"host:{tweet.host_id}"
        self.marked = False  # sent_at written: it may go to X
        self.deferred: Transition | None = None  # settled without sending (limits)


# Each stream's report is edited as outcomes are written: (episodes with new outcomes,
# episodes whose every claimed tweet is written). Set by whoever renders reports.
ProgressListener = Callable[[set[int], set[int]], None]


class TweetPoster:
    """Posts claimed tweets in the background, beside the checks (README "How posting works").

    A check hands its claimed tweets over with `submit` and goes on. `concurrency` workers send
    them; a tweet goes to X only after the database marks it sent. Those marks are leases taken
    by time, not by tweet: every `lease_every` seconds (sooner when a worker has nothing, never
    more often than `min_lease_gap`) one statement marks as many tweets as the free workers will
    take before the next lease, judged by the answers of the last one, and un-marks leased
    tweets no worker took, so a process that dies leaves marked only what X may really have.
    X's own limits (bot.ratelimit.XPostingLimits) are kept per account: a held account's tweets
    wait (or, past `max_limit_wait`, go back to pending until the reset) while every other
    account's go straight through."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        cipher: TokenCipher,
        *,
        dry_run: bool,
        policy: RetryPolicy | None = None,
        recorder: OutcomeRecorder | None = None,
        concurrency: int = 8,
        clock: Callable[[], dt.datetime] = utcnow,
        metrics: Metrics | None = None,
        stagger: dt.timedelta = dt.timedelta(0),
        limits: XPostingLimits | None = None,
        lease_every: float = 0.5,
        min_lease_gap: float = 0.05,
        claim_refresh: dt.timedelta = dt.timedelta(minutes=1),
        max_limit_wait: dt.timedelta = dt.timedelta(minutes=1),
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._metrics = metrics
        self._stagger = stagger.total_seconds()
        self._cipher = cipher
        self._dry_run = dry_run
        self._policy = policy or RetryPolicy()
        self.recorder = recorder or OutcomeRecorder(sessions)
        self.recorder.on_written = self._written
        self.limits = limits or XPostingLimits()
        self._concurrency = concurrency
        self._lease_every = lease_every
        self._min_lease_gap = min_lease_gap
        self._claim_refresh = claim_refresh.total_seconds()
        self._max_limit_wait = max_limit_wait
        self._clock = clock
        # Set by the Discord layer: (guild id, user id, host role id) -> does the member still
        # hold the host role (None: can't tell). Checked at claim time, before each post.
        self.holds_host_role: Callable[[int, int, int], bool | None] | None = None
        self.on_progress: ProgressListener | None = None
        self._queued: list[_Job] = []  # claimed, not marked sent
        self._leased: deque[_Job] = deque()  # may go now (marked, or settled without X)
        self._open: dict[int, _Job] = {}  # handed over, no answer yet
        self._episode_of: dict[int, int] = {}  # tweet id -> episode, until its outcome is written
        self._unwritten: Counter[int] = Counter()  # episode -> outcomes not written yet
        self._in_flight = 0
        self._answers: deque[float] = deque()  # loop times of recent answers
        self._app_problem: Transition | None = None
        self._last_refresh = 0.0
        self._lease_failed = False  # the database refused the last lease
        self._wake = asyncio.Event()  # workers: something to take
        self._attention = asyncio.Event()  # the lease loop: new work, or a worker is idle
        self._tasks: list[asyncio.Task[None]] = []
        self._loading: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def require_ready(self, tweet: EpisodeTweet) -> None:
        """Refuse before claiming a tweet that could only fail (a host posting by hand should
        link X first, not lose the tweet to a `not_linked` failure)."""
        if self._dry_run:
            return
        if not self._publisher.configured:
            raise XNotConfigured()
        if tweet.host.x_account is None:
            raise XNotLinked()

    # ---- handing work over -----------------------------------------------------------------

    def submit(self, claimed: dict[int, int]) -> Batch:
        """Hand over claimed tweets ({tweet id: episode id}) and return at once: they are
        posted in the background, each outcome recorded as it comes in."""
        batch = Batch()
        if not claimed:
            return batch
        for tweet_id, episode_id in claimed.items():
            batch.add(tweet_id)
            self._episode_of[tweet_id] = episode_id
            self._unwritten[episode_id] += 1
        task = asyncio.create_task(self._load(list(claimed), batch))
        self._loading.add(task)
        self._idle.clear()
        task.add_done_callback(self._loaded)
        return batch

    def _loaded(self, task: asyncio.Task[None]) -> None:
        self._loading.discard(task)
        self._settle()

    async def post_claimed(self, claimed: dict[int, int]) -> list[PostedLine]:
        """Post tweets this process claimed and wait for their answers and records."""
        lines = await self.submit(claimed).lines()
        await self.recorder.flush()  # if the database is down, the recorder keeps retrying
        return lines

    @property
    def busy(self) -> bool:
        """Whether any handed-over tweet has no recorded outcome yet."""
        return bool(self._episode_of or self._loading)

    async def drain(self) -> None:
        """Wait until every handed-over tweet is answered and its outcome written (or kept by
        the recorder while the database is down). Bound it with asyncio.timeout."""
        await self._idle.wait()
        await self.recorder.flush()

    def _settle(self) -> None:
        """Note whether everything handed over is answered; then its last outcomes are written
        now, not at the next flush."""
        if not self._open and not self._loading and not self._idle.is_set():
            self._idle.set()
            self.recorder.flush_soon()

    async def aclose(self) -> None:
        """Stop: tweets not yet sent go back to pending (one statement), outcomes are written."""
        for task in [*self._loading, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loading, *self._tasks, return_exceptions=True)
        self._tasks.clear()
        # Queued or leased, but taken by no worker: never sent (marked or not).
        unsent = [job.tweet.id for job in (*self._queued, *self._leased)]
        if unsent and not self._dry_run:
            try:
                async with self._sessions() as session, session.begin():
                    await queries.release_unsent(session, unsent)
            except Exception:
                log.warning(
                    "could not release %d unsent posts at shutdown (ref %s); they go back to "
                    "pending once their claim is stale",
                    len(unsent),
                    new_reference(),
                    exc_info=True,
                )
        self._queued, self._open = [], {}
        self._leased.clear()
        self._idle.set()
        await self.recorder.aclose()

    async def _load(self, tweet_ids: list[int], batch: Batch) -> None:
        try:
            async with self._sessions() as session:
                tweets = await queries.load_claimed(session, tweet_ids)
        except Exception:
            # They stay claimed; once their claim is stale they go back to pending (never
            # sent) and a later check posts them.
            log.warning(
                "could not load %d claimed posts (ref %s); they wait for a later check",
                len(tweet_ids),
                new_reference(),
                exc_info=True,
            )
            tweets = []
        found = {t.id for t in tweets}
        for tweet_id in tweet_ids:
            if tweet_id not in found:
                self._forget(tweet_id)
                batch.finish(tweet_id, None)
        away = {t.id for t in tweets if self._lost_host_role(t)}
        if away:
            try:
                async with self._sessions() as session, session.begin():
                    await queries.mark_hosts_away(
                        session, [t.host_id for t in tweets if t.id in away], self._clock()
                    )
            except Exception:
                log.warning("could not mark hosts away (ref %s)", new_reference(), exc_info=True)
            for tweet in tweets:
                if tweet.id in away:
                    batch.finish(tweet.id, self._hold_away(tweet))
        # POST_STAGGER_SECONDS: one episode's hosts post that far apart, not all at once.
        now = asyncio.get_running_loop().time()
        place: Counter[int] = Counter()
        for tweet in tweets:
            if tweet.id in away:
                continue
            job = _Job(tweet, batch, now + place[tweet.episode_id] * self._stagger)
            place[tweet.episode_id] += 1
            self._open[tweet.id] = job
            self._queued.append(job)
        self._start()
        self._attention.set()

    def _start(self) -> None:
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._lease_loop())]
        self._tasks += [asyncio.create_task(self._worker()) for _ in range(self._concurrency)]

    def _forget(self, tweet_id: int) -> None:
        """No outcome will be written for `tweet_id` by this process."""
        episode_id = self._episode_of.pop(tweet_id, None)
        if episode_id is not None:
            self._unwritten[episode_id] -= 1
            if self._unwritten[episode_id] <= 0:
                del self._unwritten[episode_id]
                if self.on_progress is not None:
                    self.on_progress(set(), {episode_id})

    def _written(self, tweet_ids: list[int]) -> None:
        """The recorder wrote these outcomes: tell the reports what changed and what is done."""
        changed: set[int] = set()
        finished: set[int] = set()
        for tweet_id in tweet_ids:
            episode_id = self._episode_of.pop(tweet_id, None)
            if episode_id is None:
                continue
            changed.add(episode_id)
            self._unwritten[episode_id] -= 1
            if self._unwritten[episode_id] <= 0:
                del self._unwritten[episode_id]
                finished.add(episode_id)
        if changed and self.on_progress is not None:
            self.on_progress(changed - finished, finished)

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
        return PostedLine.of(tweet, PostStatus.PENDING, AWAY, final_text(tweet))

    # ---- leases: marking sent by time --------------------------------------------------------

    async def _lease_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._attention.clear()
            started = loop.time()
            await self._lease()
            if self._lease_failed:
                await asyncio.sleep(LEASE_RETRY_SECONDS)
                continue
            try:
                async with asyncio.timeout(self._next_lease_in()):
                    await self._attention.wait()
            except TimeoutError:
                pass
            await asyncio.sleep(max(0.0, started + self._min_lease_gap - loop.time()))

    def _next_lease_in(self) -> float | None:
        """Seconds until the next lease is due; None: nothing to do until new work comes."""
        if not self._open:
            return None
        now = asyncio.get_running_loop().time()
        starts = [job.not_before for job in self._queued if job.not_before > now]
        return min([self._lease_every, *(start - now for start in starts)])

    async def _lease(self) -> None:
        """Settle what can't go, then one statement: mark what the workers will take before the
        next lease, un-mark what they did not take, refresh the claims when due."""
        loop = asyncio.get_running_loop()
        now, clock_now = loop.time(), self._clock()
        eligible: list[_Job] = []
        waiting: list[_Job] = []
        app_hold = self._app_hold(clock_now)
        for job in self._queued:
            if self._dry_run or app_hold is not None:
                self._leased.append(job)  # settled without X
                continue
            block = self.limits.blocked(job.account, clock_now)
            if block is not None and block.until - clock_now > self._max_limit_wait:
                job.deferred = held(block.reason, block.until)
                self._leased.append(job)
            elif block is not None or job.not_before > now:
                waiting.append(job)
            else:
                eligible.append(job)
        while self._answers and self._answers[0] < now - self._lease_every:
            self._answers.popleft()
        # The free workers, plus those expected to free up before the next lease (as many as
        # answered during the last one, with a margin): under a hang that is nobody.
        demand = self._concurrency - self._in_flight + math.ceil(1.5 * len(self._answers))
        marked = [job for job in self._leased if job.marked]
        sending = eligible[: max(0, demand - len(marked))]
        surplus = max(0, len(marked) - demand)
        returned = marked[len(marked) - surplus :] if surplus else []
        for job in returned:
            self._leased.remove(job)
            job.marked = False
        self._queued = returned + waiting + eligible[len(sending) :]
        refresh = now - self._last_refresh >= self._claim_refresh
        if self._leased:
            self._wake.set()
        if not (sending or returned or (refresh and self._open)) or self._dry_run:
            return
        try:
            async with self._sessions() as session, session.begin():
                ours = await queries.mark_sending(
                    session,
                    [job.tweet.id for job in sending],
                    [job.tweet.id for job in returned],
                    list(self._open) if refresh else [],
                )
        except Exception:
            # Nothing unmarked may go to X: these wait, claimed, and the next lease (after
            # `LEASE_RETRY_SECONDS`) tries again. The returned ones are still marked in the
            # database, so they may still be sent.
            log.warning(
                "could not mark %d posts as sent (ref %s); trying again shortly",
                len(sending),
                new_reference(),
                exc_info=True,
            )
            for job in returned:
                job.marked = True
                self._queued.remove(job)
                self._leased.append(job)
            self._queued = sending + self._queued
            self._lease_failed = True
            if returned:
                self._wake.set()
            return
        self._lease_failed = False
        if refresh:
            self._last_refresh = now
        for job in sending:
            if job.tweet.id in ours:
                job.marked = True
                self._leased.append(job)
            else:
                self._drop(job)
        self._wake.set()

    def _drop(self, job: _Job) -> None:
        self._open.pop(job.tweet.id, None)
        self._forget(job.tweet.id)
        job.batch.finish(job.tweet.id, None)
        self._settle()

    def _app_hold(self, now: dt.datetime) -> Transition | None:
        """The app itself can't post right now (credits, caps): what every tweet gets."""
        problem = self._app_problem
        if problem is not None and (problem.next_attempt_at or now) > now:
            return problem
        self._app_problem = None
        block = self.limits.app_block(now)
        if block is not None:
            return held(block.reason, block.until)
        return None

    # ---- workers: post, decide, record --------------------------------------------------------

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._leased:
                if self._queued:
                    self._attention.set()  # idle while there is work: lease sooner
                self._wake.clear()
                await self._wake.wait()
            job = self._leased.popleft()
            self._in_flight += 1
            try:
                line = await self._post_one(job)
            except Exception:
                line = self._unexpected(job)
            finally:
                self._in_flight -= 1
                self._answers.append(loop.time())
            self._open.pop(job.tweet.id, None)
            job.batch.finish(job.tweet.id, line)
            self._settle()

    def _unexpected(self, job: _Job) -> PostedLine:
        """A bug while posting one tweet: it may or may not be on X, so a person checks
        (`unknown`); the worker and every other tweet go on."""
        tweet = job.tweet
        log.exception("posting tweet %s failed unexpectedly (ref %s)", tweet.id, new_reference())
        transition = Transition(PostStatus.UNKNOWN, AttemptOutcome.UNKNOWN, Reason.UNEXPECTED)
        self._record(tweet, transition, None)
        return PostedLine.of(tweet, transition.status, transition.reason, "")

    async def _post_one(self, job: _Job) -> PostedLine:
        tweet = job.tweet
        text = final_text(tweet)
        state = TweetState(
            tweet.attempts, tweet.episode.went_live_at or self._clock(), tweet.failure_reason
        )
        result: PostResult | None = None
        app_hold = self._app_hold(self._clock())
        block = self.limits.blocked(job.account, self._clock())
        if self._dry_run:
            transition = Transition(PostStatus.DRY_RUN, AttemptOutcome.DRY_RUN)
        elif app_hold is not None:
            transition = held(
                app_hold.reason or Reason.UNEXPECTED, app_hold.next_attempt_at or self._clock()
            )
        elif job.deferred is not None:
            transition = job.deferred
        elif block is not None or not job.marked:
            # X said (while this waited) that the account has no room: back until the reset.
            transition = held(
                block.reason if block else Reason.RATE_LIMITED,
                block.until if block else self._clock(),
            )
        else:
            result = await self._send(tweet, text)
            self.limits.learn(job.account, result, self._clock())
            transition = decide(state, result, self._clock(), self._policy)
            if transition.refund_attempt and self._app_problem is None:
                self._app_problem = transition
                log.warning("X refused the app itself (%s): holding the queue", result.reason)
        self._record(tweet, transition, result)
        url = result.tweet_url if result is not None else None
        return PostedLine.of(tweet, transition.status, transition.reason, text, url)

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
