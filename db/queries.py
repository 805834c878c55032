"""Every SQL statement OnAir runs, by name. Services call these; nothing else writes SQL.

Statements are batched: a live check runs a fixed number of them whatever the number of
podcasts and hosts, and claiming work uses `FOR UPDATE SKIP LOCKED` so two processes never take
the same tweet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload

from db.models import (
    ApiToken,
    AttemptOutcome,
    Base,
    Episode,
    EpisodeEvent,
    EpisodeTweet,
    FinalVideo,
    Host,
    Podcast,
    PostAttempt,
    PostStatus,
    XAccount,
    XLinkRequest,
)

# The episode_tweets Table itself, for Core executemany statements (typed as a Table).
_TWEETS = Base.metadata.tables[EpisodeTweet.__tablename__]

# -- shards ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shards:
    """The Discord shards one process runs: `ids` of `count` (SHARD_IDS of SHARD_COUNT)."""

    count: int
    ids: tuple[int, ...]


def on_shards(
    guild_id: sa.SQLColumnExpression[int], shards: Shards | None
) -> sa.ColumnElement[bool]:
    """Whether a server is on these shards, by Discord's rule `(guild_id >> 22) % count`
    (discord-api-docs, Gateway, "Sharding"), in SQL so it filters the same statement.
    None: not sharded, every server."""
    if shards is None:
        return sa.true()
    # PostgreSQL shifts a bigint by an integer only: the 22 is written as a plain constant.
    return (guild_id.op(">>")(sa.literal_column("22")) % shards.count).in_(shards.ids)


# -- podcasts ---------------------------------------------------------------------------------


# Statements every slash command runs are built once, with bound parameters: building a
# SELECT and its cache key on each call cost about a quarter of a millisecond of CPU apiece
# (bench/load.py).
_PODCAST_BY_GUILD = sa.select(Podcast).where(Podcast.guild_id == sa.bindparam("guild_id"))


async def get_podcast_by_guild(session: AsyncSession, guild_id: int) -> Podcast | None:
    return await session.scalar(_PODCAST_BY_GUILD, {"guild_id": guild_id})


async def upsert_podcast(session: AsyncSession, guild_id: int, **fields: object) -> Podcast:
    """Create the server's podcast or update it in place (one statement, race-free)."""
    insert = pg_insert(Podcast).values(guild_id=guild_id, **fields)
    upsert = insert.on_conflict_do_update(
        index_elements=[Podcast.guild_id],
        set_={**{k: insert.excluded[k] for k in fields}, "updated_at": sa.func.now()},
    ).returning(Podcast)
    result = await session.scalars(
        sa.select(Podcast).from_statement(upsert).execution_options(populate_existing=True)
    )
    podcast: Podcast = result.one()
    return podcast


async def set_title_filter(session: AsyncSession, podcast_id: int, text: str | None) -> None:
    await session.execute(
        sa.update(Podcast).where(Podcast.id == podcast_id).values(title_filter=text)
    )


async def postgres_knows_timezone(session: AsyncSession, name: str) -> bool:
    """True when PostgreSQL's own timezone database has `name` (it may be older than Python's)."""
    found = await session.scalar(
        sa.select(sa.literal(True))
        .select_from(sa.table("pg_timezone_names", sa.column("name")))
        .where(sa.column("name") == name)
        .limit(1)
    )
    return bool(found)


async def take_repaired_timezones(session: AsyncSession) -> Sequence[Podcast]:
    """Podcasts whose unusable timezone migration 0004 replaced with UTC, marked as announced."""
    result = await session.scalars(
        sa.update(Podcast)
        .where(Podcast.timezone_repaired_from.is_not(None))
        .values(timezone_repaired_from=None)
        .returning(Podcast)
        .execution_options(synchronize_session=False)
    )
    return result.all()


async def reserve_ai_drafts(
    session: AsyncSession, podcast_id: int, today: dt.date, wanted: int, budget: int
) -> int:
    """Take up to `wanted` of the podcast's daily AI drafts (row-locked); returns how many."""
    podcast = await session.scalar(
        sa.select(Podcast).where(Podcast.id == podcast_id).with_for_update()
    )
    if podcast is None:
        return 0
    used = podcast.ai_drafts_used if podcast.ai_drafts_day == today else 0
    granted = max(0, min(wanted, budget - used))
    podcast.ai_drafts_day, podcast.ai_drafts_used = today, used + granted
    await session.flush()
    return granted


async def deactivate_podcast(session: AsyncSession, guild_id: int, now: dt.datetime) -> bool:
    """Stop checking the server's channel and note when the bot was removed (the clean-up
    countdown of bot.retention)."""
    result = await session.execute(
        sa.update(Podcast)
        .where(Podcast.guild_id == guild_id, Podcast.active)
        .values(active=False, removed_at=sa.func.coalesce(Podcast.removed_at, now))
        .returning(Podcast.id)
    )
    return result.first() is not None


async def due_podcasts(
    session: AsyncSession,
    now: dt.datetime,
    interval: dt.timedelta,
    fast_interval: dt.timedelta,
    shards: Shards | None = None,
) -> Sequence[Podcast]:
    """Active podcasts of servers on `shards` whose channel should be checked now, in one query.

    A channel is due every `interval`, or every `fast_interval` from 10 minutes before a known
    start (the stream's scheduled start or a timed episode) until 2 hours after it.
    """
    window_start = now - dt.timedelta(hours=2)
    window_end = now + dt.timedelta(minutes=10)
    timed_episode_soon = (
        sa.select(Episode.id)
        .where(
            Episode.podcast_id == Podcast.id,
            Episode.live_video_id.is_(None),
            Episode.scheduled_at.between(window_start, window_end),
        )
        .exists()
    )
    in_fast_window = sa.or_(
        Podcast.upcoming_start_at.between(window_start, window_end), timed_episode_soon
    )
    due = sa.or_(
        Podcast.last_checked_at.is_(None),
        Podcast.last_checked_at <= now - interval,
        sa.and_(in_fast_window, Podcast.last_checked_at <= now - fast_interval),
    )
    result = await session.scalars(
        sa.select(Podcast)
        .where(Podcast.active, due, on_shards(Podcast.guild_id, shards))
        .order_by(Podcast.id)
    )
    return result.all()


