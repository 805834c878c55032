"""Factories for service-level tests of the live pipeline: real services, a real PostgreSQL,
and the loopback YouTube and X emulators, wired the way bot/app.py's build_services wires them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from aiolimiter import AsyncLimiter
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from tests.rig import World

from bot.crypto import TokenCipher
from bot.drafts import Drafter
from bot.live_check import CheckResult, LiveChecker, StreamReport, build_reports
from bot.podcasts import PodcastService
from bot.posting import OutcomeRecorder, RetryPolicy, TweetPoster
from bot.tweets import TweetService
from bot.x import XService
from bot.youtube import YouTubeClient
from db import queries
from db.models import Episode, EpisodeTweet, Host, Podcast, PostAttempt
from tests.emulators.x_api import TWEET_PATH, XEmulator
from tests.emulators.youtube_site import YouTubeEmulator

HTTP_TIMEOUT = 2.0
ANNOUNCE_CHANNEL = 900_000
HOST_ROLE = 800_000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def channel_id(n: int) -> str:
    """A well-formed UC… channel id (24 characters) numbered `n`."""
    return f"UC{n:022d}"


def video_id(n: int) -> str:
    """A well-formed 11-character video id numbered `n`."""
    return f"v{n:010d}"


class OffsetClock:
    """Real time plus an offset the test moves forward, so the database's now() and the
    emulators' real time stay consistent with what the services believe."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


@dataclass
class Pipeline:
    """One process's worth of OnAir services and clients."""

    sessions: async_sessionmaker[AsyncSession]
    youtube_emu: YouTubeEmulator
    x_emu: XEmulator
    youtube: YouTubeClient
    x: XService
    cipher: TokenCipher
    poster: TweetPoster
    checker: LiveChecker
    podcasts: PodcastService
    tweets: TweetService
    clock: OffsetClock
    x_limiter: AsyncLimiter = field(repr=False, default_factory=lambda: AsyncLimiter(1000, 1))

    async def check(self) -> CheckResult:
        """One live check and the posting it handed over, to the end: each report as the
        check returned it (sent or edited), its lines as the report editor's last edit shows
        them once every outcome is written."""
        result = await self.checker.run_check()
        await self.poster.drain()
        if result.reports:
            async with self.sessions() as session:
                tweets = await queries.tweets_of_episodes(
                    session, [r.episode_id for r in result.reports]
                )
            final = {
                r.episode_id: r
                for r in build_reports(tweets, {r.episode_id for r in result.reports})
            }
            for report in result.reports:
                report.lines = final[report.episode_id].lines
                report.app_problem = final[report.episode_id].app_problem
        return result

    def tweets_posted(self) -> int:
        """How many tweets X accepted (the only count that matters for at-most-once)."""
        return len(self.x_emu.all_tweets)

    def post_requests(self) -> int:
        """How many posting requests reached X (accepted or not)."""
        return self.x_emu.count(TWEET_PATH, "POST")


