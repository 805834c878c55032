"""OnAir's tables. Every column with a default has the same default in the database (server_default)
and is NOT NULL, so rows written by any tool, migration or second process agree with the code."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class PostStatus(StrEnum):
    """Where one host's tweet is. `posting` is the claim that makes every post at-most-once."""

    PENDING = "pending"  # waiting for the stream (or for its next retry)
    POSTING = "posting"  # claimed under a row lock; a request to X may be in flight
    POSTED = "posted"
    FAILED = "failed"  # closed without posting; failure_reason says why
    UNKNOWN = "unknown"  # X may or may not have it: a person checks, never a blind retry
    DRY_RUN = "dry_run"  # DRY_RUN was on: nothing was sent to X, and it won't be later

    @property
    def changeable(self) -> bool:
        return self is PostStatus.PENDING


class AttemptOutcome(StrEnum):
    """What one try (a post_attempts row) ended with."""

    POSTED = "posted"
    RETRY = "retry"  # a passing problem: the tweet went back to pending
    FAILED = "failed"  # this try closed the tweet
    UNKNOWN = "unknown"  # we can't tell whether X accepted it
    DRY_RUN = "dry_run"


_E = TypeVar("_E", bound=StrEnum)


class EnumText(sa.types.TypeDecorator[_E], Generic[_E]):
    """A StrEnum stored as its plain value in a VARCHAR (guarded by a CHECK built from the enum),
    read back as the enum member."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum_type: type[_E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_type = enum_type

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> _E | None:
        return None if value is None else self.enum_type(value)


def one_of(column: str, enum_type: type[StrEnum]) -> str:
    """The CHECK expression that keeps `column` to `enum_type`'s values."""
    return f"{column} IN ({', '.join(repr(member.value) for member in enum_type)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _created() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


def _updated() -> Mapped[dt.datetime]:
    return mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), onupdate=sa.func.now()
    )


class Podcast(Base):
    """One podcast per Discord server."""

    __tablename__ = "podcasts"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    guild_id: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    youtube_channel_id: Mapped[str] = mapped_column(sa.String(32))
    title_filter: Mapped[str | None] = mapped_column(sa.String(100))
    announce_channel_id: Mapped[int] = mapped_column(sa.BigInteger)
    host_role_id: Mapped[int] = mapped_column(sa.BigInteger)
    admin_role_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    timezone: Mapped[str] = mapped_column(sa.String(64), server_default="UTC")
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_check_result: Mapped[str | None] = mapped_column(sa.String(200))
    # A waiting room's scheduled start: from 10 minutes before it, the channel is checked fast.
    upcoming_start_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The last live video we reported about without tweeting (filter, no episode, too late),
    # so such a report is made once, not every tick.
    last_reported_video_id: Mapped[str | None] = mapped_column(sa.String(32))
    # Migration 0004 replaced an unusable timezone with UTC: the old name, until announced.
    timezone_repaired_from: Mapped[str | None] = mapped_column(sa.String(64))
    # The daily AI budget (AI_DAILY_DRAFTS_PER_SERVER): drafts used on ai_drafts_day (UTC).
    ai_drafts_day: Mapped[dt.date | None] = mapped_column(sa.Date)
    ai_drafts_used: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    # The go-live announcement mentions this role (and only it); events: a Discord Scheduled
    # Event per episode (README "The show in Discord").
    ping_role_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    events_enabled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    # Only tweets their host approved are posted (unless the host opted into autopost).
    require_approval: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    # When the bot was removed from the server: its data is cleaned up after a grace period.
    removed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Waiting rooms the live check has seen ([{"video_id", "scheduled_start"}]): each is
    # looked at on its own watch page from shortly before its start (README, live check).
    scheduled_streams: Mapped[list[dict[str, str]]] = mapped_column(
        JSONB, server_default=sa.text("'[]'::jsonb")
    )
    # The stream last seen live and when: a new video soon after is a restart of that episode.
    last_live_video_id: Mapped[str | None] = mapped_column(sa.String(32))
    last_live_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    episodes: Mapped[list[Episode]] = relationship(back_populates="podcast", passive_deletes=True)

    __table_args__ = (sa.Index("ix_podcasts_active_checked", "active", "last_checked_at"),)


