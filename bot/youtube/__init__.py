"""Is a YouTube channel live right now? And which channel does a user's text name?

The package, by concern: ``types`` (the values handed out), ``channel_input`` (what a user typed),
``parsers`` (watch and tab pages, the feed, Data API bodies), ``transport`` (requests, redirects,
Retry-After, backoff and quota state) and ``client`` (``YouTubeClient``, which uses them all).
"""

from bot.youtube.channel_input import is_channel_id, parse_channel_input
from bot.youtube.client import YouTubeClient
from bot.youtube.parsers import parse_feed, parse_live_page
from bot.youtube.transport import next_quota_reset
from bot.youtube.types import (
    ChannelBatch,
    ChannelNotFound,
    InvalidChannel,
    LiveCheck,
    LiveState,
    ScheduledStream,
    VideoState,
    YouTubeError,
    YouTubeUnavailable,
    watch_url,
)

__all__ = [
    "ChannelBatch",
    "ChannelNotFound",
    "InvalidChannel",
    "LiveCheck",
    "LiveState",
    "ScheduledStream",
    "VideoState",
    "YouTubeClient",
    "YouTubeError",
    "YouTubeUnavailable",
    "is_channel_id",
    "next_quota_reset",
    "parse_channel_input",
    "parse_feed",
    "parse_live_page",
    "watch_url",
]
