"""Reading what YouTube sends: watch and channel pages, the RSS feed, Data API bodies.

Pure functions of text or decoded JSON, no network: the client decides what to fetch, these
say what it means. Anything they can't read is "unknown" (or ``ValueError``), never "offline".
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.youtube.channel_input import is_channel_id
from bot.youtube.types import ApiVideo, FeedEntry, LivePage, VideoState

VIDEO_ID_RE = re.compile(r"[A-Za-z0-9_-]{11}")
CAPTCHA_MARKERS = ("unusual traffic", "g-recaptcha", "/sorry/index", "captcha-form")

_PLAYER_RESPONSE_RE = re.compile(r"""ytInitialPlayerResponse["'\]]*\s*=\s*""")
_CANONICAL_RE = re.compile(r"""<link\b[^>]*\brel\s*=\s*["']canonical["'][^>]*>""", re.IGNORECASE)
_HREF_RE = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_IDENTIFIER_RE = re.compile(
    r"""<meta\b[^>]*\bitemprop\s*=\s*["'](?:identifier|channelId)["'][^>]*"""
    r"""\bcontent\s*=\s*["'](UC[A-Za-z0-9_-]{22})["']""",
    re.IGNORECASE,
)
_EXTERNAL_ID_RE = re.compile(r'"externalId"\s*:\s*"(UC[A-Za-z0-9_-]{22})"')