async def record_checks(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Write every checked podcast's result in one executemany.

    Each row: id, last_checked_at, last_check_result, upcoming_start_at, last_reported_video_id.
    """
    if rows:
        await session.execute(sa.update(Podcast), rows)


# -- episodes ---------------------------------------------------------------------------------


async def add_episode(session: AsyncSession, **fields: object) -> Episode:
    episode = Episode(**fields)
    session.add(episode)
    await session.flush()
    return episode


@dataclass
class EpisodeSummary:
    episode: Episode
    tweets: int
    enabled: int
    posted: int


# Tweet counts of one podcast's episodes (only its own tweets are counted).
_TWEET_COUNTS = (
    sa.select(
        EpisodeTweet.episode_id,
        sa.func.count().label("tweets"),
        sa.func.count().filter(EpisodeTweet.enabled).label("enabled"),
        sa.func.count().filter(EpisodeTweet.status == PostStatus.POSTED).label("posted"),
    )
    .join(Episode, Episode.id == EpisodeTweet.episode_id)
    .where(Episode.podcast_id == sa.bindparam("podcast_id"))
    .group_by(EpisodeTweet.episode_id)
    .subquery()
)
_EPISODES_WITH_COUNTS = (
    sa.select(
        Episode,
        sa.func.coalesce(_TWEET_COUNTS.c.tweets, 0),
        sa.func.coalesce(_TWEET_COUNTS.c.enabled, 0),
        sa.func.coalesce(_TWEET_COUNTS.c.posted, 0),
    )
    .outerjoin(_TWEET_COUNTS, _TWEET_COUNTS.c.episode_id == Episode.id)
    .where(Episode.podcast_id == sa.bindparam("podcast_id"))
)
_UPCOMING_EPISODES = (
    _EPISODES_WITH_COUNTS.where(Episode.scheduled_date >= sa.bindparam("today"))
    .order_by(Episode.scheduled_date, Episode.scheduled_at.nulls_last(), Episode.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_RECENT_EPISODES = (
    _EPISODES_WITH_COUNTS.where(Episode.scheduled_date < sa.bindparam("today"))
    .order_by(Episode.scheduled_date.desc(), Episode.scheduled_at.desc(), Episode.id.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)


async def list_episodes(
    session: AsyncSession, podcast_id: int, today: dt.date, *, upcoming: int, recent: int
) -> tuple[list[EpisodeSummary], list[EpisodeSummary]]:
    """Upcoming episodes (soonest first) and recent ones (latest first) with tweet counts."""
    where = {"podcast_id": podcast_id, "today": today}
    up = await session.execute(_UPCOMING_EPISODES, {**where, "limit": upcoming})
    past = await session.execute(_RECENT_EPISODES, {**where, "limit": recent})
    return (
        [EpisodeSummary(e, t, en, p) for e, t, en, p in up.all()],
        [EpisodeSummary(e, t, en, p) for e, t, en, p in past.all()],
    )


async def search_episodes(
    session: AsyncSession, podcast_id: int, text: str, today: dt.date, limit: int = 25
) -> Sequence[Episode]:
    """Autocomplete: upcoming soonest first, then recent latest first, filtered by title."""
    upcoming_first = sa.case((Episode.scheduled_date >= today, 0), else_=1)
    date_key = sa.case(
        (Episode.scheduled_date >= today, Episode.scheduled_date - today),
        else_=today - Episode.scheduled_date,
    )
    stmt = sa.select(Episode).where(Episode.podcast_id == podcast_id)
    if text:
        stmt = stmt.where(Episode.title.icontains(text, autoescape=True))
    stmt = stmt.order_by(upcoming_first, date_key, Episode.scheduled_at.nulls_last(), Episode.id)
    return (await session.scalars(stmt.limit(limit))).all()


async def get_episode(session: AsyncSession, podcast_id: int, episode_id: int) -> Episode | None:
    return await session.scalar(
        sa.select(Episode).where(Episode.id == episode_id, Episode.podcast_id == podcast_id)
    )


async def find_episode_by_title(
    session: AsyncSession, podcast_id: int, title: str
) -> Episode | None:
    """Free text typed instead of picking a suggestion: an exact (case-insensitive) title."""
    result = await session.scalars(
        sa.select(Episode)
        .where(Episode.podcast_id == podcast_id, sa.func.lower(Episode.title) == title.lower())
        .order_by(Episode.scheduled_date.desc())
        .limit(1)
    )
    return result.first()


async def delete_episode_without_posts(session: AsyncSession, episode_id: int) -> bool:
    """Delete the episode unless one of its tweets was posted (or may have been).

    The tweet rows are locked first: a live check that claimed one a moment ago (status
    `posting`, not yet committed) is waited for, and the delete then sees the claim."""
    await session.execute(
        sa.select(EpisodeTweet.id).where(EpisodeTweet.episode_id == episode_id).with_for_update()
    )
    has_posts = (
        sa.select(EpisodeTweet.id)
        .where(
            EpisodeTweet.episode_id == episode_id,
            EpisodeTweet.status.in_((PostStatus.POSTED, PostStatus.POSTING, PostStatus.UNKNOWN)),
        )
        .exists()
    )
    result = await session.execute(
        sa.delete(Episode).where(Episode.id == episode_id, ~has_posts).returning(Episode.id)
    )
    return result.first() is not None


async def candidate_episodes(
    session: AsyncSession, local_dates: dict[int, dt.date], video_ids: list[str]
) -> Sequence[Episode]:
    """For live podcasts: episodes already tied to a live video, or scheduled for today or
    yesterday in the podcast's own timezone and still waiting for one (one query for all).

    `local_dates` maps each podcast id to its local today, computed in Python: the timezone
    name never reaches SQL, so no podcast's setting can make this query fail for the others."""
    days = (
        sa.values(sa.column("podcast_id", sa.BigInteger), sa.column("today", sa.Date))
        .data(list(local_dates.items()))
        .alias("local_days")
    )
    local_today = days.c.today
    stmt = (
        sa.select(Episode)
        .join(days, days.c.podcast_id == Episode.podcast_id)
        .where(
            sa.or_(
                Episode.live_video_id.in_(video_ids),
                sa.and_(
                    Episode.live_video_id.is_(None),
                    Episode.scheduled_date.between(local_today - 1, local_today),
                ),
            ),
        )
        .order_by(
            Episode.podcast_id,
            Episode.scheduled_date.desc(),
            Episode.scheduled_at.desc().nulls_last(),
            Episode.id.desc(),
        )
    )
    return (await session.scalars(stmt)).all()


async def attach_streams(session: AsyncSession, rows: list[dict[str, object]]) -> set[int]:
    """Tie live videos to episodes still without one; returns the ids this call attached.

    Each row: id, live_video_id, live_url, live_title, went_live_at. The `live_video_id IS NULL`
    condition makes a second checker's attempt a no-op, so a video triggers once.
    """
    if not rows:
        return set()
    values = sa.values(
        sa.column("id", sa.BigInteger),
        sa.column("live_video_id", sa.String),
        sa.column("live_url", sa.String),
        sa.column("live_title", sa.String),
        sa.column("went_live_at", sa.DateTime(timezone=True)),
        name="stream",
    ).data(
        [
            tuple(r[k] for k in ("id", "live_video_id", "live_url", "live_title", "went_live_at"))
            for r in rows
        ]
    )
    stmt = (
        sa.update(Episode)
        .where(Episode.id == values.c.id, Episode.live_video_id.is_(None))
        .values(
            live_video_id=values.c.live_video_id,
            live_url=values.c.live_url,
            live_title=values.c.live_title,
            went_live_at=values.c.went_live_at,
        )
        .returning(Episode.id)
        .execution_options(synchronize_session=False)
    )
    return set((await session.scalars(stmt)).all())


async def restart_streams(session: AsyncSession, rows: list[dict[str, object]]) -> set[int]:
    """Move episodes from a stream that dropped to its restart (a new video id): the same
    episode, so nothing is posted again. Returns the ids moved.

    Each row: id, old_video_id, live_video_id, live_url, live_title. The old id in the WHERE
    makes a second checker's attempt a no-op.
    """
    if not rows:
        return set()
    keys = ("id", "old_video_id", "live_video_id", "live_url", "live_title")
    values = sa.values(
        sa.column("id", sa.BigInteger),
        sa.column("old_video_id", sa.String),
        sa.column("live_video_id", sa.String),
        sa.column("live_url", sa.String),
        sa.column("live_title", sa.String),
        name="restart",
    ).data([tuple(r[k] for k in keys) for r in rows])
    stmt = (
        sa.update(Episode)
        .where(Episode.id == values.c.id, Episode.live_video_id == values.c.old_video_id)
        .values(
            live_video_id=values.c.live_video_id,
            live_url=values.c.live_url,
            live_title=values.c.live_title,
            offline_checks=0,  # on air again under the new video
            ended_at=None,
        )
        .returning(Episode.id)
        .execution_options(synchronize_session=False)
    )
    return set((await session.scalars(stmt)).all())


async def reserve_reports(
    session: AsyncSession, episode_ids: list[int], stale_before: dt.datetime
) -> set[int]:
    """The episodes whose stream report this caller should send (0 marks 'being sent'), so
    two checkers never both announce one stream. A reservation older than `stale_before` whose
    message was never saved (the send failed, the process died) is taken over."""
    if not episode_ids:
        return set()
    result = await session.scalars(
        sa.update(Episode)
        .where(
            Episode.id.in_(episode_ids),
            sa.or_(
                Episode.report_message_id.is_(None),
                sa.and_(Episode.report_message_id == 0, Episode.updated_at < stale_before),
            ),
        )
        .values(report_message_id=0)
        .returning(Episode.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.all())


async def save_report_message(
    session: AsyncSession, episode_id: int, channel_id: int, message_id: int
) -> None:
    await session.execute(
        sa.update(Episode)
        .where(Episode.id == episode_id)
        .values(report_channel_id=channel_id, report_message_id=message_id)
    )


# -- hosts and X accounts ----------------------------------------------------------------------


async def upsert_hosts(
    session: AsyncSession, podcast_id: int, members: Iterable[tuple[int, str]]
) -> dict[int, int]:
    """Make sure every (discord user id, display name) is a host; returns user id -> host id."""
    rows = [
        {"podcast_id": podcast_id, "discord_user_id": uid, "display_name": name[:100]}
        for uid, name in members
    ]
    if not rows:
        return {}
    stmt = pg_insert(Host).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Host.podcast_id, Host.discord_user_id],
        set_={"display_name": stmt.excluded.display_name},
        where=Host.display_name != stmt.excluded.display_name,
    )
    await session.execute(stmt)
    ids = await session.execute(
        sa.select(Host.discord_user_id, Host.id).where(
            Host.podcast_id == podcast_id,
            Host.discord_user_id.in_([r["discord_user_id"] for r in rows]),
        )
    )
    return {uid: host_id for uid, host_id in ids.all()}


