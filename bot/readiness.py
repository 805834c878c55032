"""The readiness board: what each host still has to do before an episode starts.

24 hours and 1 hour before an episode's start, one board is posted in the announce channel; it is
edited whenever what it shows changes, until the stream goes live. `/episode ready` shows the
same board on demand. Each line says whether the host's X link works (a cheap authenticated
call, cached for a few minutes) and whether their tweet is approved, enabled and fits, and the
one thing to do if anything is missing. Knows nothing of Discord: the cogs pass the members who
hold the host role and render the `Board`.

An episode's start: the scheduled stream's start when YouTube announced one for that day,
else the episode's time, else the start of its day in the podcast's timezone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiolimiter import AsyncLimiter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approval import AWAY, HELD, hold_reason, needs_approval
from bot.clock import utcnow
from bot.crypto import TokenCipher, TokenUnreadable
from bot.drafts import template_draft
from bot.errors import PodcastNotSetUp
from bot.podcasts import resolve_episode
from bot.posting import tweet_link
from bot.tweet_text import fits
from bot.x import XService, XUnavailable
from db import queries
from db.models import Episode, EpisodeTweet, Podcast, XAccount

log = logging.getLogger("onair.readiness")

DAY_BEFORE = 1
HOUR_BEFORE = 2
LEADS = ((HOUR_BEFORE, dt.timedelta(hours=1)), (DAY_BEFORE, dt.timedelta(hours=24)))
# A board is kept up to date this long after the start, while the stream hasn't begun.
EDIT_AFTER_START = dt.timedelta(hours=2)
LINK_CHECK_TTL = dt.timedelta(minutes=10)
# Two hosts' texts this alike (rapidfuzz's ratio, 0-100) count as substantially similar.
NEAR_DUPLICATE_PERCENT = 85

Members = Callable[[int, int], Sequence[tuple[int, str]] | None]


class LinkState(StrEnum):
    OK = "ok"
    NOT_LINKED = "not_linked"
    BROKEN = "broken"  # X answers 401: the host must relink
    UNCHECKED = "unchecked"  # X couldn't be asked right now


class TweetState(StrEnum):
    READY = "ready"  # approved (or opted in), enabled, fits
    MISSING = "missing"
    UNAPPROVED = "unapproved"
    TOO_LONG = "too_long"
    DISABLED = "disabled"
    HELD = "held"  # an admin holds it
    AWAY = "away"  # the host lost the host role
    DONE = "done"  # already posted (or being posted, or closed)


@dataclass(frozen=True)
class HostReadiness:
    user_id: int
    name: str
    x_username: str | None
    link: LinkState
    tweet: TweetState
    todo: str | None  # the one thing this host should do, or None

    @property
    def must_act(self) -> bool:
        return self.todo is not None


@dataclass(frozen=True)
class NearDuplicate:
    first: str
    second: str
    percent: int


@dataclass
class Board:
    guild_id: int
    announce_channel_id: int
    episode_id: int
    episode_title: str
    starts_at: dt.datetime
    stage: int  # DAY_BEFORE, HOUR_BEFORE, or 0 on demand
    message_id: int | None  # None: post it, else edit this message
    hosts: list[HostReadiness] = field(default_factory=list)
    duplicates: list[NearDuplicate] = field(default_factory=list)

    @property
    def mentions(self) -> list[int]:
        """The hosts who must act, once each."""
        return list(dict.fromkeys(h.user_id for h in self.hosts if h.must_act))

    def digest(self) -> str:
        """Changes whenever anything the board shows changes."""
        shown = {
            "title": self.episode_title,
            "starts": self.starts_at.isoformat(),
            "hosts": [asdict(h) for h in self.hosts],
            "duplicates": [asdict(d) for d in self.duplicates],
        }
        return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def episode_start(episode: Episode, podcast: Podcast) -> dt.datetime:
    """The stream's announced start on the episode's day, its time, or the start of its day."""
    return start_of(
        podcast.timezone, podcast.upcoming_start_at, episode.scheduled_at, episode.scheduled_date
    )


def start_of(
    timezone: str,
    upcoming: dt.datetime | None,
    scheduled_at: dt.datetime | None,
    scheduled_date: dt.date,
) -> dt.datetime:
    zone = ZoneInfo(timezone)
    if upcoming is not None and upcoming.astimezone(zone).date() == scheduled_date:
        return upcoming
    if scheduled_at is not None:
        return scheduled_at
    return dt.datetime.combine(scheduled_date, dt.time(), tzinfo=zone)


def due_stage(start: dt.datetime, now: dt.datetime) -> int:
    """The latest board due by `now` before `start` (0: none yet, or already started)."""
    if now >= start:
        return 0
    return next((stage for stage, lead in LEADS if now >= start - lead), 0)


class ReadinessService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        x: XService,
        cipher: TokenCipher,
        *,
        x_limiter: AsyncLimiter,
        clock: Callable[[], dt.datetime] = utcnow,
        shards: queries.Shards | None = None,
    ) -> None:
        self._sessions = sessions
        self._shards = shards  # only servers on this process's shards (README "Sharding")
        self._x = x
        self._cipher = cipher
        self._x_limiter = x_limiter
        self._clock = clock
        self._link_checks: dict[tuple[int, dt.datetime], tuple[LinkState, dt.datetime]] = {}

    async def board(
        self, guild_id: int, episode: str, members: Sequence[tuple[int, str]] | None
    ) -> Board:
        """The board of one episode, now (`/episode ready`)."""
        async with self._sessions() as session:
            podcast = await queries.get_podcast_by_guild(session, guild_id)
            if podcast is None:
                raise PodcastNotSetUp()
            found = await resolve_episode(session, podcast.id, episode)
            tweets = await queries.tweets_for_board(session, [found.id])
        return await self._build(
            podcast, found, tweets, members, stage=0, message_id=None, fresh_links=True
        )

    async def due_boards(self, members_of: Members) -> list[Board]:
        """Boards to post now (a day or an hour before a start) and boards whose content
        changed since they were posted or last edited. A board is posted by one process only."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            # Every nearby episode's schedule as plain rows; only those with a board to post or
            # keep up to date are loaded whole, with their tweets (5,000 podcasts: 2 ms, not a
            # second of the event loop and 70 MiB every minute).
            wanted = []
            for row in await queries.board_schedule(session, now.date(), self._shards):
                try:
                    start = start_of(
                        row.timezone, row.upcoming_start_at, row.scheduled_at, row.scheduled_date
                    )
                except (ZoneInfoNotFoundError, ValueError):
                    continue  # one podcast's unreadable timezone holds up no other board
                due = due_stage(start, now)
                if due > row.board_stage or (
                    row.board_message_id and now < start + EDIT_AFTER_START
                ):
                    wanted.append(row.id)
            candidates = await queries.board_candidates(session, wanted)
            fresh: dict[int, int] = {}
            for episode in candidates:
                due = due_stage(episode_start(episode, episode.podcast), now)
                if due > episode.board_stage and await queries.take_board_stage(
                    session, episode.id, due
                ):
                    fresh[episode.id] = due
            tweets = await queries.tweets_for_board(session, [e.id for e in candidates])
        by_episode: dict[int, list[EpisodeTweet]] = {}
        for tweet in tweets:
            by_episode.setdefault(tweet.episode_id, []).append(tweet)
        boards = []
        for episode in candidates:
            podcast = episode.podcast
            start = episode_start(episode, podcast)
            stage = fresh.get(episode.id)
            if stage is None and not (episode.board_message_id and now < start + EDIT_AFTER_START):
                continue
            board = await self._build(
                podcast,
                episode,
                by_episode.get(episode.id, []),
                members_of(podcast.guild_id, podcast.host_role_id),
                stage=stage or episode.board_stage,
                message_id=None if stage else episode.board_message_id,
            )
            if stage or board.digest() != episode.board_digest:
                boards.append(board)
        return boards

    async def save_board_message(
        self, episode_id: int, channel_id: int | None, message_id: int | None, digest: str
    ) -> None:
        """Remember the posted board (message id None: only the digest changed)."""
        async with self._sessions() as session, session.begin():
            await queries.save_board(session, episode_id, channel_id, message_id, digest)

    async def board_not_posted(self, board: Board) -> None:
        """Posting the board failed (channel gone, no permission, Discord down): retry later."""
        async with self._sessions() as session, session.begin():
            await queries.release_board_stage(session, board.episode_id, board.stage)

    async def _build(
        self,
        podcast: Podcast,
        episode: Episode,
        tweets: Sequence[EpisodeTweet],
        members: Sequence[tuple[int, str]] | None,
        *,
        stage: int,
        message_id: int | None,
        fresh_links: bool = False,
    ) -> Board:
        links = await self._check_links(
            [t.host.x_account for t in tweets if t.host.x_account], fresh=fresh_links
        )
        hosts = [self._host_line(t, podcast, links) for t in tweets]
        with_tweet = {t.host.discord_user_id for t in tweets}
        for user_id, name in members or ():
            if user_id not in with_tweet:
                hosts.append(
                    HostReadiness(
                        user_id,
                        name,
                        None,
                        LinkState.UNCHECKED,
                        TweetState.MISSING,
                        "create your tweet with /tweet generate (or /tweet edit)",
                    )
                )
        return Board(
            guild_id=podcast.guild_id,
            announce_channel_id=episode.board_channel_id or podcast.announce_channel_id,
            episode_id=episode.id,
            episode_title=episode.title,
            starts_at=episode_start(episode, podcast),
            stage=stage,
            message_id=message_id,
            hosts=hosts,
            duplicates=near_duplicates(tweets),
        )

    def _host_line(
        self, tweet: EpisodeTweet, podcast: Podcast, links: dict[int, LinkState]
    ) -> HostReadiness:
        host = tweet.host
        account = host.x_account
        link = links.get(account.id, LinkState.UNCHECKED) if account else LinkState.NOT_LINKED
        hold = hold_reason(tweet)
        if not tweet.status.changeable:
            state = TweetState.DONE
        elif not tweet.enabled:
            state = TweetState.DISABLED
        elif hold == AWAY:
            state = TweetState.AWAY
        elif hold == HELD:
            state = TweetState.HELD
        elif needs_approval(tweet, podcast.require_approval):
            state = TweetState.UNAPPROVED
        elif not fits(_body(tweet), tweet_link(tweet)):
            state = TweetState.TOO_LONG
        else:
            state = TweetState.READY
        return HostReadiness(
            host.discord_user_id,
            host.display_name,
            account.username if account else None,
            link,
            state,
            _todo(link, state),
        )

    async def _check_links(self, accounts: list[XAccount], *, fresh: bool) -> dict[int, LinkState]:
        """Does X still accept each account's tokens? A cheap authenticated call per account,
        concurrently, remembered for LINK_CHECK_TTL (relinking changes the key); `fresh`
        asks X again (a board shown on demand)."""
        now = self._clock()
        for key, (_, checked) in list(self._link_checks.items()):
            if now - checked > LINK_CHECK_TTL:
                del self._link_checks[key]

        async def one(account: XAccount) -> LinkState:
            key = (account.id, account.updated_at)
            if key in self._link_checks and not fresh:
                return self._link_checks[key][0]
            state = await self._check_link(account)
            if state is not LinkState.UNCHECKED:
                self._link_checks[key] = (state, now)
            return state

        states = await asyncio.gather(*(one(a) for a in accounts))
        return {a.id: s for a, s in zip(accounts, states, strict=True)}

    async def _check_link(self, account: XAccount) -> LinkState:
        if not self._x.configured:
            return LinkState.UNCHECKED
        try:
            token = self._cipher.decrypt(account.access_token_encrypted)
            secret = self._cipher.decrypt(account.access_token_secret_encrypted)
        except TokenUnreadable:
            return LinkState.BROKEN
        try:
            async with self._x_limiter:
                identity = await self._x.verify(token, secret)
        except XUnavailable:
            return LinkState.UNCHECKED
        return LinkState.OK if identity is not None else LinkState.BROKEN


