"""The live check: which channels are live, which episode that is, and posting its tweets.

One check runs a fixed number of SQL statements whatever the number of podcasts and hosts:
load due podcasts; (YouTube, concurrently); one transaction that records every result, ties new
streams to episodes and claims every due tweet; (X, concurrently); record outcomes; load what
the reports show. Nothing here knows Discord: it returns `StreamReport`s and `Notice`s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import UNAPPROVED, hold_reason, needs_approval
from bot.clock import utcnow
from bot.errors import DRY_RUN_NOTE, Reason, explain, is_app_problem, new_reference
from bot.metrics import channel_state
from bot.posting import RETRY_WINDOW, TweetPoster, final_text
from bot.quota import QuotaWatch
from bot.timezones import local_today
from bot.user_text import escape_markdown
from bot.youtube import ChannelBatch, LiveCheck, ScheduledStream, VideoState, YouTubeClient
from db import queries
from db.models import Episode, EpisodeTweet, Podcast, PostStatus

log = logging.getLogger("onair.live")

LATE_AFTER = dt.timedelta(hours=2)
# A new live video this soon after the last one was seen live is that stream restarted: the
# same episode (README, "How the live check works").
RESTART_WINDOW = dt.timedelta(minutes=30)
# ...unless another of today's episodes is timed to start by then (this far ahead, or later).
NEXT_EPISODE_LEAD = dt.timedelta(minutes=15)
# How long one checker may take to send a stream's first report before another takes over.
REPORT_RESERVATION_TTL = dt.timedelta(minutes=2)
# The end of a stream: this many checks in a row without it live; streams tied longer ago than
# ON_AIR_FOR are no longer watched for their end.
OFFLINE_CHECKS_TO_END = 2
ON_AIR_FOR = dt.timedelta(hours=24)


@dataclass(frozen=True)
class HostLine:
    host_name: str
    host_user_id: int
    # posted | failed | disabled | waiting | retrying | posting | unknown | dry_run
    # | held | unapproved
    state: str
    link: str | None = None
    reason: str | None = None
    text: str | None = None


@dataclass
class StreamReport:
    """One message per stream in the announce channel; later checks edit it."""

    guild_id: int
    announce_channel_id: int
    episode_id: int
    episode_title: str
    stream_title: str | None
    stream_url: str | None
    report_message_id: int | None  # None: send a new message, else edit this one
    video_id: str | None = None
    lines: list[HostLine] = field(default_factory=list)
    # A problem of the X app itself (credits, caps, enrolment), said once for the whole stream
    # with the operator's fix instead of on every host's line.
    app_problem: str | None = None
    went_live_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None  # set once: the stream ended, this is the last edit


@dataclass(frozen=True)
class Announcement:
    """The go-live message: "<show> is live: <title> <link>", mentioning ping_role_id only."""

    guild_id: int
    announce_channel_id: int
    show_name: str
    stream_title: str
    stream_url: str
    ping_role_id: int | None


@dataclass(frozen=True)
class Notice:
    """A one-off announcement: a stream we saw but did not tweet about, or a problem."""

    guild_id: int
    announce_channel_id: int
    kind: str  # filtered | no_episode | too_late | quota | interrupted | timezone
    text: str


@dataclass
class CheckResult:
    checked: int = 0
    # channel id -> its state for /metrics (bot/metrics.py channel_state)
    states: dict[str, str] = field(default_factory=dict)
    reports: list[StreamReport] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    announcements: list[Announcement] = field(default_factory=list)


def describe_check(check: LiveCheck) -> str:
    if check.state == "live":
        return f"live: {check.title or check.video_id}"[:200]
    if check.state == "upcoming":
        when = check.scheduled_start.isoformat(timespec="minutes") if check.scheduled_start else "?"
        return f"upcoming at {when}: {check.title or check.video_id}"[:200]
    if check.state == "unknown":
        return f"unknown this time ({check.reason or 'no answer'})"
    return "offline"


ReportDelivery = Callable[[list[StreamReport]], Awaitable[None]]
# Episode ids -> their reports now, and the streams whose first report is still being sent.
ReportRender = Callable[[list[int]], Awaitable[tuple[list[StreamReport], set[int]]]]


class ReportEditor:
    """Keeps each stream's report edited while its tweets post in the background: rendered
    from the database after outcomes are written, at most once every `every` seconds per
    stream, and once more when the stream's last outcome is in. The Discord layer sets
    `deliver` (the same function that delivers a check's reports)."""

    def __init__(
        self,
        render: ReportRender,
        *,
        every: float = 1.5,
        edits_per_second: float = 20.0,
        wait_for_first: float = 60.0,
    ) -> None:
        self._render = render
        self._every = every
        # Discord allows a bot about 50 requests a second in all: edits take at most this many
        # (the streams waiting longest first), whatever the number of streams posting.
        self._edits_per_second = edits_per_second
        self._per_round = max(1, int(edits_per_second * every))
        self._wait_for_first = wait_for_first  # a first report not saved yet: try this long
        self.deliver: ReportDelivery | None = None
        self._dirty: dict[int, float] = {}  # episode -> since when it waits for an edit
        self._last: dict[int, float] = {}  # episode -> when it was last edited
        self._task: asyncio.Task[None] | None = None

    def progress(self, changed: set[int], finished: set[int]) -> None:
        """Outcomes of these streams were written (`finished`: their last one)."""
        if self.deliver is None:
            return
        now = asyncio.get_running_loop().time()
        for episode_id in changed | finished:
            self._dirty.setdefault(episode_id, now)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def finish(self) -> None:
        """Shutting down: the edits still due go out (bound it with asyncio.timeout); a first
        report not saved yet is not waited for any more."""
        self._wait_for_first = 0.0
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._dirty and self.deliver is not None:
            now = loop.time()
            due = [e for e in self._dirty if now - self._last.get(e, -self._every) >= self._every]
            due = sorted(due, key=self._dirty.__getitem__)[: self._per_round]
            if due:
                waited = {e: self._dirty.pop(e) for e in due}  # changes from now on: again
                for episode_id in due:
                    self._last[episode_id] = now
                await self._edit(waited, now)
                await asyncio.sleep(len(due) / self._edits_per_second)
            for episode_id, at in list(self._last.items()):
                if now - at > self._every and episode_id not in self._dirty:
                    del self._last[episode_id]  # only streams edited lately are remembered
            if self._dirty:
                next_due = min(self._last.get(e, now) + self._every for e in self._dirty)
                await asyncio.sleep(max(next_due - loop.time(), 0.05))

    async def _edit(self, waited: dict[int, float], now: float) -> None:
        """Edit these streams' reports; one whose first report isn't saved yet waits (for a
        while) for the next round."""
        deliver = self.deliver
        try:
            reports, first_on_its_way = await self._render(sorted(waited))
            if deliver is not None and reports:
                await deliver(reports)
        except Exception:
            log.exception(
                "could not edit the reports of %s (ref %s)", sorted(waited), new_reference()
            )
            reports, first_on_its_way = [], set(waited)
        # A tweet posted by hand before its stream (no report to come) is not waited for.
        for episode_id, since in waited.items():
            if episode_id in first_on_its_way and now - since < self._wait_for_first:
                self._dirty.setdefault(episode_id, since)


class LiveChecker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        youtube: YouTubeClient,
        poster: TweetPoster,
        *,
        interval: dt.timedelta,
        fast_interval: dt.timedelta,
        # Longer than any batch takes to post (claims wait on the shared X limiter), so a
        # second live process never mistakes another's in-flight posts for a crash.
        stale_posting_after: dt.timedelta = dt.timedelta(minutes=10),
        clock: Callable[[], dt.datetime] = utcnow,
        shards: queries.Shards | None = None,
        quota: QuotaWatch | None = None,
    ) -> None:
        self._sessions = sessions
        self._youtube = youtube
        self._poster = poster
        self._interval = interval
        self._fast_interval = fast_interval
        self._stale_after = stale_posting_after
        self._clock = clock
        self._shards = shards  # only servers on this process's shards (README "Sharding")
        self._failing: set[int] = set()  # podcasts already told their check fails
        self.quota = quota or QuotaWatch()  # Data API units today (README "Quota")
        # Wired to the poster's progress where both are built (bot/app.py).
        self.reports = ReportEditor(self.render_reports)

    async def recover_interrupted(self) -> list[Notice]:
        """Tweets stuck in `posting` (a crash mid-post) become `unknown` and are announced."""
        async with self._sessions() as session, session.begin():
            stuck = await queries.mark_stale_posting_unknown(
                session, self._clock() - self._stale_after, Reason.INTERRUPTED, self._shards
            )
        notices = []
        for tweet in stuck:
            podcast = tweet.episode.podcast
            log.warning(
                "tweet %s was interrupted while posting; marked unknown",
                tweet.id,
                extra={"tweet_id": tweet.id, "episode_id": tweet.episode_id},
            )
            notices.append(
                Notice(
                    guild_id=podcast.guild_id,
                    announce_channel_id=podcast.announce_channel_id,
                    kind="interrupted",
                    text=(
                        f"The bot stopped while posting {tweet.host.display_name}'s tweet for "
                        f"“{tweet.episode.title}”. It may or may not be on X: please check their "
                        "account. OnAir will not post it again by itself."
                    ),
                )
            )
        return notices

    async def announce_repaired_timezones(self) -> list[Notice]:
        """Tell each podcast whose timezone migration 0004 reset to UTC, once."""
        async with self._sessions() as session, session.begin():
            repaired = await queries.take_repaired_timezones(session)
        return [
            Notice(
                guild_id=podcast.guild_id,
                announce_channel_id=podcast.announce_channel_id,
                kind="timezone",
                text=(
                    "This podcast's timezone was set to a name OnAir can't use, so it is UTC "
                    "now. An admin can pick the right one with /podcast setup timezone:…"
                ),
            )
            for podcast in repaired
        ]

    async def run_check(self) -> CheckResult:
        now = self._clock()
        result = CheckResult()
        # Outcomes kept through a database outage go in before anything is taken for a crash.
        await self._poster.recorder.flush()
        result.notices.extend(await self.recover_interrupted())
        result.notices.extend(await self.announce_repaired_timezones())
        async with self._sessions() as session:
            podcasts = list(
                await queries.due_podcasts(
                    session, now, self._interval, self._fast_interval, self._shards
                )
            )
        result.checked = len(podcasts)
        batch = ChannelBatch({})
        if podcasts:
            batch = await self._youtube.check_channels(
                sorted({p.youtube_channel_id for p in podcasts}),
                scheduled=known_scheduled(podcasts),
            )
            self.quota.observe(batch.units_used, now)
        checks = batch.checks
        result.states = {cid: channel_state(c.state, c.reason) for cid, c in checks.items()}
        live = [
            (p, checks[p.youtube_channel_id])
            for p in podcasts
            if p.youtube_channel_id in checks and checks[p.youtube_channel_id].state == "live"
        ]
        ended = await self._stream_ends(podcasts, checks, now)
        failures: dict[int, tuple[Podcast, BaseException]] = {}
        try:
            async with self._sessions() as session, session.begin():
                new_streams, notices = await self._record(
                    session, podcasts, live, checks, now, failures
                )
                claimed = await queries.claim_pending_tweets(
                    session, now - RETRY_WINDOW, now, self._shards
                )
        except SQLAlchemyError:
            log.warning("the check's shared transaction failed; recording podcast by podcast")
            failures.clear()
            new_streams, notices = await self._record_one_by_one(
                podcasts, live, checks, now, failures
            )
            async with self._sessions() as session, session.begin():
                claimed = await queries.claim_pending_tweets(
                    session, now - RETRY_WINDOW, now, self._shards
                )
        result.notices.extend(notices)
        result.notices.extend(self._failure_notices(podcasts, failures))
        if new_streams:
            log.info("new live streams tied to episodes %s", sorted(new_streams))
            result.announcements.extend(await self._announcements(new_streams))
        # Posting goes on in the background; this check's reports show those tweets as
        # `posting`, and the report editor keeps them edited as the outcomes come in.
        self._poster.submit(claimed)
        episode_ids = new_streams | ended | set(claimed.values())
        if episode_ids:
            result.reports.extend(await self._reports(sorted(episode_ids)))
        result.notices.extend(self._batch_notices(batch, podcasts))
        return result

    async def _record(
        self,
        session: AsyncSession,
        podcasts: list[Podcast],
        live: list[tuple[Podcast, LiveCheck]],
        checks: dict[str, LiveCheck],
        now: dt.datetime,
        failures: dict[int, tuple[Podcast, BaseException]],
    ) -> tuple[set[int], list[Notice]]:
        """Record every podcast's check and tie new streams to episodes. A podcast whose own
        data fails in Python (a poisoned timezone, say) is left out and put in `failures`."""
        notices: list[Notice] = []
        attach_rows, restart_rows, reported = await self._match_streams(
            session, live, now, notices, failures
        )
        check_rows = []
        for podcast in podcasts:
            if podcast.id in failures:
                check_rows.append(self._failed_check_row(podcast, now))
                continue
            try:
                check_rows.append(
                    self._check_row(podcast, checks.get(podcast.youtube_channel_id), now, reported)
                )
            except Exception as exc:
                failures[podcast.id] = (podcast, exc)
                check_rows.append(self._failed_check_row(podcast, now))
        await queries.record_checks(session, check_rows)
        restarted = await queries.restart_streams(session, restart_rows)
        if restarted:
            log.info("streams restarted under a new video for episodes %s", sorted(restarted))
        # A restarted episode's report is edited (new link), like a new stream's is sent.
        return await queries.attach_streams(session, attach_rows) | restarted, notices

    async def _record_one_by_one(
        self,
        podcasts: list[Podcast],
        live: list[tuple[Podcast, LiveCheck]],
        checks: dict[str, LiveCheck],
        now: dt.datetime,
        failures: dict[int, tuple[Podcast, BaseException]],
    ) -> tuple[set[int], list[Notice]]:
        """The bulkhead behind the shared transaction: each podcast in its own, so a row that
        fails in the database fails only its own podcast. All failing is no podcast's fault."""
        new_streams: set[int] = set()
        notices: list[Notice] = []
        for podcast in podcasts:
            mine = [(p, c) for p, c in live if p.id == podcast.id]
            try:
                async with self._sessions() as session, session.begin():
                    streams, told = await self._record(
                        session, [podcast], mine, checks, now, failures
                    )
                new_streams |= streams
                notices.extend(told)
            except SQLAlchemyError as exc:
                failures[podcast.id] = (podcast, exc)
        if podcasts and len(failures) == len(podcasts):
            raise next(iter(failures.values()))[1]
        return new_streams, notices

    def _failed_check_row(self, podcast: Podcast, now: dt.datetime) -> dict[str, object]:
        return {
            "id": podcast.id,
            "last_checked_at": now,
            "last_check_result": "failed for this podcast (see the announce channel)",
            "upcoming_start_at": None,
            "last_reported_video_id": podcast.last_reported_video_id,
            "scheduled_streams": podcast.scheduled_streams,
            "last_live_video_id": podcast.last_live_video_id,
            "last_live_at": podcast.last_live_at,
        }

    def _failure_notices(
        self, podcasts: list[Podcast], failures: dict[int, tuple[Podcast, BaseException]]
    ) -> list[Notice]:
        """One notice per podcast whose part of the check failed, the first time it fails;
        the log has the traceback under the same reference code."""
        notices = []
        for podcast, error in failures.values():
            ref = new_reference()
            log.error(
                "live check failed for podcast %s (guild %s), ref %s; the others went on",
                podcast.id,
                podcast.guild_id,
                ref,
                exc_info=error,
            )
            if podcast.id in self._failing:
                continue
            self._failing.add(podcast.id)
            notices.append(
                Notice(
                    podcast.guild_id,
                    podcast.announce_channel_id,
                    "check_failed",
                    f"OnAir couldn't check this podcast's channel (ref {ref}). It keeps trying "
                    "every few minutes; running /podcast setup again usually fixes its "
                    "settings. The operator can look the reference up in the log.",
                )
            )
        self._failing -= {p.id for p in podcasts if p.id not in failures}
        return notices

    def _batch_notices(self, batch: ChannelBatch, podcasts: list[Podcast]) -> list[Notice]:
        """What happened to the whole batch (quota, key, blocked) is told to every server in it."""
        if batch.page_checks_blocked_now:
            log.warning("YouTube blocks page checks (bot wall or consent page)")
            blocked = [
                p
                for p in podcasts
                if (check := batch.checks.get(p.youtube_channel_id)) is not None
                and check.reason in ("blocked", "captcha")
            ]
            return [
                Notice(p.guild_id, p.announce_channel_id, "blocked", BLOCKED_TEXT) for p in blocked
            ]
        if not (batch.quota_exhausted_now or batch.api_key_rejected_now):
            return []
        problem = (
            "The YouTube Data API quota is used up for today"
            if batch.quota_exhausted_now
            else "YouTube rejected YOUTUBE_API_KEY"
        )
        log.warning("%s; falling back to page checks", problem)
        text = (
            f"{problem}: OnAir checks the channel page instead (no quota needed) "
            "until that is fixed. Live detection keeps working."
        )
        return [Notice(p.guild_id, p.announce_channel_id, "quota", text) for p in podcasts]

    async def _match_streams(
        self,
        session: AsyncSession,
        live: list[tuple[Podcast, LiveCheck]],
        now: dt.datetime,
        notices: list[Notice],
        failures: dict[int, tuple[Podcast, BaseException]],
    ) -> tuple[list[dict[str, object]], list[dict[str, object]], dict[int, str]]:
        """Decide, for every live channel, which episode the stream is (one query for all):
        one already tied to it, the episode whose stream just restarted, or a new one."""
        local_dates: dict[int, dt.date] = {}
        for podcast, _ in live:
            try:
                local_dates[podcast.id] = local_today(podcast.timezone, now)
            except Exception as exc:
                failures[podcast.id] = (podcast, exc)
        live = [(p, c) for p, c in live if p.id not in failures]
        if not live:
            return [], [], {}
        video_ids = [c.video_id for _, c in live if c.video_id]
        video_ids += [p.last_live_video_id for p, _ in live if p.last_live_video_id]
        episodes = await queries.candidate_episodes(session, local_dates, video_ids)
        by_podcast: dict[int, list[Episode]] = {}
        for episode in episodes:
            by_podcast.setdefault(episode.podcast_id, []).append(episode)
        attach_rows: list[dict[str, object]] = []
        restart_rows: list[dict[str, object]] = []
        reported: dict[int, str] = {}
        for podcast, check in live:
            candidates = by_podcast.get(podcast.id, [])
            if any(e.live_video_id == check.video_id for e in candidates):
                continue  # already ours: retries are claimed below
            restarted = restarted_episode(podcast, check, candidates, now)
            if restarted is not None:
                restart_rows.append(
                    {
                        "id": restarted.id,
                        "old_video_id": restarted.live_video_id,
                        "live_video_id": check.video_id,
                        "live_url": check.url,
                        "live_title": (check.title or "")[:300] or None,
                    }
                )
                continue
            try:
                notice = self._skip_reason(podcast, check, now, candidates)
            except Exception as exc:
                failures[podcast.id] = (podcast, exc)
                continue
            if notice is not None:
                if podcast.last_reported_video_id != check.video_id:
                    notices.append(notice)
                reported[podcast.id] = check.video_id or ""
                continue
            episode = episode_for_stream(candidates, min(check.started_at or now, now))
            attach_rows.append(
                {
                    "id": episode.id,
                    "live_video_id": check.video_id,
                    "live_url": check.url,
                    "live_title": (check.title or "")[:300] or None,
                    "went_live_at": min(check.started_at or now, now),
                }
            )
        return attach_rows, restart_rows, reported

    async def _stream_ends(
        self, podcasts: list[Podcast], checks: dict[str, LiveCheck], now: dt.datetime
    ) -> set[int]:
        """The end-of-stream bookkeeping in its own transaction, so it can't hold up the check."""
        try:
            async with self._sessions() as session, session.begin():
                return await self._track_stream_ends(session, podcasts, checks, now)
        except SQLAlchemyError:
            log.exception("recording stream ends failed (ref %s)", new_reference())
            return set()

    async def _announcements(self, episode_ids: set[int]) -> list[Announcement]:
        """One go-live announcement per episode, the first time a stream is tied to it."""
        async with self._sessions() as session, session.begin():
            episodes = await queries.claim_announcements(session, sorted(episode_ids))
        return [
            Announcement(
                guild_id=e.podcast.guild_id,
                announce_channel_id=e.podcast.announce_channel_id,
                show_name=e.podcast.name,
                stream_title=e.live_title or "(untitled)",
                stream_url=e.live_url or "",
                ping_role_id=e.podcast.ping_role_id,
            )
            for e in episodes
        ]

    async def _track_stream_ends(
        self,
        session: AsyncSession,
        podcasts: list[Podcast],
        checks: dict[str, LiveCheck],
        now: dt.datetime,
    ) -> set[int]:
        """Episodes whose stream ended with this check: YouTube says it ended, or the channel
        was not live with it for two checks in a row (an "unknown" answer counts for nothing)."""
        on_air = await queries.on_air_episodes(session, [p.id for p in podcasts], now - ON_AIR_FOR)
        if not on_air:
            return set()
        channel_of = {p.id: p.youtube_channel_id for p in podcasts}
        rows: list[dict[str, object]] = []
        for episode in on_air:
            check = checks.get(channel_of[episode.podcast_id])
            if check is None or check.state == "unknown":
                continue
            video = episode.live_video_id or ""
            if check.state == "live" and check.video_id == video:
                if episode.offline_checks:
                    rows.append({"id": episode.id, "offline_checks": 0, "ended_at": None})
                continue
            # Live with another video is a restart or the next stream (the matching decides):
            # only a miss, even if YouTube already calls the old video ended.
            seen_ended = check.state != "live" and (
                check.video_states.get(video) == VideoState.ENDED
                or (check.state == "offline" and check.video_id == video)
            )
            misses = episode.offline_checks + 1
            ended_at = now if seen_ended or misses >= OFFLINE_CHECKS_TO_END else None
            rows.append({"id": episode.id, "offline_checks": misses, "ended_at": ended_at})
        await queries.record_stream_ends(session, rows)
        return {int(r["id"]) for r in rows if r["ended_at"] is not None}  # type: ignore[call-overload]

    def _skip_reason(
        self, podcast: Podcast, check: LiveCheck, now: dt.datetime, candidates: list[Episode]
    ) -> Notice | None:
        title = escape_markdown(check.title or "(untitled)")

        def notice(kind: str, text: str) -> Notice:
            return Notice(podcast.guild_id, podcast.announce_channel_id, kind, text)

        if podcast.title_filter and podcast.title_filter.lower() not in title.lower():
            return notice(
                "filtered",
                f"The channel is live with “{title}” ({check.url}), but the title doesn't "
                f"contain “{escape_markdown(podcast.title_filter)}”, so it isn't treated as an "
                "episode.",
            )
        if check.started_at is not None and now - check.started_at > LATE_AFTER:
            return notice(
                "too_late",
                f"The channel is live with “{title}” ({check.url}), but it started more than "
                "2 hours before OnAir saw it, so no tweets were posted.",
            )
        if not any(e.live_video_id is None for e in candidates):
            return notice(
                "no_episode",
                f"The channel is live with “{title}” ({check.url}), but no episode is scheduled "
                "for today or yesterday. Add one with /episode add; hosts can still use "
                "/tweet post-now.",
            )
        return None

    def _check_row(
        self, podcast: Podcast, check: LiveCheck | None, now: dt.datetime, reported: dict[int, str]
    ) -> dict[str, object]:
        upcoming = podcast.upcoming_start_at
        scheduled = podcast.scheduled_streams
        last_live = (podcast.last_live_video_id, podcast.last_live_at)
        text = "unknown this time (no answer)"
        if check is not None:
            text = describe_check(check)
            scheduled = [
                {"video_id": s.video_id, "scheduled_start": s.scheduled_start.isoformat()}
                for s in check.scheduled
                if s.scheduled_start is not None
            ]
            if check.state == "upcoming":
                upcoming = check.scheduled_start
            elif check.state in ("live", "offline"):
                # The next known waiting room (say, next week's episode) keeps fast checks due.
                starts = [s.scheduled_start for s in check.scheduled if s.scheduled_start]
                upcoming = min(starts, default=None)
            if check.state == "live" and check.video_id:
                last_live = (check.video_id, now)
        return {
            "id": podcast.id,
            "last_checked_at": now,
            "last_check_result": text,
            "upcoming_start_at": upcoming,
            "last_reported_video_id": reported.get(podcast.id, podcast.last_reported_video_id),
            "scheduled_streams": scheduled,
            "last_live_video_id": last_live[0],
            "last_live_at": last_live[1],
        }

    async def _reports(self, episode_ids: list[int]) -> list[StreamReport]:
        """This check's reports: a stream's first one is reserved here (sent by the caller)."""
        async with self._sessions() as session, session.begin():
            tweets = await queries.tweets_of_episodes(session, episode_ids)
            fresh = await queries.reserve_reports(
                session, episode_ids, self._clock() - REPORT_RESERVATION_TTL
            )
        return build_reports(tweets, fresh)

    async def render_reports(self, episode_ids: list[int]) -> tuple[list[StreamReport], set[int]]:
        """The reports of these streams as the database has them now, to edit the messages
        already sent; and the streams whose first report is not saved yet (they have none)."""
        async with self._sessions() as session:
            tweets = await queries.tweets_of_episodes(session, episode_ids)
        on_its_way = {
            t.episode_id
            for t in tweets
            if t.episode.live_video_id is not None and not t.episode.report_message_id
        }
        return build_reports(tweets, None), on_its_way

    async def save_report_message(self, episode_id: int, channel_id: int, message_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await queries.save_report_message(session, episode_id, channel_id, message_id)


def build_reports(tweets: Sequence[EpisodeTweet], fresh: set[int] | None) -> list[StreamReport]:
    """One report per episode of `tweets`. `fresh`: the episodes whose first report this
    caller sends (the others are edits, skipped while no message is saved yet); None: edits
    only."""
    reports: dict[int, StreamReport] = {}
    for tweet in tweets:
        episode = tweet.episode
        report = reports.get(episode.id)
        if report is None:
            first = fresh is not None and episode.id in fresh
            if not first and not episode.report_message_id:
                continue  # its first report is being sent (by this process or another)
            report = reports[episode.id] = StreamReport(
                guild_id=episode.podcast.guild_id,
                announce_channel_id=episode.report_channel_id
                or episode.podcast.announce_channel_id,
                episode_id=episode.id,
                episode_title=episode.title,
                stream_title=episode.live_title,
                stream_url=episode.live_url,
                report_message_id=None if first else episode.report_message_id,
                video_id=episode.live_video_id,
                went_live_at=episode.went_live_at,
                ended_at=episode.ended_at,
            )
        text = final_text(tweet) if tweet.status == PostStatus.DRY_RUN else None
        report.lines.append(
            host_line(tweet, text, require_approval=episode.podcast.require_approval)
        )
        if report.app_problem is None and is_app_problem(tweet.failure_reason):
            closed = tweet.status is not PostStatus.PENDING
            report.app_problem = explain(tweet.failure_reason, closed=closed)
    return list(reports.values())


BLOCKED_TEXT = (
    "YouTube is answering OnAir's checks of the channel page with its “confirm you're not a "
    "bot” or consent page, so OnAir can't see right now whether the channel is live. It keeps "
    "trying, more slowly. To stop depending on the page, the bot's operator can set "
    "YOUTUBE_API_KEY (a free YouTube Data API key) and restart OnAir."
)


def known_scheduled(podcasts: list[Podcast]) -> dict[str, list[ScheduledStream]]:
    """The waiting rooms earlier checks saw, per channel (podcasts may share one)."""
    known: dict[str, list[ScheduledStream]] = {}
    for podcast in podcasts:
        for item in podcast.scheduled_streams or []:
            try:
                start = dt.datetime.fromisoformat(str(item["scheduled_start"]))
                stream = ScheduledStream(str(item["video_id"]), start)
            except (KeyError, TypeError, ValueError):
                continue
            known.setdefault(podcast.youtube_channel_id, []).append(stream)
    return known


def restarted_episode(
    podcast: Podcast, check: LiveCheck, candidates: list[Episode], now: dt.datetime
) -> Episode | None:
    """The episode whose stream this new video restarts, if it is one.

    A stream that drops and starts again gets a new video id. Seen live within RESTART_WINDOW
    of the previous stream (while it is still live, or just after), it is the same episode,
    unless another episode of the day is timed to begin by now: then it is that one's stream.
    """
    previous, seen_at = podcast.last_live_video_id, podcast.last_live_at
    if not previous or previous == check.video_id or seen_at is None:
        return None
    if now - seen_at > RESTART_WINDOW:
        return None
    first = next((e for e in candidates if e.live_video_id == previous), None)
    if first is None:
        return None
    began = first.went_live_at or now
    next_due = any(
        e.live_video_id is None
        and e.scheduled_at is not None
        and e.scheduled_at > began
        and e.scheduled_at - NEXT_EPISODE_LEAD <= now
        for e in candidates
    )
    return None if next_due else first


def episode_for_stream(candidates: list[Episode], started: dt.datetime) -> Episode:
    """Of the episodes still waiting for a stream, the one this stream is: the timed episode
    nearest its start (two episodes on one day each get their own), else the latest day's."""
    waiting = [e for e in candidates if e.live_video_id is None]

    def distance(episode: Episode) -> dt.timedelta:
        if episode.scheduled_at is None:
            return LATE_AFTER  # an untimed episode fits any stream of its day, loosely
        return abs(episode.scheduled_at - started)

    return min(waiting, key=distance)  # ties keep the latest day first


def host_line(
    tweet: EpisodeTweet, text: str | None = None, *, require_approval: bool = True
) -> HostLine:
    """One host's line in a report or status table (`text`: what a dry run would post)."""
    name, uid = tweet.host.display_name, tweet.host.discord_user_id
    if tweet.status == PostStatus.POSTED:
        return HostLine(name, uid, "posted", link=tweet.tweet_url)
    if tweet.status == PostStatus.DRY_RUN:
        return HostLine(name, uid, "dry_run", reason=DRY_RUN_NOTE, text=text)
    if tweet.status == PostStatus.FAILED:
        return HostLine(name, uid, "failed", reason=explain(tweet.failure_reason))
    if tweet.status == PostStatus.UNKNOWN:
        return HostLine(name, uid, "unknown", reason=explain(tweet.failure_reason))
    if tweet.status == PostStatus.POSTING:
        return HostLine(name, uid, "posting")
    if not tweet.enabled:
        return HostLine(name, uid, "disabled")
    hold = hold_reason(tweet)
    if hold is not None:
        return HostLine(name, uid, "held", reason=explain(hold, closed=False))
    if needs_approval(tweet, require_approval):
        return HostLine(name, uid, "unapproved", reason=explain(UNAPPROVED, closed=False))
    if tweet.failure_reason in _WAITING_FOR_X_LIMIT:
        # The account's limit at X: say so, in the catalogue's words.
        return HostLine(name, uid, "retrying", reason=explain(tweet.failure_reason, closed=False))
    if tweet.attempts > 0 or is_app_problem(tweet.failure_reason):
        return HostLine(name, uid, "retrying")
    return HostLine(name, uid, "waiting")


_WAITING_FOR_X_LIMIT = frozenset({Reason.RATE_LIMITED, Reason.DAILY_CAP})