async def get_host(session: AsyncSession, podcast_id: int, user_id: int) -> Host | None:
    return await session.scalar(
        sa.select(Host)
        .options(joinedload(Host.x_account))
        .where(Host.podcast_id == podcast_id, Host.discord_user_id == user_id)
    )


async def save_x_account(session: AsyncSession, host_id: int, **fields: object) -> None:
    stmt = pg_insert(XAccount).values(host_id=host_id, **fields)
    stmt = stmt.on_conflict_do_update(
        index_elements=[XAccount.host_id], set_={**fields, "updated_at": sa.func.now()}
    )
    await session.execute(stmt)


async def delete_x_account(session: AsyncSession, host_id: int) -> bool:
    result = await session.execute(
        sa.delete(XAccount).where(XAccount.host_id == host_id).returning(XAccount.id)
    )
    return result.first() is not None


async def linked_user_ids(session: AsyncSession, podcast_id: int) -> set[int]:
    result = await session.scalars(
        sa.select(Host.discord_user_id)
        .join(XAccount, XAccount.host_id == Host.id)
        .where(Host.podcast_id == podcast_id)
    )
    return set(result.all())


async def save_link_request(session: AsyncSession, **fields: object) -> None:
    stmt = pg_insert(XLinkRequest).values(**fields)
    stmt = stmt.on_conflict_do_update(
        index_elements=[XLinkRequest.podcast_id, XLinkRequest.discord_user_id],
        set_={k: v for k, v in fields.items() if k not in ("podcast_id", "discord_user_id")},
    )
    await session.execute(stmt)


