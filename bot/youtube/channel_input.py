"""Which channel does the text a user typed name? (ids, @handles, channel links; no network)"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from bot.youtube.types import ChannelRef, InvalidChannel

YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
CHANNEL_ID_RE = re.compile(r"UC[A-Za-z0-9_-]{22}")
HANDLE_RE = re.compile(r"[\w.-]{3,30}")
LEGACY_NAME_RE = re.compile(r"[\w.-]{1,100}")

INVALID_CHANNEL_MESSAGE = (
    "That doesn't look like a YouTube channel. Use a channel ID (starts with UC), an @handle, "
    "or a channel link such as https://www.youtube.com/@name."
)


def is_channel_id(text: str) -> bool:
    return CHANNEL_ID_RE.fullmatch(text) is not None


def parse_channel_input(text: str) -> ChannelRef:
    """Classify what a user typed; raises ``InvalidChannel`` for anything else."""
    value = text.strip()
    if is_channel_id(value):
        return ChannelRef("id", value)
    if value.startswith("@"):
        if HANDLE_RE.fullmatch(value[1:]):
            return ChannelRef("handle", value[1:])
        raise InvalidChannel(INVALID_CHANNEL_MESSAGE)
    candidate = value if "://" in value else "https://" + value
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise InvalidChannel(INVALID_CHANNEL_MESSAGE) from None
    if parts.scheme.lower() not in ("http", "https") or host not in YOUTUBE_HOSTS:
        raise InvalidChannel(INVALID_CHANNEL_MESSAGE)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments:
        first = segments[0]
        rest = segments[1] if len(segments) > 1 else ""
        if first == "channel" and is_channel_id(rest):
            return ChannelRef("id", rest)
        if first.startswith("@") and HANDLE_RE.fullmatch(first[1:]):
            return ChannelRef("handle", first[1:])
        if first == "c" and LEGACY_NAME_RE.fullmatch(rest):
            return ChannelRef("custom", rest)
        if first == "user" and LEGACY_NAME_RE.fullmatch(rest):
            return ChannelRef("user", rest)
    raise InvalidChannel(INVALID_CHANNEL_MESSAGE)