@asynccontextmanager
async def open_pipeline(
    sessions: async_sessionmaker[AsyncSession],
    *,
    youtube_emu: YouTubeEmulator | None = None,
    x_emu: XEmulator | None = None,
    cipher: TokenCipher | None = None,
    clock: OffsetClock | None = None,
    dry_run: bool = False,
    retry_base: dt.timedelta = dt.timedelta(milliseconds=10),
    flush_every: float = 0.5,
    http_timeout: float = HTTP_TIMEOUT,
    lease_every: float = 0.5,
    concurrency: int = 8,
) -> AsyncIterator[Pipeline]:
    """Real clients against the emulators (started here unless given), real services on
    `sessions`. Pass the same emulators and cipher to a second call for a second 'process'."""
    async with AsyncExitStack() as stack:
        if youtube_emu is None:
            youtube_emu = await stack.enter_async_context(YouTubeEmulator())
        if x_emu is None:
            x_emu = await stack.enter_async_context(XEmulator())
        cipher = cipher or TokenCipher([Fernet.generate_key().decode()])
        clock = clock or OffsetClock()
        youtube = YouTubeClient(
            youtube_emu.base_url, youtube_emu.base_url + "/youtube/v3", None, timeout=HTTP_TIMEOUT
        )
        stack.push_async_callback(youtube.aclose)
        x_limiter = AsyncLimiter(1000, 1)  # the X budget of commands (linking, checks)
        x = XService(
            x_emu.base_url,
            x_emu.consumer_key,
            x_emu.consumer_secret,
            timeout=http_timeout,
        )
        stack.push_async_callback(x.aclose)
        poster = TweetPoster(
            sessions,
            x,
            cipher,
            dry_run=dry_run,
            policy=RetryPolicy(base_delay=retry_base, min_delay=dt.timedelta(seconds=http_timeout)),
            recorder=OutcomeRecorder(sessions, flush_every=flush_every),
            clock=clock,
            lease_every=lease_every,
            concurrency=concurrency,
        )
        stack.push_async_callback(poster.aclose)
        checker = LiveChecker(
            sessions,
            youtube,
            poster,
            interval=dt.timedelta(milliseconds=1),
            fast_interval=dt.timedelta(milliseconds=1),
            clock=clock,
        )
        poster.on_progress = checker.reports.progress
        yield Pipeline(
            sessions=sessions,
            youtube_emu=youtube_emu,
            x_emu=x_emu,
            youtube=youtube,
            x=x,
            cipher=cipher,
            poster=poster,
            checker=checker,
            podcasts=PodcastService(sessions, youtube, clock=clock),
            tweets=TweetService(
                sessions,
                Drafter(api_key=None),
                poster,
                ai_limiter=AsyncLimiter(1000, 1),
                clock=clock,
            ),
            clock=clock,
            x_limiter=x_limiter,
        )


@dataclass(frozen=True)
class PodcastSetup:
    guild_id: int
    podcast_id: int
    episode_id: int
    channel_id: str
    host_ids: dict[int, int]  # discord user id -> host id


async def setup_podcast(
    pipe: Pipeline,
    *,
    guild_id: int,
    channel: str,
    members: Sequence[tuple[int, str]],
    linked: dict[int, str],
    episode_title: str = "Episode 12: The Pipeline",
    with_episode: bool = True,
    approved: bool = True,
) -> PodcastSetup:
    """A podcast on `channel`, an episode scheduled today, a tweet per member (template text,
    approved by its host unless `approved` is False), and X accounts (tokens issued by the X
    emulator, stored encrypted) for `linked` members."""
    pipe.youtube_emu.add_channel(channel, title=f"Show {guild_id}")
    podcast = await pipe.podcasts.setup(
        guild_id=guild_id,
        name=f"Show {guild_id}",
        youtube_channel=channel,
        announce_channel_id=ANNOUNCE_CHANNEL + guild_id,
        host_role_id=HOST_ROLE,
        admin_role_id=None,
        timezone="UTC",
    )
    episode_id = 0
    host_ids: dict[int, int] = {}
    if with_episode:
        episode = await pipe.podcasts.add_episode(
            guild_id, title=episode_title, date=utcnow().date().isoformat(), time=None, notes=None
        )
        episode_id = episode.id
        if members:
            await pipe.tweets.create_all(guild_id, str(episode_id), members, generate=False)
    async with pipe.sessions() as session, session.begin():
        host_ids = await queries.upsert_hosts(session, podcast.id, members)
        if with_episode and approved:
            await session.execute(
                sa.update(EpisodeTweet)
                .where(EpisodeTweet.episode_id == episode_id)
                .values(approved=True)
            )
        for user_id, username in linked.items():
            token, secret = pipe.x_emu.issue_access_token(username)
            account = pipe.x_emu.account(username)
            await queries.save_x_account(
                session,
                host_ids[user_id],
                x_user_id=account.user_id,
                username=username,
                access_token_encrypted=pipe.cipher.encrypt(token),
                access_token_secret_encrypted=pipe.cipher.encrypt(secret),
            )
    return PodcastSetup(guild_id, podcast.id, episode_id, channel, host_ids)


async def linked_show(pipe: Pipeline, members: Sequence[tuple[int, str]]) -> PodcastSetup:
    """Show 1 (guild 1, channel 1) whose every host is linked to X as host<discord id>."""
    return await setup_podcast(
        pipe,
        guild_id=1,
        channel=channel_id(1),
        members=members,
        linked={uid: f"host{uid}" for uid, _ in members},
    )


