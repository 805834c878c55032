"""The live check: which channels are live, which episode that is, and posting its tweets.

One check runs a fixed number of SQL statements whatever the number of podcasts and hosts:
load due podcasts; (YouTube, concurrently); one transaction that records every result, ties new
streams to episodes and claims every due tweet; (X, concurrently); record outcomes; load what
the reports show. Nothing here knows Discord: it returns `StreamReport`s and `Notice`s.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import UNAPPROVED, hold_reason, needs_approval
from bot.clock import utcnow
from bot.errors import DRY_RUN_NOTE, Reason, explain, is_app_problem
from bot.posting import RETRY_WINDOW, PostedLine, TweetPoster
from bot.timezones import local_today
from bot.youtube import ChannelBatch, LiveCheck, YouTubeClient
from db import queries
from db.models import Episode, EpisodeTweet, Podcast, PostStatus

log = logging.getLogger("onair.live")

LATE_AFTER = dt.timedelta(hours=2)
# How long one checker may take to send a stream's first report before another takes over.
REPORT_RESERVATION_TTL = dt.timedelta(minutes=2)


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
    reports: list[StreamReport] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def describe_check(check: LiveCheck) -> str:
    if check.state == "live":
        return f"live: {check.title or check.video_id}"[:200]
    if check.state == "upcoming":
        when = check.scheduled_start.isoformat(timespec="minutes") if check.scheduled_start else "?"
        return f"upcoming at {when}: {check.title or check.video_id}"[:200]
    if check.state == "unknown":
        return f"unknown this time ({check.reason or 'no answer'})"
    return "offline"


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
    ) -> None:
        self._sessions = sessions
        self._youtube = youtube
        self._poster = poster
        self._interval = interval
        self._fast_interval = fast_interval
        self._stale_after = stale_posting_after
        self._clock = clock

    async def recover_interrupted(self) -> list[Notice]:
        """Tweets stuck in `posting` (a crash mid-post) become `unknown` and are announced."""
        async with self._sessions() as session, session.begin():
            stuck = await queries.mark_stale_posting_unknown(
                session, self._clock() - self._stale_after, Reason.INTERRUPTED
            )
        notices = []
        for tweet in stuck:
            podcast = tweet.episode.podcast
            log.warning("tweet %s was interrupted while posting; marked unknown", tweet.id)
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
                await queries.due_podcasts(session, now, self._interval, self._fast_interval)
            )
        result.checked = len(podcasts)
        batch = ChannelBatch({})
        if podcasts:
            batch = await self._youtube.check_channels(
                sorted({p.youtube_channel_id for p in podcasts})
            )
        checks = batch.checks
        live = [
            (p, checks[p.youtube_channel_id])
            for p in podcasts
            if p.youtube_channel_id in checks and checks[p.youtube_channel_id].state == "live"
        ]
        async with self._sessions() as session, session.begin():
            attach_rows, reported = await self._match_streams(session, live, now, result)
            check_rows = [
                self._check_row(p, checks.get(p.youtube_channel_id), now, reported)
                for p in podcasts
            ]
            await queries.record_checks(session, check_rows)
            new_streams = await queries.attach_streams(session, attach_rows)
            claimed = await queries.claim_pending_tweets(session, now - RETRY_WINDOW, now)
        if new_streams:
            log.info("new live streams tied to episodes %s", sorted(new_streams))
        posted = await self._poster.post_claimed(claimed)
        episode_ids = new_streams | {line.episode_id for line in posted}
        if episode_ids:
            result.reports.extend(await self._reports(sorted(episode_ids), posted))
        result.notices.extend(self._batch_notices(batch, podcasts))
        return result

    def _batch_notices(self, batch: ChannelBatch, podcasts: list[Podcast]) -> list[Notice]:
        """What happened to the whole batch (quota, key) is told to every server in it."""
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
        result: CheckResult,
    ) -> tuple[list[dict[str, object]], dict[int, str]]:
        """Decide, for every live channel, which episode the stream is (one query for all)."""
        if not live:
            return [], {}
        episodes = await queries.candidate_episodes(
            session,
            {p.id: local_today(p.timezone, now) for p, _ in live},
            [c.video_id for _, c in live if c.video_id],
        )
        by_podcast: dict[int, list[Episode]] = {}
        for episode in episodes:
            by_podcast.setdefault(episode.podcast_id, []).append(episode)
        attach_rows: list[dict[str, object]] = []
        reported: dict[int, str] = {}
        for podcast, check in live:
            candidates = by_podcast.get(podcast.id, [])
            if any(e.live_video_id == check.video_id for e in candidates):
                continue  # already ours: retries are claimed below
            notice = self._skip_reason(podcast, check, now, candidates)
            if notice is not None:
                if podcast.last_reported_video_id != check.video_id:
                    result.notices.append(notice)
                reported[podcast.id] = check.video_id or ""
                continue
            episode = next(e for e in candidates if e.live_video_id is None)
            attach_rows.append(
                {
                    "id": episode.id,
                    "live_video_id": check.video_id,
                    "live_url": check.url,
                    "live_title": (check.title or "")[:300] or None,
                    "went_live_at": min(check.started_at or now, now),
                }
            )
        return attach_rows, reported

    def _skip_reason(
        self, podcast: Podcast, check: LiveCheck, now: dt.datetime, candidates: list[Episode]
    ) -> Notice | None:
        title = check.title or "(untitled)"

        def notice(kind: str, text: str) -> Notice:
            return Notice(podcast.guild_id, podcast.announce_channel_id, kind, text)

        if podcast.title_filter and podcast.title_filter.lower() not in title.lower():
            return notice(
                "filtered",
                f"The channel is live with “{title}” ({check.url}), but the title doesn't "
                f"contain “{podcast.title_filter}”, so it isn't treated as an episode.",
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
        text = "unknown this time (no answer)"
        if check is not None:
            text = describe_check(check)
            if check.state == "upcoming":
                upcoming = check.scheduled_start
            elif check.state in ("live", "offline"):
                upcoming = None
        return {
            "id": podcast.id,
            "last_checked_at": now,
            "last_check_result": text,
            "upcoming_start_at": upcoming,
            "last_reported_video_id": reported.get(podcast.id, podcast.last_reported_video_id),
        }

    async def _reports(
        self, episode_ids: list[int], posted: list[PostedLine]
    ) -> list[StreamReport]:
        texts = {(p.episode_id, p.host_user_id): p.text for p in posted}
        async with self._sessions() as session, session.begin():
            tweets = await queries.tweets_of_episodes(session, episode_ids)
            fresh = await queries.reserve_reports(
                session, episode_ids, self._clock() - REPORT_RESERVATION_TTL
            )
        reports: dict[int, StreamReport] = {}
        for tweet in tweets:
            episode = tweet.episode
            report = reports.get(episode.id)
            if report is None:
                if episode.id not in fresh and not episode.report_message_id:
                    continue  # another process is sending this stream's first report
                report = reports[episode.id] = StreamReport(
                    guild_id=episode.podcast.guild_id,
                    announce_channel_id=episode.report_channel_id
                    or episode.podcast.announce_channel_id,
                    episode_id=episode.id,
                    episode_title=episode.title,
                    stream_title=episode.live_title,
                    stream_url=episode.live_url,
                    report_message_id=None if episode.id in fresh else episode.report_message_id,
                    video_id=episode.live_video_id,
                )
            report.lines.append(
                host_line(
                    tweet,
                    texts.get((episode.id, tweet.host.discord_user_id)),
                    require_approval=episode.podcast.require_approval,
                )
            )
            if report.app_problem is None and is_app_problem(tweet.failure_reason):
                closed = tweet.status is not PostStatus.PENDING
                report.app_problem = explain(tweet.failure_reason, closed=closed)
        return list(reports.values())

    async def save_report_message(self, episode_id: int, channel_id: int, message_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await queries.save_report_message(session, episode_id, channel_id, message_id)


def host_line(
    tweet: EpisodeTweet, text: str | None = None, *, require_approval: bool = True
) -> HostLine:
    """One host's line in a report or status table."""
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
    if tweet.attempts > 0 or is_app_problem(tweet.failure_reason):
        return HostLine(name, uid, "retrying")
    return HostLine(name, uid, "waiting")
