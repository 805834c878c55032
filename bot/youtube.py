"""Is a YouTube channel live right now? And which channel does a user's text name?

Two ways to know, both through one shared ``httpx.AsyncClient``:

* Page mode (no API key, and the fallback): ``/channel/{id}/live`` shows the live stream, the next
  waiting room, the last stream, or the channel page. Its canonical link and
  ``ytInitialPlayerResponse`` say which. Costs no quota.
* API mode (``api_key`` set): the channel's RSS feed (free) lists recent video ids, and
  ``videos.list`` (1 unit per 50 ids) tells from ``actualStartTime``/``actualEndTime`` whether one
  is live. Videos in a final state (plain uploads, ended streams) are never asked about again, and
  ``search.list`` (100 units) is never used. Quota exhaustion switches the client to page mode
  until midnight Pacific time, when Google resets the quota.

Anything that stops us from knowing (consent wall, captcha, 429, 5xx, timeout, a page we cannot
read) is reported as state ``"unknown"`` with a short ``reason``, never as ``"offline"``, so a
blip can't end a stream that is still running. Failing channels back off on their own, honouring
``Retry-After``; the others are not slowed down.

This module knows nothing of Discord or the database: plain values in, dataclasses out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import httpx

log = logging.getLogger(__name__)

LiveState = Literal["live", "offline", "upcoming", "unknown"]
CheckSource = Literal["page", "api", "none"]

PUBLIC_ORIGIN = "https://www.youtube.com"
YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
CHANNEL_ID_RE = re.compile(r"UC[A-Za-z0-9_-]{22}")
VIDEO_ID_RE = re.compile(r"[A-Za-z0-9_-]{11}")
HANDLE_RE = re.compile(r"[\w.-]{3,30}")
LEGACY_NAME_RE = re.compile(r"[\w.-]{1,100}")
VIDEOS_PER_CALL = 50
API_UNIT_COST = {"videos": 1, "channels": 1}
PACIFIC = ZoneInfo("America/Los_Angeles")
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
MAX_SAME_SITE_REDIRECTS = 3
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0

# Reasons that say "YouTube wants us to slow down or is struggling": the channel backs off.
BACKOFF_REASONS = frozenset({"rate_limited", "server_error", "timeout", "network", "captcha"})
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
KEY_REJECTED_REASONS = frozenset(
    {
        "keyInvalid",
        "keyExpired",
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "accessNotConfigured",
        "ipRefererBlocked",
        "forbidden",
    }
)
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


# ----- outcomes ---------------------------------------------------------------------------------


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
    ``is_premiere`` is only known in page mode (the Data API doesn't expose it).
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
    units_used: int = 0
    quota_exhausted_now: bool = False
    api_key_rejected_now: bool = False
    source: CheckSource = "none"
    video_states: Mapping[str, VideoState] = dataclasses.field(default_factory=dict)

    @property
    def url(self) -> str | None:
        """The public watch URL (never the configured base URL, which may be a proxy)."""
        return watch_url(self.video_id) if self.video_id else None

    @property
    def is_live(self) -> bool:
        return self.state == "live"


@dataclasses.dataclass(frozen=True)
class LivePage:
    """What a ``/channel/{id}/live`` page says, before any network concerns."""

    state: LiveState
    reason: str | None = None
    video_id: str | None = None
    title: str | None = None
    started_at: datetime | None = None
    scheduled_start: datetime | None = None
    is_premiere: bool = False


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


# ----- pure helpers -----------------------------------------------------------------------------


def watch_url(video_id: str) -> str:
    return f"{PUBLIC_ORIGIN}/watch?v={video_id}"


def is_channel_id(text: str) -> bool:
    return CHANNEL_ID_RE.fullmatch(text) is not None


_INVALID_CHANNEL_MESSAGE = (
    "That doesn't look like a YouTube channel. Use a channel ID (starts with UC), an @handle, "
    "or a channel link such as https://www.youtube.com/@name."
)


def parse_channel_input(text: str) -> ChannelRef:
    """Classify what a user typed; raises ``InvalidChannel`` for anything else."""
    value = text.strip()
    if is_channel_id(value):
        return ChannelRef("id", value)
    if value.startswith("@"):
        if HANDLE_RE.fullmatch(value[1:]):
            return ChannelRef("handle", value[1:])
        raise InvalidChannel(_INVALID_CHANNEL_MESSAGE)
    candidate = value if "://" in value else "https://" + value
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise InvalidChannel(_INVALID_CHANNEL_MESSAGE) from None
    if parts.scheme.lower() not in ("http", "https") or host not in YOUTUBE_HOSTS:
        raise InvalidChannel(_INVALID_CHANNEL_MESSAGE)
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
    raise InvalidChannel(_INVALID_CHANNEL_MESSAGE)


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


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or HTTP-date), capped at a day."""
    if not value:
        return None
    text = value.strip()
    seconds: float | None
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in Pacific time, when the Data API's daily quota resets."""
    local = now.astimezone(PACIFIC)
    tomorrow = local.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=PACIFIC).astimezone(UTC)


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
    common = {"video_id": video_id, "title": title, "is_premiere": is_premiere}

    if broadcast.get("endTimestamp"):
        return LivePage("offline", started_at=start_stamp, **common)
    if broadcast.get("isLiveNow") is True or details.get("isLive") is True:
        return LivePage("live", started_at=start_stamp, **common)
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
        return LivePage("upcoming", scheduled_start=scheduled, **common)
    # A watch page that is neither live nor waiting: an ordinary video, so nothing is on air.
    return LivePage("offline", **common)


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
    snippet = item.get("snippet") if isinstance(item.get("snippet"), dict) else {}
    details = item.get("liveStreamingDetails")
    title = snippet.get("title") if isinstance(snippet.get("title"), str) else ""
    channel_id = snippet.get("channelId") if isinstance(snippet.get("channelId"), str) else None
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