_ATOM = "{http://www.w3.org/2005/Atom}"
_YT = "{http://www.youtube.com/xml/schemas/2015}"


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 (with Z or offset) or epoch seconds as a string; aware UTC, or None."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def extract_player_response(page: str) -> dict[str, Any] | None:
    """The ``ytInitialPlayerResponse`` object, decoded from wherever it is assigned.

    Regexes can't find the end of a JSON object (titles hold braces and semicolons), so this
    decodes from the opening brace with ``raw_decode`` and skips ``= null`` placeholders.
    """
    decoder = json.JSONDecoder()
    for match in _PLAYER_RESPONSE_RE.finditer(page):
        start = match.end()
        if not page.startswith("{", start):
            continue
        try:
            value, _ = decoder.raw_decode(page, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def extract_canonical_url(page: str) -> str | None:
    match = _CANONICAL_RE.search(page)
    if match is None:
        return None
    href = _HREF_RE.search(match.group(0))
    return html.unescape(href.group(1)) if href else None


def extract_channel_id(page: str) -> str | None:
    """The channel id of a channel page: canonical link, then itemprop meta, then externalId."""
    canonical = extract_canonical_url(page)
    if canonical:
        segments = [s for s in urlsplit(canonical).path.split("/") if s]
        if len(segments) >= 2 and segments[0] == "channel" and is_channel_id(segments[1]):
            return segments[1]
    for pattern in (_IDENTIFIER_RE, _EXTERNAL_ID_RE):
        if match := pattern.search(page):
            return match.group(1)
    return None


def looks_like_captcha(page: str) -> bool:
    lowered = page.lower()
    return any(marker in lowered for marker in CAPTCHA_MARKERS)


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def parse_live_page(page: str) -> LivePage:
    """Decide live/upcoming/offline from a ``/live`` page; "unknown" when it can't be read.

    Offline needs positive evidence: the canonical link of a channel page, or a watch page whose
    stream has ended (or that is no stream at all). A waiting room is "upcoming", never live.
    """
    canonical = extract_canonical_url(page)
    if canonical is None:
        return LivePage("unknown", reason="captcha" if looks_like_captcha(page) else "unparseable")
    parts = urlsplit(canonical)
    if parts.path.startswith("/channel/") or parts.path.startswith("/@"):
        return LivePage("offline")
    if parts.path != "/watch":
        return LivePage("unknown", reason="unparseable")
    player = extract_player_response(page)
    details = _dig(player, "videoDetails")
    if not isinstance(details, dict):
        return LivePage("unknown", reason="unparseable")
    canonical_ids = parse_qs(parts.query).get("v", [])
    video_id = details.get("videoId") or (canonical_ids[0] if canonical_ids else None)
    if not isinstance(video_id, str) or not VIDEO_ID_RE.fullmatch(video_id):
        return LivePage("unknown", reason="unparseable")
    title = details.get("title") if isinstance(details.get("title"), str) else None
    broadcast = _dig(player, "microformat", "playerMicroformatRenderer", "liveBroadcastDetails")
    broadcast = broadcast if isinstance(broadcast, dict) else {}
    playability = _dig(player, "playabilityStatus")
    playability = playability if isinstance(playability, dict) else {}
    start_stamp = parse_timestamp(broadcast.get("startTimestamp"))
    is_premiere = details.get("isLiveContent") is False
    if broadcast.get("endTimestamp"):
        return LivePage(
            "offline",
            video_id=video_id,
            title=title,
            started_at=start_stamp,
            is_premiere=is_premiere,
        )
    if broadcast.get("isLiveNow") is True or details.get("isLive") is True:
        return LivePage(
            "live", video_id=video_id, title=title, started_at=start_stamp, is_premiere=is_premiere
        )
    if details.get("isUpcoming") is True or playability.get("status") == "LIVE_STREAM_OFFLINE":
        slate_time = _dig(
            playability,
            "liveStreamability",
            "liveStreamabilityRenderer",
            "offlineSlate",
            "liveStreamOfflineSlateRenderer",
            "scheduledStartTime",
        )
        scheduled = parse_timestamp(slate_time) or start_stamp
        return LivePage(
            "upcoming",
            video_id=video_id,
            title=title,
            scheduled_start=scheduled,
            is_premiere=is_premiere,
        )
    # A watch page that is neither live nor waiting: an ordinary video, so nothing is on air.
    return LivePage("offline", video_id=video_id, title=title, is_premiere=is_premiere)


def parse_feed(xml_text: str) -> list[FeedEntry]:
    """Entries of a channel's Atom feed, newest first as YouTube lists them.

    Raises ``ValueError`` when the text is not such a feed.
    """
    try:
        root = ET.fromstring(xml_text)  # noqa: S314 - expat won't fetch entities; see import
    except ET.ParseError as error:
        raise ValueError("not an XML feed") from error
    if root.tag != f"{_ATOM}feed":
        raise ValueError("not an Atom feed")
    entries: list[FeedEntry] = []
    for entry in root.iter(f"{_ATOM}entry"):
        video_id = (entry.findtext(f"{_YT}videoId") or "").strip()
        if not VIDEO_ID_RE.fullmatch(video_id):
            continue
        entries.append(
            FeedEntry(
                video_id=video_id,
                title=(entry.findtext(f"{_ATOM}title") or "").strip(),
                published=parse_timestamp(entry.findtext(f"{_ATOM}published")),
            )
        )
    return entries


def parse_api_video(item: Mapping[str, Any]) -> ApiVideo | None:
    """Liveness from ``liveStreamingDetails`` times; ``liveBroadcastContent`` is only a hint.

    Started and not ended is live; scheduled and not started is upcoming; ended is ended; no
    streaming details at all is a plain upload.
    """
    video_id = item.get("id")
    if not isinstance(video_id, str):
        return None
    raw_snippet = item.get("snippet")
    snippet: Mapping[str, Any] = raw_snippet if isinstance(raw_snippet, dict) else {}
    details = item.get("liveStreamingDetails")
    raw_title, raw_channel = snippet.get("title"), snippet.get("channelId")
    title = raw_title if isinstance(raw_title, str) else ""
    channel_id = raw_channel if isinstance(raw_channel, str) else None
    if not isinstance(details, dict):
        return ApiVideo(video_id, title, channel_id, VideoState.UPLOAD)
    scheduled = parse_timestamp(details.get("scheduledStartTime"))
    started = parse_timestamp(details.get("actualStartTime"))
    ended = parse_timestamp(details.get("actualEndTime"))
    if ended is not None:
        state = VideoState.ENDED
    elif started is not None:
        state = VideoState.LIVE
    else:
        state = VideoState.UPCOMING
    return ApiVideo(video_id, title, channel_id, state, scheduled, started, ended)


def parse_videos_response(body: Mapping[str, Any]) -> list[ApiVideo]:
    items = body.get("items", [])
    if not isinstance(items, list):
        raise ValueError("items is not a list")
    return [v for item in items if isinstance(item, dict) and (v := parse_api_video(item))]


def google_error_reasons(body: object) -> set[str]:
    """Every ``reason`` in a decoded Google error body (``errors[]`` and ``details[]``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return set()
    reasons: set[str] = set()
    for key in ("errors", "details"):
        for entry in error.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                reasons.add(entry["reason"])
    return reasons