async def take_link_request(
    session: AsyncSession, podcast_id: int, user_id: int
) -> XLinkRequest | None:
    """Remove and return the member's pending PIN request (each PIN is tried once)."""
    return await session.scalar(
        sa.delete(XLinkRequest)
        .where(XLinkRequest.podcast_id == podcast_id, XLinkRequest.discord_user_id == user_id)
        .returning(XLinkRequest)
    )


# -- episode tweets ----------------------------------------------------------------------------


async def tweets_of_episode(session: AsyncSession, episode_id: int) -> Sequence[EpisodeTweet]:
    """Every tweet of an episode with its host and X account, in one query."""
    result = await session.scalars(
        sa.select(EpisodeTweet)
        .options(joinedload(EpisodeTweet.host).joinedload(Host.x_account))
        .join(Host, Host.id == EpisodeTweet.host_id)
        .where(EpisodeTweet.episode_id == episode_id)
        .order_by(sa.func.lower(Host.display_name), Host.id)
    )
    return result.unique().all()


async def tweets_of_episodes(
    session: AsyncSession, episode_ids: list[int]
) -> Sequence[EpisodeTweet]:
    result = await session.scalars(
        sa.select(EpisodeTweet)
        .options(
            joinedload(EpisodeTweet.host),
            joinedload(EpisodeTweet.episode).joinedload(Episode.podcast),
        )
        .join(Host, Host.id == EpisodeTweet.host_id)
        .where(EpisodeTweet.episode_id.in_(episode_ids))
        .order_by(EpisodeTweet.episode_id, sa.func.lower(Host.display_name), Host.id)
    )
    return result.unique().all()


async def insert_missing_tweets(
    session: AsyncSession, episode_id: int, host_ids: Iterable[int]
) -> set[int]:
    """Create a tweet for each host that has none yet; returns the host ids that got one."""
    rows = [{"episode_id": episode_id, "host_id": h} for h in host_ids]
    if not rows:
        return set()
    stmt = (
        pg_insert(EpisodeTweet)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[EpisodeTweet.episode_id, EpisodeTweet.host_id])
        .returning(EpisodeTweet.host_id)
    )
    return set((await session.scalars(stmt)).all())


