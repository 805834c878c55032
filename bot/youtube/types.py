"""The values the YouTube package hands out: states, check results, errors, parsed bodies."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Literal

LiveState = Literal["live", "offline", "upcoming", "unknown"]
CheckSource = Literal["page", "api", "none"]

PUBLIC_ORIGIN = "https://www.youtube.com"


def watch_url(video_id: str) -> str:
    return f"{PUBLIC_ORIGIN}/watch?v={video_id}"


class YouTubeError(Exception):
    """Base of the errors ``resolve_channel`` raises; messages are safe to show users."""


class InvalidChannel(YouTubeError):
    """The text is not a channel id, an @handle or a YouTube channel link."""


class ChannelNotFound(YouTubeError):
    """The text is well formed but YouTube has no such channel."""


class YouTubeUnavailable(YouTubeError):
    """YouTube could not be asked (network, rate limit, consent wall...); try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__("YouTube didn't answer properly just now. Please try again in a minute.")
        self.reason = reason
        self.retry_after = retry_after


class VideoState(StrEnum):
    """What we know about one video; final states never change, so they are never re-asked."""

    UPLOAD = "upload"
    UPCOMING = "upcoming"
    LIVE = "live"
    ENDED = "ended"
    GONE = "gone"  # listed in the feed, unknown to the API (private or deleted)

    @property
    def is_final(self) -> bool:
        return self in (VideoState.UPLOAD, VideoState.ENDED, VideoState.GONE)


@dataclasses.dataclass(frozen=True)
class LiveCheck:
    """The answer for one channel.

    ``video_id``/``title``/times describe the stream the state is about (for "offline" from a
    page that shows the last, ended stream: that stream). ``reason`` says why the state is
    "unknown". ``retry_after`` is how many seconds until this client asks YouTube about the
    channel again (the server's Retry-After when it sent one). ``video_states`` holds what this
    check learned per video, for callers that persist it and pass it back as ``known_videos``.
    ``scheduled`` is every waiting room of the channel still worth tracking after this check,
    for callers that persist it and pass it back as ``scheduled``. ``is_premiere`` is only known in page mode (the Data API doesn't expose it).
    """

    channel_id: str
    state: LiveState
    video_id: str | None = None
    title: str | None = None
    started_at: datetime | None = None
    scheduled_start: datetime | None = None
    is_premiere: bool = False
    reason: str | None = None
    retry_after: float | None = None
    source: CheckSource = "none"
    video_states: Mapping[str, VideoState] = dataclasses.field(default_factory=dict)
    scheduled: tuple[ScheduledStream, ...] = ()

    @property
    def url(self) -> str | None:
        """The public watch URL (never the configured base URL, which may be a proxy)."""
        return watch_url(self.video_id) if self.video_id else None

    @property
    def is_live(self) -> bool:
        return self.state == "live"


@dataclasses.dataclass(frozen=True)
class ChannelBatch:
    """The answers for a batch of channels, and the facts about the batch as a whole.

    The facts are not any one channel's: every server the batch covers is affected by them.
    ``quota_exhausted_now`` / ``api_key_rejected_now`` are true in the one batch in which the
    client first saw it happen, ``page_checks_blocked_now`` in the one in which YouTube started
    answering page checks with its bot wall or consent page; ``units_used`` is what this batch spent of the Data API quota.
    """

    checks: dict[str, LiveCheck]
    units_used: int = 0
    quota_exhausted_now: bool = False
    api_key_rejected_now: bool = False
    page_checks_blocked_now: bool = False


@dataclasses.dataclass(frozen=True)
class ScheduledStream:
    """A waiting room a check has seen: tracked on its own watch page until it is decided."""

    video_id: str
    scheduled_start: datetime | None = None


@dataclasses.dataclass(frozen=True)
class TabEntry:
    """One video on a channel's Live ("streams") tab, as its thumbnail badge shows it."""

    video_id: str
    title: str | None
    state: Literal["live", "upcoming", "other"]
    scheduled_start: datetime | None = None


@dataclasses.dataclass(frozen=True)
class LivePage:
    """What a ``/live`` or watch page says, before any network concerns.

    ``entries`` is set when the page is the channel's Live tab (two or more streams live or
    scheduled): its live entries still need confirming on their own watch pages.
    """

    state: LiveState
    reason: str | None = None
    video_id: str | None = None
    title: str | None = None
    started_at: datetime | None = None
    scheduled_start: datetime | None = None
    is_premiere: bool = False
    entries: tuple[TabEntry, ...] = ()


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    video_id: str
    title: str
    published: datetime | None


@dataclasses.dataclass(frozen=True)
class ApiVideo:
    """One ``videos.list`` item reduced to what decides liveness."""

    video_id: str
    title: str
    channel_id: str | None
    state: VideoState
    scheduled_start: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclasses.dataclass(frozen=True)
class ChannelRef:
    """A parsed user input: ``kind`` is "id", "handle", "custom" (/c/) or "user" (/user/)."""

    kind: Literal["id", "handle", "custom", "user"]
    value: str