def google_error_reasons(response: httpx.Response) -> set[str]:
    """Every ``reason`` in a Google error body (``errors[]`` and ``details[]``)."""
    try:
        body = response.json()
    except ValueError:
        return set()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return set()
    reasons: set[str] = set()
    for key in ("errors", "details"):
        for entry in error.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                reasons.add(entry["reason"])
    return reasons


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ----- the client -------------------------------------------------------------------------------


class _Trouble(Exception):
    """YouTube couldn't be asked; ``reason`` becomes LiveCheck.reason."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _ApiFallback(Exception):
    """The Data API can't answer this check; the page check answers instead."""


class YouTubeClient:
    """One per process: create at start-up, ``await aclose()`` at shutdown.

    ``clock`` returns the aware current time; tests pass a fake to step through backoffs and
    quota resets. ``backoff_base``/``backoff_max`` bound the per-channel exponential backoff used
    when YouTube fails without saying how long to wait.
    """

    def __init__(
        self,
        base_url: str = PUBLIC_ORIGIN,
        api_base_url: str = "https://www.googleapis.com/youtube/v3",
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        max_concurrency: int = 20,
        clock: Callable[[], datetime] | None = None,
        backoff_base: float = 60.0,
        backoff_max: float = 1800.0,
        video_cache_size: int = 10_000,
        on_response: Callable[[httpx.Response], Awaitable[None]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._base_host = urlsplit(self._base_url).netloc.lower()
        self._api_base_url = api_base_url.rstrip("/")
        self._api_key = api_key or None
        self._timeout = timeout
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_concurrency,
                max_keepalive_connections=max_concurrency,
                keepalive_expiry=60.0,
            ),
            headers={
                "User-Agent": BROWSER_USER_AGENT,
                "Accept-Language": "en-US,en;q=0.9",
            },
            cookies={"SOCS": "CAI"},  # "reject all" consent: skips the EU consent interstitial
            event_hooks={"response": [on_response]} if on_response else None,
        )
        self._final_states: OrderedDict[str, VideoState] = OrderedDict()
        self._video_cache_size = video_cache_size
        self._next_allowed_at: dict[str, datetime] = {}
        self._failures: dict[str, int] = {}
        self._api_paused_until: datetime | None = None
        self._api_key_rejected = False
        self._quota_flag_pending = False
        self._key_flag_pending = False
        self.units_used = 0  # Data API units this client spent (an estimate of Google's count)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> YouTubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def api_mode(self) -> bool:
        """True while checks use the Data API (a key is set, accepted, and quota remains)."""
        if self._api_key is None or self._api_key_rejected:
            return False
        return self._api_paused_until is None or self._clock() >= self._api_paused_until

    @property
    def api_paused_until(self) -> datetime | None:
        """When the exhausted quota resets, while the client is in page mode because of it."""
        if self._api_paused_until is not None and self._clock() < self._api_paused_until:
            return self._api_paused_until
        return None

    def next_allowed_at(self, channel_id: str) -> datetime | None:
        """When a backing-off channel will be asked again (None: not backing off)."""
        return self._next_allowed_at.get(channel_id)

    # ----- resolving ---------------------------------------------------------------------------

    async def resolve_channel(self, text: str) -> str:
        """The UC… id for an id, an @handle or a channel URL.

        Raises ``InvalidChannel`` (bad input), ``ChannelNotFound`` or ``YouTubeUnavailable``.
        """
        ref = parse_channel_input(text)
        if ref.kind == "handle" and self.api_mode:
            try:
                found = await self._channel_ids_from_api({"forHandle": "@" + ref.value})
            except _ApiFallback:
                pass
            except _Trouble as trouble:
                raise YouTubeUnavailable(trouble.reason, trouble.retry_after) from None
            else:
                if not found:
                    raise ChannelNotFound("No YouTube channel has that handle.")
                return found[0]
        path = {
            "id": "/channel/{}",
            "handle": "/@{}",
            "custom": "/c/{}",
            "user": "/user/{}",
        }[ref.kind].format(quote(ref.value, safe=""))
        try:
            response = await self._fetch_page(self._base_url + path)
        except _Trouble as trouble:
            raise YouTubeUnavailable(trouble.reason, trouble.retry_after) from None
        if response.status_code == 404:
            raise ChannelNotFound("YouTube has no channel at that address.")
        channel_id = extract_channel_id(response.text)
        if channel_id is None:
            reason = "captcha" if looks_like_captcha(response.text) else "unparseable"
            raise YouTubeUnavailable(reason)
        return channel_id

    async def _channel_ids_from_api(self, params: Mapping[str, str]) -> list[str]:
        body = await self._api_get("channels", {"part": "id", **params})
        items = body.get("items", [])
        if not isinstance(items, list):
            raise _ApiFallback
        return [
            item["id"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and is_channel_id(item["id"])
        ]

    # ----- checking ----------------------------------------------------------------------------

    async def check_channels(
        self,
        channel_ids: Iterable[str],
        known_videos: Mapping[str, VideoState] | None = None,
    ) -> dict[str, LiveCheck]:
        """Check many channels at once; each answers within its own timeouts, none raises."""
        unique = list(dict.fromkeys(channel_ids))
        if self.api_mode and len(unique) > 1:
            return await self._check_many_via_api(unique, known_videos or {})
        results = await asyncio.gather(*(self._check_safely(c, known_videos) for c in unique))
        return dict(zip(unique, results, strict=True))

    async def _check_many_via_api(
        self, channel_ids: list[str], known_videos: Mapping[str, VideoState]
    ) -> dict[str, LiveCheck]:
        """Data API mode for many channels: every feed concurrently, then one videos.list per
        50 ids of all the channels together (one call per channel would cost a unit each)."""
        results: dict[str, LiveCheck] = {}
        feeds: dict[str, list[FeedEntry]] = {}
        to_page: list[str] = []

        async def read_feed(channel_id: str) -> None:
            early = self._refuse_early(channel_id)
            if early is not None:
                results[channel_id] = early
                return
            try:
                feeds[channel_id] = await self._feed_entries(channel_id)
            except _ApiFallback:
                to_page.append(channel_id)
            except _Trouble as trouble:
                results[channel_id] = self._record_failure(channel_id, trouble)
            except Exception:
                log.exception("YouTube feed of %s failed unexpectedly", channel_id)
                results[channel_id] = LiveCheck(channel_id, "unknown", reason="error")

        await asyncio.gather(*(read_feed(c) for c in channel_ids))
        plans = {c: self._split_known(entries, known_videos) for c, entries in feeds.items()}
        asked = list(dict.fromkeys(v for _, ask in plans.values() for v in ask))
        try:
            videos, units = await self._lookup_videos(asked)
        except _ApiFallback:
            to_page.extend(plans)
            plans = {}
        except _Trouble as trouble:
            for channel_id in plans:
                results[channel_id] = self._record_failure(channel_id, trouble)
            plans = {}
        by_id = {v.video_id: v for v in videos} if plans else {}
        for index, (channel_id, (states, ask)) in enumerate(plans.items()):
            mine = [by_id[v] for v in ask if v in by_id]
            check = self._api_result(
                channel_id, states, ask, mine, units_used=units if index == 0 else 0
            )
            results[channel_id] = self._settle(channel_id, check)

        async def page(channel_id: str) -> None:
            try:
                check = await self._check_via_page(channel_id)
            except _Trouble as trouble:
                results[channel_id] = self._record_failure(channel_id, trouble)
            except Exception:
                log.exception("YouTube check of %s failed unexpectedly", channel_id)
                results[channel_id] = LiveCheck(channel_id, "unknown", reason="error")
            else:
                results[channel_id] = self._settle(channel_id, check)

        await asyncio.gather(*(page(c) for c in to_page))
        return {c: self._with_flags(results[c]) for c in channel_ids}

    async def _check_safely(
        self, channel_id: str, known_videos: Mapping[str, VideoState] | None
    ) -> LiveCheck:
        try:
            return await self.check_channel(channel_id, known_videos)
        except InvalidChannel:
            return LiveCheck(channel_id, "unknown", reason="invalid_channel")
        except Exception:
            log.exception("YouTube check of %s failed unexpectedly", channel_id)
            return LiveCheck(channel_id, "unknown", reason="error")

    async def check_channel(
        self,
        channel_id: str,
        known_videos: Mapping[str, VideoState] | None = None,
    ) -> LiveCheck:
        """Live, upcoming, offline, or unknown (with a reason) for one UC… channel id."""
        if not is_channel_id(channel_id):
            raise InvalidChannel(_INVALID_CHANNEL_MESSAGE)
        early = self._refuse_early(channel_id)
        if early is not None:
            return self._with_flags(early)
        try:
            if self.api_mode:
                try:
                    check = await self._check_via_api(channel_id, known_videos or {})
                except _ApiFallback:
                    check = await self._check_via_page(channel_id)
            else:
                check = await self._check_via_page(channel_id)
        except _Trouble as trouble:
            check = self._record_failure(channel_id, trouble)
        else:
            check = self._settle(channel_id, check)
        return self._with_flags(check)

    def _refuse_early(self, channel_id: str) -> LiveCheck | None:
        """An answer without asking YouTube: a malformed id, or a channel in backoff."""
        if not is_channel_id(channel_id):
            return LiveCheck(channel_id, "unknown", reason="invalid_channel")
        now = self._clock()
        allowed_at = self._next_allowed_at.get(channel_id)
        if allowed_at is not None and now < allowed_at:
            wait = (allowed_at - now).total_seconds()
            return LiveCheck(channel_id, "unknown", reason="backoff", retry_after=wait)
        return None

    def _settle(self, channel_id: str, check: LiveCheck) -> LiveCheck:
        """A clear answer ends the channel's backoff."""
        if check.state != "unknown":
            self._failures.pop(channel_id, None)
            self._next_allowed_at.pop(channel_id, None)
        return check

    async def _check_via_page(self, channel_id: str) -> LiveCheck:
        response = await self._fetch_page(f"{self._base_url}/channel/{channel_id}/live")
        if response.status_code == 404:
            return LiveCheck(channel_id, "unknown", reason="not_found", source="page")
        page = parse_live_page(response.text)
        if page.reason in BACKOFF_REASONS:
            raise _Trouble(page.reason)
        return LiveCheck(
            channel_id=channel_id,
            state=page.state,
            video_id=page.video_id,
            title=page.title,
            started_at=page.started_at,
            scheduled_start=page.scheduled_start,
            is_premiere=page.is_premiere,
            reason=page.reason,
            source="page",
        )

    async def _check_via_api(
        self, channel_id: str, known_videos: Mapping[str, VideoState]
    ) -> LiveCheck:
        entries = await self._feed_entries(channel_id)
        states, ask = self._split_known(entries, known_videos)
        videos, units = await self._lookup_videos(ask)
        return self._api_result(channel_id, states, ask, videos, units_used=units)

    async def _feed_entries(self, channel_id: str) -> list[FeedEntry]:
        """The channel's recent videos from its RSS feed (free of quota)."""
        try:
            feed_response = await self._fetch_page(
                f"{self._base_url}/feeds/videos.xml", params={"channel_id": channel_id}
            )
        except _Trouble as trouble:
            if trouble.reason in ("server_error", "unexpected_status", "unparseable"):
                raise _ApiFallback from None
            raise
        if feed_response.status_code != 200:
            raise _ApiFallback  # YouTube's feeds 404 now and then; the page still answers
        try:
            return parse_feed(feed_response.text)
        except ValueError:
            raise _ApiFallback from None

    def _split_known(
        self, entries: list[FeedEntry], known_videos: Mapping[str, VideoState]
    ) -> tuple[dict[str, VideoState], list[str]]:
        """Videos whose final state is known (never asked again), and the ids to ask about."""
        states: dict[str, VideoState] = {}
        to_ask: list[str] = []
        for entry in entries:
            known = self._final_states.get(entry.video_id) or known_videos.get(entry.video_id)
            if known is not None and VideoState(known).is_final:
                states[entry.video_id] = VideoState(known)
            elif entry.video_id not in to_ask:
                to_ask.append(entry.video_id)
        return states, to_ask

    async def _lookup_videos(self, video_ids: list[str]) -> tuple[list[ApiVideo], int]:
        """videos.list for `video_ids`, 50 per call (1 unit each), calls in parallel."""
        chunks = list(_chunks(video_ids, VIDEOS_PER_CALL))
        bodies = await asyncio.gather(
            *(
                self._api_get(
                    "videos", {"part": "snippet,liveStreamingDetails", "id": ",".join(chunk)}
                )
                for chunk in chunks
            )
        )
        videos: list[ApiVideo] = []
        for body in bodies:
            try:
                videos.extend(parse_videos_response(body))
            except ValueError:
                raise _ApiFallback from None
        return videos, len(chunks) * API_UNIT_COST["videos"]

    def _api_result(
        self,
        channel_id: str,
        states: dict[str, VideoState],
        to_ask: list[str],
        videos: list[ApiVideo],
        *,
        units_used: int,
    ) -> LiveCheck:
        """Decide the channel's state from what videos.list said about its videos."""
        answered = {v.video_id for v in videos}
        for video in videos:
            states[video.video_id] = video.state
        for video_id in to_ask:
            if video_id not in answered:
                states[video_id] = VideoState.GONE
        for video_id, state in states.items():
            if state.is_final:
                self._remember_final(video_id, state)

        common = {"units_used": units_used, "source": "api", "video_states": states}
        live = [v for v in videos if v.state is VideoState.LIVE]
        if live:
            best = max(live, key=lambda v: v.started_at or datetime.min.replace(tzinfo=UTC))
            return LiveCheck(
                channel_id,
                "live",
                video_id=best.video_id,
                title=best.title,
                started_at=best.started_at,
                scheduled_start=best.scheduled_start,
                **common,
            )
        upcoming = [v for v in videos if v.state is VideoState.UPCOMING]
        if upcoming:
            best = min(
                upcoming, key=lambda v: v.scheduled_start or datetime.max.replace(tzinfo=UTC)
            )
            return LiveCheck(
                channel_id,
                "upcoming",
                video_id=best.video_id,
                title=best.title,
                scheduled_start=best.scheduled_start,
                **common,
            )
        return LiveCheck(channel_id, "offline", **common)

    def _remember_final(self, video_id: str, state: VideoState) -> None:
        self._final_states[video_id] = state
        self._final_states.move_to_end(video_id)
        while len(self._final_states) > self._video_cache_size:
            self._final_states.popitem(last=False)

    # ----- backoff and flags -------------------------------------------------------------------

    def _record_failure(self, channel_id: str, trouble: _Trouble) -> LiveCheck:
        if trouble.reason not in BACKOFF_REASONS:
            return LiveCheck(channel_id, "unknown", reason=trouble.reason)
        failures = self._failures.get(channel_id, 0) + 1
        self._failures[channel_id] = failures
        if trouble.retry_after is not None:
            delay = trouble.retry_after
        else:
            delay = min(self._backoff_max, self._backoff_base * 2 ** min(failures - 1, 30))
        self._next_allowed_at[channel_id] = self._clock() + timedelta(seconds=delay)
        log.info("YouTube check of %s: %s; next try in %.0fs", channel_id, trouble.reason, delay)
        return LiveCheck(channel_id, "unknown", reason=trouble.reason, retry_after=delay)

    def _with_flags(self, check: LiveCheck) -> LiveCheck:
        """Attach one-time notices (quota exhausted, key rejected) to exactly one result."""
        quota_now, self._quota_flag_pending = self._quota_flag_pending, False
        key_now, self._key_flag_pending = self._key_flag_pending, False
        if not (quota_now or key_now):
            return check
        return dataclasses.replace(
            check, quota_exhausted_now=quota_now, api_key_rejected_now=key_now
        )

    def _pause_api_for_quota(self) -> None:
        now = self._clock()
        if self._api_paused_until is not None and now < self._api_paused_until:
            return  # another concurrent call already switched; report it once
        self._api_paused_until = next_quota_reset(now)
        self._quota_flag_pending = True
        log.warning(
            "YouTube Data API quota exhausted; page checks until %s",
            self._api_paused_until.isoformat(),
        )

    def _reject_api_key(self) -> None:
        if self._api_key_rejected:
            return
        self._api_key_rejected = True
        self._key_flag_pending = True
        log.error("YouTube rejected the configured API key; using page checks from now on")

    # ----- HTTP --------------------------------------------------------------------------------

    async def _send(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One GET within the concurrency bound and a hard deadline (httpx's is per phase)."""
        async with self._semaphore:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._http.get(url, params=params, headers=headers)
            except (TimeoutError, httpx.TimeoutException):
                raise _Trouble("timeout") from None
            except httpx.HTTPError:
                raise _Trouble("network") from None

    async def _fetch_page(
        self, url: str, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """GET a www page, following only redirects that stay on YouTube.

        Returns 200 and 404 responses; everything else is a ``_Trouble``. A redirect elsewhere
        (consent.youtube.com, google.com/sorry) is reported, never followed.
        """
        for _ in range(MAX_SAME_SITE_REDIRECTS + 1):
            response = await self._send(url, params=params)
            status = response.status_code
            if status in (200, 404):
                return response
            if response.is_redirect:
                target = self._same_site_target(response)
                if target is None:
                    location = response.headers.get("location", "").lower()
                    if "consent." in location:
                        raise _Trouble("consent")
                    if "/sorry/" in location:
                        raise _Trouble("captcha")
                    raise _Trouble("unparseable")
                url, params = target, None
                continue
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
            if status == 429:
                raise _Trouble("rate_limited", retry_after)
            if status >= 500:
                raise _Trouble("server_error", retry_after)
            raise _Trouble("unexpected_status")
        raise _Trouble("unparseable")  # a redirect loop

    def _same_site_target(self, response: httpx.Response) -> str | None:
        """Where a redirect points, mapped onto ``base_url`` when it stays on YouTube."""
        location = response.headers.get("location")
        if not location:
            return None
        absolute = urljoin(str(response.request.url), location)
        parts = urlsplit(absolute)
        host = parts.netloc.lower()
        if host != self._base_host and (parts.hostname or "").lower() not in YOUTUBE_HOSTS:
            return None
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self._base_url + path

    async def _api_get(self, resource: str, params: Mapping[str, str]) -> dict[str, Any]:
        """A Data API call; the key travels in a header so it never lands in logged URLs."""
        if self._api_key is None:
            raise _ApiFallback
        response = await self._send(
            f"{self._api_base_url}/{resource}",
            params=params,
            headers={"X-Goog-Api-Key": self._api_key},
        )
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                raise _ApiFallback from None
            if not isinstance(body, dict):
                raise _ApiFallback
            self.units_used += API_UNIT_COST[resource]
            return body
        reasons = google_error_reasons(response)
        if reasons & QUOTA_REASONS:
            self._pause_api_for_quota()
            raise _ApiFallback
        if status in (400, 401, 403) and reasons & KEY_REJECTED_REASONS:
            self._reject_api_key()
            raise _ApiFallback
        if status == 429 or "rateLimitExceeded" in reasons:
            raise _Trouble(
                "rate_limited",
                parse_retry_after(response.headers.get("retry-after"), self._clock()),
            )
        raise _ApiFallback  # 5xx or anything odd: the free page check answers this time