def go_live(
    pipe: Pipeline,
    channel: str,
    vid: str,
    title: str = "Episode 12: The Pipeline (live)",
    started_at: dt.datetime | None = None,
) -> None:
    """The channel's stream starts now (or at `started_at`)."""
    pipe.youtube_emu.schedule_stream(channel, vid, title, scheduled_start=utcnow())
    pipe.youtube_emu.start_stream(vid, started_at=started_at)


async def podcast_on_server(
    w: World, sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, hosts: int, n: int
) -> tuple[Pipeline, PodcastSetup]:
    """A podcast on the rig's server, channel `n`: `hosts` members holding its real host role,
    each linked to X with their tweet approved, reporting in its announce channel; the X
    tokens under a fresh key the bot is given too. The returned pipeline is closed (its
    emulators are the world's)."""
    key = Fernet.generate_key().decode()
    w.encryption_key = key
    members = [w.guild.add_member(f"host{h}", roles=[w.host_role]) for h in range(hosts)]
    async with open_pipeline(
        sessions, youtube_emu=w.youtube, x_emu=w.x, cipher=TokenCipher([key])
    ) as pipe:
        setup = await setup_podcast(
            pipe,
            guild_id=w.guild.id,
            channel=channel_id(n),
            members=[(m.id, m.name) for m in members],
            linked={m.id: m.name for m in members},
        )
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE podcasts SET require_approval = false, host_role_id = :role, "
                "announce_channel_id = :channel"
            ),
            {"role": w.host_role.id, "channel": w.announce.id},
        )
        await conn.execute(sa.text("UPDATE episode_tweets SET approved = true"))
    return pipe, setup


async def tweet_rows(sessions: async_sessionmaker[AsyncSession]) -> dict[int, EpisodeTweet]:
    """Every tweet row by host discord user id (for single-podcast tests)."""
    async with sessions() as session:
        rows = await session.execute(
            sa.select(Host.discord_user_id, EpisodeTweet).join(
                Host, Host.id == EpisodeTweet.host_id
            )
        )
        return {uid: tweet for uid, tweet in rows.all()}


async def all_tweets(sessions: async_sessionmaker[AsyncSession]) -> list[EpisodeTweet]:
    async with sessions() as session:
        return list((await session.scalars(sa.select(EpisodeTweet))).all())


async def attempts_of(
    sessions: async_sessionmaker[AsyncSession], tweet_id: int
) -> list[PostAttempt]:
    async with sessions() as session:
        result = await session.scalars(
            sa.select(PostAttempt)
            .where(PostAttempt.episode_tweet_id == tweet_id)
            .order_by(PostAttempt.attempt_no, PostAttempt.id)
        )
        return list(result.all())


async def load_podcast(sessions: async_sessionmaker[AsyncSession], podcast_id: int) -> Podcast:
    async with sessions() as session:
        podcast = await session.get(Podcast, podcast_id)
        assert podcast is not None
        return podcast


async def load_episode(sessions: async_sessionmaker[AsyncSession], episode_id: int) -> Episode:
    async with sessions() as session:
        episode = await session.get(Episode, episode_id)
        assert episode is not None
        return episode


async def clear_podcasts(engine: AsyncEngine) -> None:
    """Forget every podcast and all that hangs off it (cascades); much faster than TRUNCATE,
    for tests that start many rounds from an empty database."""
    async with engine.begin() as conn:
        await conn.execute(sa.delete(Podcast))


class ReportDesk:
    """What cogs/live.py does with a check's reports: send fresh ones (saving the message id)
    and edit the others. Records every delivery for assertions."""

    def __init__(self, pipe: Pipeline) -> None:
        self._pipe = pipe
        self._next_message_id = 7_000_000
        self.sent: list[StreamReport] = []
        self.edited: list[StreamReport] = []

    async def deliver(self, result: CheckResult) -> CheckResult:
        for report in result.reports:
            if report.report_message_id:
                self.edited.append(report)
                continue
            self._next_message_id += 1
            await self._pipe.checker.save_report_message(
                report.episode_id, report.announce_channel_id, self._next_message_id
            )
            self.sent.append(report)
        return result