def _body(tweet: EpisodeTweet) -> str:
    episode = tweet.episode
    return tweet.text or template_draft(
        episode.title, tweet.host.display_name, episode.podcast.name
    )


def _todo(link: LinkState, tweet: TweetState) -> str | None:
    """The one thing to do first; nothing for a host whose tweet is held, off or done."""
    if tweet in (TweetState.AWAY, TweetState.HELD, TweetState.DISABLED, TweetState.DONE):
        return None
    if link is LinkState.NOT_LINKED:
        return "link your X account with /x link"
    if link is LinkState.BROKEN:
        return "X no longer accepts your sign-in: relink with /x link"
    if tweet is TweetState.UNAPPROVED:
        return "approve your tweet with /tweet approve (or the button under /tweet show)"
    if tweet is TweetState.TOO_LONG:
        return "shorten your tweet with /tweet edit"
    return None


def near_duplicates(tweets: Sequence[EpisodeTweet]) -> list[NearDuplicate]:
    """Pairs of hosts whose texts are substantially similar (X forbids posting those from
    several accounts); only tweets that may still be posted count."""
    from rapidfuzz import fuzz  # 3 MiB of memory: loaded when two texts are first compared

    live = [t for t in tweets if t.status.changeable and t.enabled and hold_reason(t) is None]
    found = []
    for a, b in itertools.combinations(live, 2):
        percent = round(fuzz.ratio(_normal(_body(a)), _normal(_body(b))))
        if percent >= NEAR_DUPLICATE_PERCENT:
            found.append(NearDuplicate(a.host.display_name, b.host.display_name, percent))
    return found


def _normal(text: str) -> str:
    return " ".join(text.lower().split())