class Episode(Base):
    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    podcast_id: Mapped[int] = mapped_column(sa.ForeignKey("podcasts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(200))
    scheduled_date: Mapped[dt.date] = mapped_column(sa.Date)
    # Set when the admin gave a time: the date and time in the podcast's timezone, as an instant.
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    live_video_id: Mapped[str | None] = mapped_column(sa.String(32))
    live_url: Mapped[str | None] = mapped_column(sa.String(200))
    live_title: Mapped[str | None] = mapped_column(sa.String(300))
    went_live_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    report_channel_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    report_message_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The end of the stream: checks in a row that no longer saw it live, then when it ended.
    offline_checks: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    ended_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The go-live announcement went out (set by the one process that sends it, once: a restart
    # under a new video is not announced again).
    announced_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    # The readiness board: 0 none yet, 1 the day-before board, 2 the hour-before board.
    board_stage: Mapped[int] = mapped_column(sa.SmallInteger, server_default="0")
    board_channel_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    board_message_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    # A digest of what the board shows, so it is edited only when something changed.
    board_digest: Mapped[str | None] = mapped_column(sa.String(64))

    podcast: Mapped[Podcast] = relationship(back_populates="episodes")

    __table_args__ = (
        sa.Index("ix_episodes_podcast_date", "podcast_id", "scheduled_date"),
        sa.Index(
            "uq_episodes_podcast_video",
            "podcast_id",
            "live_video_id",
            unique=True,
            postgresql_where=sa.text("live_video_id IS NOT NULL"),
        ),
    )


class Host(Base):
    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    podcast_id: Mapped[int] = mapped_column(sa.ForeignKey("podcasts.id", ondelete="CASCADE"))
    discord_user_id: Mapped[int] = mapped_column(sa.BigInteger)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    # The host's drafts post without their approval (/tweet autopost).
    autopost: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    # Set while the member lacks the host role or left the server: their tweets are held.
    away_since: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    x_account: Mapped[XAccount | None] = relationship(back_populates="host", passive_deletes=True)

    __table_args__ = (sa.UniqueConstraint("podcast_id", "discord_user_id"),)


class XAccount(Base):
    """A host's linked X account. Tokens are Fernet ciphertext, never plain text."""

    __tablename__ = "x_accounts"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    host_id: Mapped[int] = mapped_column(sa.ForeignKey("hosts.id", ondelete="CASCADE"), unique=True)
    x_user_id: Mapped[str] = mapped_column(sa.String(32))
    username: Mapped[str] = mapped_column(sa.String(50))
    access_token_encrypted: Mapped[str] = mapped_column(sa.Text)
    access_token_secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()

    host: Mapped[Host] = relationship(back_populates="x_account")


class XLinkRequest(Base):
    """A PIN flow in progress: bound to one member of one server, valid for 10 minutes."""

    __tablename__ = "x_link_requests"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    podcast_id: Mapped[int] = mapped_column(sa.ForeignKey("podcasts.id", ondelete="CASCADE"))
    discord_user_id: Mapped[int] = mapped_column(sa.BigInteger)
    request_token: Mapped[str] = mapped_column(sa.String(200))
    request_token_secret_encrypted: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _created()

    __table_args__ = (sa.UniqueConstraint("podcast_id", "discord_user_id"),)


class EpisodeTweet(Base):
    """One host's tweet for one episode. `status` makes every post at-most-once:
    pending -> posting (claimed under a row lock) -> posted | failed | pending (retry) | unknown
    | dry_run (see PostStatus)."""

    __tablename__ = "episode_tweets"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    episode_id: Mapped[int] = mapped_column(sa.ForeignKey("episodes.id", ondelete="CASCADE"))
    host_id: Mapped[int] = mapped_column(sa.ForeignKey("hosts.id", ondelete="CASCADE"))
    generated_text: Mapped[str | None] = mapped_column(sa.Text)
    draft_is_fallback: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    custom_text: Mapped[str | None] = mapped_column(sa.Text)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    include_url: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    status: Mapped[PostStatus] = mapped_column(
        EnumText(PostStatus), server_default=PostStatus.PENDING.value
    )
    tweet_id: Mapped[str | None] = mapped_column(sa.String(32))
    tweet_url: Mapped[str | None] = mapped_column(sa.String(200))
    failure_reason: Mapped[str | None] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # When this attempt's request went to X. NULL while claimed but not yet sent: a process that
    # dies then leaves a tweet X never saw, which goes back to pending instead of `unknown`.
    sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    posted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    # The host approved the current text (writing it counts); a new draft clears it.
    approved: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    # An admin held this tweet (/tweets hold): it is not posted until released.
    held: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())

    host: Mapped[Host] = relationship()
    episode: Mapped[Episode] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("episode_id", "host_id"),
        sa.CheckConstraint(one_of("status", PostStatus), name="status"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
        sa.Index("ix_episode_tweets_episode_status", "episode_id", "status"),
        sa.Index("ix_episode_tweets_host", "host_id"),
    )

    @property
    def text(self) -> str | None:
        """The body that would be posted: the host's own words always win over the draft."""
        return self.custom_text if self.custom_text else self.generated_text


class PostAttempt(Base):
    """One row per try to post a tweet, for the report and for operators."""

    __tablename__ = "post_attempts"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    episode_tweet_id: Mapped[int] = mapped_column(
        sa.ForeignKey("episode_tweets.id", ondelete="CASCADE"), index=True
    )
    attempt_no: Mapped[int] = mapped_column(sa.Integer)
    outcome: Mapped[AttemptOutcome] = mapped_column(EnumText(AttemptOutcome))
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    http_status: Mapped[int | None] = mapped_column(sa.Integer)
    duration_ms: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    created_at: Mapped[dt.datetime] = _created()

    __table_args__ = (sa.CheckConstraint(one_of("outcome", AttemptOutcome), name="outcome"),)


EVENT_STATES = ("creating", "scheduled", "active", "completed", "canceled", "gone")


class EpisodeEvent(Base):
    """The Discord Scheduled Event of one episode. The row is the claim: inserting it (unique
    episode_id) is what entitles one process to create the event, so there is never a second;
    `claimed_until` lets one process at a time change it, and a claim that lapsed (a crash) is
    taken over. `start_at`/`location` are what Discord shows, to know when to move it."""

    __tablename__ = "episode_events"

    episode_id: Mapped[int] = mapped_column(
        sa.ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True
    )
    guild_id: Mapped[int] = mapped_column(sa.BigInteger)
    discord_event_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    state: Mapped[str] = mapped_column(sa.String(16), server_default="creating")
    start_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    location: Mapped[str | None] = mapped_column(sa.String(100))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()

    __table_args__ = (
        sa.CheckConstraint(
            "state IN ('creating', 'scheduled', 'active', 'completed', 'canceled', 'gone')",
            name="state",
        ),
    )


class ApiToken(Base):
    """A server's bearer token for the read-only JSON API (README "JSON API"): one per podcast,
    stored as the SHA-256 of the token, never the token itself."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    podcast_id: Mapped[int] = mapped_column(
        sa.ForeignKey("podcasts.id", ondelete="CASCADE"), unique=True
    )
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_user_id: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = _created()


class FinalVideo(Base):
    """A YouTube video whose state can't change any more (a plain upload, an ended stream, one
    the Data API doesn't know): Data API checks never ask about it again, across restarts
    (README "How the live check works")."""

    __tablename__ = "youtube_final_videos"

    video_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[dt.datetime] = _created()