async def save_drafts(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Store drafts (id, generated_text, draft_is_fallback) for tweets not yet claimed."""
    if rows:
        await session.execute(
            sa.update(_TWEETS)  # Core executemany: not ORM bulk-by-PK
            .where(
                EpisodeTweet.id == sa.bindparam("tid"), EpisodeTweet.status == PostStatus.PENDING
            )
            .values(
                generated_text=sa.bindparam("generated_text"),
                draft_is_fallback=sa.bindparam("draft_is_fallback"),
                approved=False,  # a new draft waits for its host's approval
            ),
            [
                {
                    "tid": r["id"],
                    "generated_text": r["generated_text"],
                    "draft_is_fallback": r["draft_is_fallback"],
                }
                for r in rows
            ],
            execution_options={"synchronize_session": False},
        )


async def get_host_tweet(
    session: AsyncSession, episode_id: int, host_id: int, *, lock: bool
) -> EpisodeTweet | None:
    """The host's tweet with what a preview needs. With `lock`, row-locked: waits for a claim in
    progress, so a change either lands before the claim or sees `posting`/`posted` after it."""
    stmt = (
        sa.select(EpisodeTweet)
        .options(
            joinedload(EpisodeTweet.host).joinedload(Host.x_account),
            joinedload(EpisodeTweet.episode).joinedload(Episode.podcast),
        )
        .where(EpisodeTweet.episode_id == episode_id, EpisodeTweet.host_id == host_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update(of=EpisodeTweet)
    return (await session.scalars(stmt)).unique().first()


def _own_tweet_where(episode_matches: sa.ColumnElement[bool]) -> sa.Select[EpisodeTweet]:
    return (
        sa.select(EpisodeTweet)
        .join(EpisodeTweet.episode)
        .join(Episode.podcast)
        .join(EpisodeTweet.host)
        .options(
            contains_eager(EpisodeTweet.host).joinedload(Host.x_account),
            contains_eager(EpisodeTweet.episode).contains_eager(Episode.podcast),
        )
        .where(
            Podcast.guild_id == sa.bindparam("guild_id"),
            Host.discord_user_id == sa.bindparam("user_id"),
            episode_matches,
        )
    )


_OWN_TWEET_BY_EPISODE_ID = _own_tweet_where(Episode.id == sa.bindparam("episode_id"))
_OWN_TWEET_BY_TITLE = _own_tweet_where(
    Episode.id
    == sa.select(Episode.id)
    .where(
        Episode.podcast_id == Podcast.id,
        sa.func.lower(Episode.title) == sa.bindparam("title_lower"),
    )
    .order_by(Episode.scheduled_date.desc())
    .limit(1)
    .correlate(Podcast)
    .scalar_subquery()
)


async def find_own_tweet(
    session: AsyncSession, guild_id: int, user_id: int, *, episode_id: int | None, title: str
) -> EpisodeTweet | None:
    """The member's tweet for an episode of the server's podcast, with what a preview needs,
    in one statement: the episode picked by id, else by exact title (case-insensitive, the
    latest of that title), as `resolve_episode` picks it. None when any of them is missing."""
    who = {"guild_id": guild_id, "user_id": user_id}
    if episode_id is not None:
        result = await session.scalars(_OWN_TWEET_BY_EPISODE_ID, {**who, "episode_id": episode_id})
    else:
        result = await session.scalars(_OWN_TWEET_BY_TITLE, {**who, "title_lower": title.lower()})
    return result.unique().first()


def _due(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        EpisodeTweet.status == PostStatus.PENDING,
        EpisodeTweet.enabled,
        sa.or_(EpisodeTweet.next_attempt_at.is_(None), EpisodeTweet.next_attempt_at <= now),
    )


def _may_post() -> sa.ColumnElement[bool]:
    """Its host approved it (or opted into autopost, or the podcast doesn't require approval),
    no admin holds it, and its host still has the host role. The Python twin is bot.approval."""
    return sa.and_(
        sa.or_(EpisodeTweet.approved, Host.autopost, ~Podcast.require_approval),
        ~EpisodeTweet.held,
        Host.away_since.is_(None),
    )


async def claim_pending_tweets(
    session: AsyncSession, live_since: dt.datetime, now: dt.datetime, shards: Shards | None = None
) -> dict[int, int]:
    """Lock the pending, enabled, due tweets of episodes that went live since `live_since`
    that may post (`_may_post`), of servers on `shards`, skipping rows another transaction
    holds, and mark them `posting`; returns {tweet id: episode id}. Commit right after:
    posting happens outside the transaction."""
    claimable = (
        sa.select(EpisodeTweet.id)
        .join(Episode, Episode.id == EpisodeTweet.episode_id)
        .join(Podcast, Podcast.id == Episode.podcast_id)
        .join(Host, Host.id == EpisodeTweet.host_id)
        .where(
            Episode.went_live_at >= live_since,
            Episode.ended_at.is_(None),
            _due(now),
            _may_post(),
            on_shards(Podcast.guild_id, shards),
        )
        .with_for_update(of=EpisodeTweet, skip_locked=True)
    )
    result = await session.execute(
        sa.update(EpisodeTweet)
        .where(EpisodeTweet.id.in_(claimable.scalar_subquery()))
        .values(status=PostStatus.POSTING, attempts=EpisodeTweet.attempts + 1, sent_at=None)
        .returning(EpisodeTweet.id, EpisodeTweet.episode_id)
        .execution_options(synchronize_session=False)
    )
    return {tweet_id: episode_id for tweet_id, episode_id in result.all()}


async def claim_host_tweet(session: AsyncSession, tweet_id: int, now: dt.datetime) -> bool:
    """Claim one tweet for /tweet post-now (the row is already locked by the caller)."""
    result = await session.execute(
        sa.update(EpisodeTweet)
        .where(
            EpisodeTweet.id == tweet_id,
            EpisodeTweet.status == PostStatus.PENDING,
            EpisodeTweet.enabled,
        )
        .values(
            status=PostStatus.POSTING,
            attempts=EpisodeTweet.attempts + 1,
            next_attempt_at=None,
            sent_at=None,
        )
        .returning(EpisodeTweet.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def load_claimed(session: AsyncSession, tweet_ids: list[int]) -> Sequence[EpisodeTweet]:
    """Claimed tweets with host, X account and episode: everything posting needs, one query."""
    result = await session.scalars(
        sa.select(EpisodeTweet)
        .options(
            joinedload(EpisodeTweet.host).joinedload(Host.x_account),
            joinedload(EpisodeTweet.episode).joinedload(Episode.podcast),
        )
        .where(EpisodeTweet.id.in_(tweet_ids))
        .order_by(EpisodeTweet.id)
    )
    return result.unique().all()


@dataclass(frozen=True)
class OutcomeRow:
    """A claimed tweet's new state after one answer (field names are the statement's binds)."""

    tid: int
    status: PostStatus
    tweet_id: str | None
    tweet_url: str | None
    failure_reason: str | None
    next_attempt_at: dt.datetime | None
    posted_at: dt.datetime | None
    refund: int  # 1: the try is not counted against the host (the app's problem)


@dataclass(frozen=True)
class AttemptRow:
    """One post_attempts row."""

    episode_tweet_id: int
    attempt_no: int
    outcome: AttemptOutcome
    reason: str | None
    http_status: int | None
    duration_ms: int


async def record_outcomes(
    session: AsyncSession, rows: Sequence[OutcomeRow], attempts: Sequence[AttemptRow]
) -> None:
    """Write outcomes (one executemany) and their post_attempts rows (one more)."""
    if rows:
        await session.execute(
            sa.update(_TWEETS)  # Core executemany: not ORM bulk-by-PK
            .where(EpisodeTweet.id == sa.bindparam("tid"))
            .values(
                status=sa.bindparam("status"),
                tweet_id=sa.bindparam("tweet_id"),
                tweet_url=sa.bindparam("tweet_url"),
                failure_reason=sa.bindparam("failure_reason"),
                next_attempt_at=sa.bindparam("next_attempt_at"),
                posted_at=sa.bindparam("posted_at"),
                attempts=EpisodeTweet.attempts - sa.bindparam("refund", type_=sa.Integer),
            ),
            [asdict(row) for row in rows],
            execution_options={"synchronize_session": False},
        )
    if attempts:
        # A tweet whose row vanished meanwhile (its episode was removed) has no attempt row to
        # keep; the others are still recorded.
        ids = {a.episode_tweet_id for a in attempts}
        existing = set(
            await session.scalars(
                sa.select(EpisodeTweet.id)
                .where(EpisodeTweet.id.in_(ids))
                .with_for_update(read=True, key_share=True)  # kept until the attempts are in
            )
        )
        kept = [asdict(a) for a in attempts if a.episode_tweet_id in existing]
        if kept:
            await session.execute(sa.insert(PostAttempt), kept)


async def mark_sending(
    session: AsyncSession,
    sending: Sequence[int],
    returned: Sequence[int] = (),
    refresh: Sequence[int] = (),
) -> set[int]:
    """One lease of the poster (bot/posting.py): mark `sending` as sent just before their
    requests may go to X, un-mark `returned` (leased, never sent), and keep the claims of all
    three and of `refresh` fresh (so no process takes this live process's work for a crash).
    Returns the ids of `sending` that are still this claim's to send."""
    ids = list({*sending, *returned, *refresh})
    result = await session.scalars(
        sa.update(EpisodeTweet)
        .where(EpisodeTweet.id.in_(ids), EpisodeTweet.status == PostStatus.POSTING)
        .values(
            sent_at=sa.case(
                (EpisodeTweet.id.in_(list(sending)), sa.func.now()),
                (EpisodeTweet.id.in_(list(returned)), sa.null()),
                else_=EpisodeTweet.sent_at,
            ),
            updated_at=sa.func.now(),
        )
        .returning(EpisodeTweet.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.all()) & set(sending)


async def release_unsent(session: AsyncSession, tweet_ids: Sequence[int]) -> None:
    """Claimed tweets this process never sent and will not send (it is shutting down): back
    to pending, un-marked, their attempt not counted."""
    await session.execute(
        sa.update(EpisodeTweet)
        .where(EpisodeTweet.id.in_(list(tweet_ids)), EpisodeTweet.status == PostStatus.POSTING)
        .values(
            status=PostStatus.PENDING,
            sent_at=None,
            attempts=sa.func.greatest(EpisodeTweet.attempts - 1, 0),
        )
        .execution_options(synchronize_session=False)
    )


async def mark_stale_posting_unknown(
    session: AsyncSession, older_than: dt.datetime, reason: str, shards: Shards | None = None
) -> Sequence[EpisodeTweet]:
    """Tweets left in `posting` by a process that died: those whose request went to X may or
    may not be on X, so they become `unknown` (a person checks; never re-posted by itself);
    those never sent go back to `pending`, their attempt not counted. Only servers on
    `shards`, so each shard process recovers (and announces) its own."""
    stuck = [EpisodeTweet.status == PostStatus.POSTING, EpisodeTweet.updated_at < older_than]
    if shards is not None:
        on_these_shards = (
            sa.select(Episode.id)
            .join(Podcast, Podcast.id == Episode.podcast_id)
            .where(on_shards(Podcast.guild_id, shards))
        )
        stuck.append(EpisodeTweet.episode_id.in_(on_these_shards.scalar_subquery()))
    await session.execute(
        sa.update(EpisodeTweet)
        .where(*stuck, EpisodeTweet.sent_at.is_(None))
        .values(
            status=PostStatus.PENDING,
            attempts=sa.func.greatest(EpisodeTweet.attempts - 1, 0),
        )
        .execution_options(synchronize_session=False)
    )
    ids = (
        await session.scalars(
            sa.update(EpisodeTweet)
            .where(*stuck)
            .values(status=PostStatus.UNKNOWN, failure_reason=reason)
            .returning(EpisodeTweet.id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not ids:
        return []
    return await load_claimed(session, list(ids))


# -- approval and holds --------------------------------------------------------------------------


async def set_autopost(session: AsyncSession, host_id: int, enabled: bool) -> None:
    await session.execute(sa.update(Host).where(Host.id == host_id).values(autopost=enabled))


async def set_hosts_away(
    session: AsyncSession, podcast_id: int, user_ids: list[int], *, away: bool, now: dt.datetime
) -> bool:
    """Hold (away) or release these members' tweets; True when a host record changed."""
    state = Host.away_since.is_(None) if away else Host.away_since.is_not(None)
    result = await session.execute(
        sa.update(Host)
        .where(Host.podcast_id == podcast_id, Host.discord_user_id.in_(user_ids), state)
        .values(away_since=now if away else None)
        .returning(Host.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def reconcile_hosts_away(
    session: AsyncSession, podcast_id: int, role_holders: set[int], now: dt.datetime
) -> None:
    """Hosts in `role_holders` are back, every other host of the podcast is away."""
    holding = Host.discord_user_id.in_(role_holders) if role_holders else sa.false()
    await session.execute(
        sa.update(Host)
        .where(Host.podcast_id == podcast_id)
        .values(
            away_since=sa.case((holding, sa.null()), else_=sa.func.coalesce(Host.away_since, now))
        )
        .execution_options(synchronize_session=False)
    )


async def mark_hosts_away(session: AsyncSession, host_ids: list[int], now: dt.datetime) -> None:
    """The live check found these hosts without the host role: hold their tweets."""
    if host_ids:
        await session.execute(
            sa.update(Host)
            .where(Host.id.in_(host_ids), Host.away_since.is_(None))
            .values(away_since=now)
            .execution_options(synchronize_session=False)
        )


# -- removed servers ---------------------------------------------------------------------------


async def clear_removed(session: AsyncSession, guild_id: int) -> None:
    await session.execute(
        sa.update(Podcast).where(Podcast.guild_id == guild_id).values(removed_at=None)
    )


async def x_accounts_of_removed(
    session: AsyncSession, removed_before: dt.datetime
) -> Sequence[XAccount]:
    """X accounts of hosts of podcasts whose server removed the bot before `removed_before`."""
    result = await session.scalars(
        sa.select(XAccount)
        .join(Host, Host.id == XAccount.host_id)
        .join(Podcast, Podcast.id == Host.podcast_id)
        .where(Podcast.removed_at <= removed_before)
    )
    return result.all()


async def delete_x_accounts(session: AsyncSession, account_ids: list[int]) -> int:
    if not account_ids:
        return 0
    result = await session.execute(
        sa.delete(XAccount).where(XAccount.id.in_(account_ids)).returning(XAccount.id)
    )
    return len(result.all())


async def delete_removed_podcasts(session: AsyncSession, removed_before: dt.datetime) -> int:
    """Delete podcasts (and, by cascade, all their data) removed before `removed_before`."""
    result = await session.execute(
        sa.delete(Podcast).where(Podcast.removed_at <= removed_before).returning(Podcast.id)
    )
    return len(result.all())


# -- JSON API tokens (README "JSON API") --------------------------------------------------------


async def replace_api_token(
    session: AsyncSession, podcast_id: int, token_sha256: str, user_id: int
) -> None:
    """The podcast's one token becomes this one (any earlier token stops working)."""
    stmt = pg_insert(ApiToken).values(
        podcast_id=podcast_id, token_sha256=token_sha256, created_by_user_id=user_id
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ApiToken.podcast_id],
            set_={
                "token_sha256": stmt.excluded.token_sha256,
                "created_by_user_id": stmt.excluded.created_by_user_id,
                "created_at": sa.func.now(),
            },
        )
    )


async def delete_api_token(session: AsyncSession, podcast_id: int) -> bool:
    result = await session.execute(sa.delete(ApiToken).where(ApiToken.podcast_id == podcast_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def podcast_of_api_token(session: AsyncSession, token_sha256: str) -> Podcast | None:
    """The (active or not) podcast whose token hashes to `token_sha256`, in one query."""
    return await session.scalar(
        sa.select(Podcast)
        .join(ApiToken, ApiToken.podcast_id == Podcast.id)
        .where(ApiToken.token_sha256 == token_sha256)
    )


async def episodes_of_podcast(session: AsyncSession, podcast_id: int) -> Sequence[Episode]:
    """Every episode of a podcast, latest date first."""
    result = await session.scalars(
        sa.select(Episode)
        .where(Episode.podcast_id == podcast_id)
        .order_by(Episode.scheduled_date.desc(), Episode.scheduled_at.desc(), Episode.id.desc())
    )
    return result.all()


# -- the readiness board -----------------------------------------------------------------------


async def board_candidates(
    session: AsyncSession, today: dt.date, shards: Shards | None = None
) -> Sequence[Episode]:
    """Episodes of active podcasts of servers on `shards`, not live yet, from two days ago to
    two days ahead (a wide net for every timezone; bot.readiness decides which are due)."""
    result = await session.scalars(
        sa.select(Episode)
        .options(joinedload(Episode.podcast))
        .join(Podcast, Podcast.id == Episode.podcast_id)
        .where(
            Podcast.active,
            on_shards(Podcast.guild_id, shards),
            Episode.live_video_id.is_(None),
            Episode.scheduled_date.between(
                today - dt.timedelta(days=2), today + dt.timedelta(days=2)
            ),
        )
        .order_by(Episode.id)
        .execution_options(populate_existing=True)
    )
    return result.all()


async def take_board_stage(session: AsyncSession, episode_id: int, stage: int) -> bool:
    """Claim posting board `stage` of the episode (one process wins); the earlier board's
    message is no longer edited."""
    result = await session.execute(
        sa.update(Episode)
        .where(Episode.id == episode_id, Episode.board_stage < stage)
        .values(board_stage=stage, board_message_id=None, board_digest=None)
        .returning(Episode.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def tweets_for_board(session: AsyncSession, episode_ids: list[int]) -> Sequence[EpisodeTweet]:
    """Tweets of these episodes with host, X account, episode and podcast, in one query."""
    if not episode_ids:
        return []
    result = await session.scalars(
        sa.select(EpisodeTweet)
        .options(
            joinedload(EpisodeTweet.host).joinedload(Host.x_account),
            joinedload(EpisodeTweet.episode).joinedload(Episode.podcast),
        )
        .join(Host, Host.id == EpisodeTweet.host_id)
        .where(EpisodeTweet.episode_id.in_(episode_ids))
        .order_by(EpisodeTweet.episode_id, sa.func.lower(Host.display_name), Host.id)
    )
    return result.unique().all()


async def save_board(
    session: AsyncSession,
    episode_id: int,
    channel_id: int | None,
    message_id: int | None,
    digest: str,
) -> None:
    values: dict[str, object] = {"board_digest": digest}
    if message_id is not None:
        values.update(board_channel_id=channel_id, board_message_id=message_id)
    await session.execute(sa.update(Episode).where(Episode.id == episode_id).values(**values))


async def release_board_stage(session: AsyncSession, episode_id: int, stage: int) -> None:
    """The board of `stage` could not be posted: the next check tries again."""
    await session.execute(
        sa.update(Episode)
        .where(
            Episode.id == episode_id,
            Episode.board_stage == stage,
            Episode.board_message_id.is_(None),
        )
        .values(board_stage=stage - 1)
    )


# -- Discord Scheduled Events of episodes -----------------------------------------------------


async def event_candidates(
    session: AsyncSession, guild_id: int | None = None
) -> Sequence[tuple[Episode, EpisodeEvent | None]]:
    """Episodes whose event may need work, with their event row (one query): upcoming ones of
    podcasts with events on that have none yet, and every event not finished yet."""
    local_today = sa.cast(sa.func.timezone(Podcast.timezone, sa.func.now()), sa.Date)
    stmt = (
        sa.select(Episode, EpisodeEvent)
        .join(Podcast, Podcast.id == Episode.podcast_id)
        .outerjoin(EpisodeEvent, EpisodeEvent.episode_id == Episode.id)
        .options(contains_eager(Episode.podcast))
        .where(
            Podcast.active,
            sa.or_(
                sa.and_(
                    EpisodeEvent.episode_id.is_(None),
                    Podcast.events_enabled,
                    Episode.live_video_id.is_(None),
                    Episode.ended_at.is_(None),
                    Episode.scheduled_date >= local_today - 1,
                ),
                EpisodeEvent.state.in_(("creating", "scheduled", "active")),
            ),
        )
        .order_by(Episode.podcast_id, Episode.scheduled_date, Episode.id)
    )
    if guild_id is not None:
        stmt = stmt.where(Podcast.guild_id == guild_id)
    return [(episode, event) for episode, event in (await session.execute(stmt)).all()]


async def claim_new_events(
    session: AsyncSession, rows: list[tuple[int, int]], until: dt.datetime
) -> set[int]:
    """Insert the claim row of each (episode_id, guild_id) that has none: the episodes this
    caller, and no other process, now creates an event for."""
    if not rows:
        return set()
    stmt = (
        pg_insert(EpisodeEvent)
        .values([{"episode_id": e, "guild_id": g, "claimed_until": until} for e, g in rows])
        .on_conflict_do_nothing(index_elements=[EpisodeEvent.episode_id])
        .returning(EpisodeEvent.episode_id)
    )
    return set((await session.scalars(stmt)).all())


async def claim_events(
    session: AsyncSession, episode_ids: list[int], now: dt.datetime, until: dt.datetime
) -> set[int]:
    """Claim existing event rows nobody holds (or whose holder's claim lapsed)."""
    if not episode_ids:
        return set()
    result = await session.scalars(
        sa.update(EpisodeEvent)
        .where(
            EpisodeEvent.episode_id.in_(episode_ids),
            sa.or_(EpisodeEvent.claimed_until.is_(None), EpisodeEvent.claimed_until < now),
        )
        .values(claimed_until=until)
        .returning(EpisodeEvent.episode_id)
        .execution_options(synchronize_session=False)
    )
    return set(result.all())


async def release_events(
    session: AsyncSession, updates: list[dict[str, object]], dropped: list[int]
) -> None:
    """Record what Discord now shows and release the claims (executemany); drop the claim rows
    of creations that didn't happen, so a later sync tries again."""
    if updates:
        await session.execute(
            sa.update(Base.metadata.tables[EpisodeEvent.__tablename__])
            .where(EpisodeEvent.episode_id == sa.bindparam("eid"))
            .values(
                discord_event_id=sa.bindparam("discord_event_id"),
                state=sa.bindparam("state"),
                start_at=sa.bindparam("start_at"),
                location=sa.bindparam("location"),
                claimed_until=None,
            ),
            [{**u, "eid": u["episode_id"]} for u in updates],
            execution_options={"synchronize_session": False},
        )
    if dropped:
        await session.execute(
            sa.delete(EpisodeEvent).where(
                EpisodeEvent.episode_id.in_(dropped), EpisodeEvent.state == "creating"
            )
        )


async def existing_events(session: AsyncSession, episode_ids: list[int]) -> set[int]:
    """Which of these episodes still have their event row (an episode removed meanwhile
    doesn't), locked until commit: a removal in progress is waited for, then seen."""
    if not episode_ids:
        return set()
    found = await session.scalars(
        sa.select(EpisodeEvent.episode_id)
        .where(EpisodeEvent.episode_id.in_(episode_ids))
        .with_for_update()
    )
    return set(found.all())


async def event_of_episode(session: AsyncSession, episode_id: int) -> EpisodeEvent | None:
    """The episode's event row, locked: a sync recording a new event id is waited for."""
    return await session.get(EpisodeEvent, episode_id, with_for_update=True, populate_existing=True)


# -- the end of a stream -----------------------------------------------------------------------


async def on_air_episodes(
    session: AsyncSession, podcast_ids: list[int], live_since: dt.datetime
) -> Sequence[Episode]:
    """Episodes of these podcasts tied to a stream that hasn't been seen to end (one query)."""
    if not podcast_ids:
        return []
    return (
        await session.scalars(
            sa.select(Episode).where(
                Episode.podcast_id.in_(podcast_ids),
                Episode.live_video_id.is_not(None),
                Episode.ended_at.is_(None),
                Episode.went_live_at >= live_since,
            )
        )
    ).all()


async def claim_announcements(session: AsyncSession, episode_ids: list[int]) -> Sequence[Episode]:
    """Mark these episodes' go-live announcement as sent, once ever (a second process, or a
    restart of the stream, finds it taken); returns the episodes, with podcasts, to announce."""
    if not episode_ids:
        return []
    taken = (
        await session.scalars(
            sa.update(Episode)
            .where(Episode.id.in_(episode_ids), Episode.announced_at.is_(None))
            .values(announced_at=sa.func.now())
            .returning(Episode.id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not taken:
        return []
    return (
        await session.scalars(
            sa.select(Episode)
            .options(joinedload(Episode.podcast))
            .where(Episode.id.in_(taken))
            .order_by(Episode.id)
        )
    ).all()


async def record_stream_ends(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    """Each row: id, offline_checks, ended_at (executemany)."""
    if rows:
        await session.execute(
            sa.update(Base.metadata.tables[Episode.__tablename__])
            .where(Episode.id == sa.bindparam("eid"))
            .values(
                offline_checks=sa.bindparam("offline_checks"), ended_at=sa.bindparam("ended_at")
            )
            .where(Episode.ended_at.is_(None)),
            [{**r, "eid": r["id"]} for r in rows],
            execution_options={"synchronize_session": False},
        )


# -- YouTube videos whose state is final ------------------------------------------------------


async def final_video_states(session: AsyncSession, video_ids: Iterable[str]) -> dict[str, str]:
    """The remembered final state of each of `video_ids` that has one, in one query."""
    ids = list(video_ids)
    if not ids:
        return {}
    wanted = sa.bindparam("ids", ids, type_=ARRAY(sa.String))  # one parameter, any count
    rows = await session.execute(
        sa.select(FinalVideo.video_id, FinalVideo.state).where(
            FinalVideo.video_id == sa.any_(wanted)
        )
    )
    return {video_id: state for video_id, state in rows}


async def remember_final_videos(session: AsyncSession, states: dict[str, str]) -> None:
    """Remember final states (one executemany; a video already remembered stays)."""
    if states:
        await session.execute(
            pg_insert(FinalVideo).on_conflict_do_nothing(index_elements=[FinalVideo.video_id]),
            [{"video_id": v, "state": s} for v, s in states.items()],
        )


async def channels_that_can_change(session: AsyncSession) -> tuple[int, int]:
    """(active podcasts, those whose last check saw a stream live or waiting): the videos a
    Data API check still asks about (bot/quota.py)."""
    changing = sa.or_(
        Podcast.last_check_result.startswith("live:"),
        Podcast.last_check_result.startswith("upcoming"),
    )
    row = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.count().filter(changing)).where(Podcast.active)
        )
    ).one()
    return int(row[0]), int(row[1])
