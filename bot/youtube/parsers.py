"""Reading what YouTube sends: watch and channel pages, the RSS feed, Data API bodies.

Pure functions of text or decoded JSON, no network: the client decides what to fetch, these
say what it means. Anything they can't read is "unknown" (or ``ValueError``), never "offline".
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.youtube.channel_input import is_channel_id
from bot.youtube.types import ApiVideo, FeedEntry, LivePage, TabEntry, VideoState

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
    return _extract_assigned_json(page, _PLAYER_RESPONSE_RE)


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


# Where these pages are documented (all read from public projects, not from any YouTube spec):
# * watch pages: ``ytInitialPlayerResponse`` with ``playabilityStatus``, ``videoDetails`` and
#   ``microformat.playerMicroformatRenderer.liveBroadcastDetails`` (yt-dlp
#   yt_dlp/extractor/youtube/_video.py; streamlink src/streamlink/plugins/youtube.py).
# * ``/live`` with two or more live or scheduled streams serves the channel's Live tab, not a
#   watch page (yt-dlp issue #7567: "Selected tab: 'streams' (live), Requested tab: 'live'").
#   Its ``ytInitialData`` lists ``richItemRenderer.content`` items, either ``videoRenderer``
#   (live: ``thumbnailOverlayTimeStatusRenderer.style == "LIVE"`` or a
#   ``BADGE_STYLE_TYPE_LIVE_NOW`` badge; upcoming: ``upcomingEventData.startTime``) or the newer
#   ``lockupViewModel`` (live: a ``THUMBNAIL_OVERLAY_BADGE_STYLE_LIVE`` thumbnail badge;
#   upcoming: a badge whose text is "Upcoming") - yt-dlp _tab.py ``_extract_video`` and
#   ``_extract_lockup_view_model``.
# * the bot wall: ``playabilityStatus`` ``LOGIN_REQUIRED`` with the reason "Sign in to confirm
#   you're not a bot" and no ``videoDetails`` (LuanRT/YouTube.js issue #1119, yt-dlp issues);
#   such pages carry ``<link rel="canonical" href="undefined">`` (zotonic/z_stdlib PR #104).
# * the inline consent page: "Before you continue to YouTube" with a form posting to
#   consent.youtube.com/save (yt-dlp _base.py consent handling, many scrapers' tests).
_INITIAL_DATA_RE = re.compile(r"""ytInitialData["'\]]*\s*=\s*""")
_INITIAL_DATA_OBJECT_RE = re.compile(r"""ytInitialData["'\]]*\s*=\s*\{""")
_PLAYER_OBJECT_RE = re.compile(r"""ytInitialPlayerResponse["'\]]*\s*=\s*\{""")
_PLAYER_PART_RES = tuple(
    (name, re.compile(rf'"{name}"\s*:\s*\{{'))
    for name in ("playabilityStatus", "videoDetails", "microformat")
)
_DECODER = json.JSONDecoder()
BOT_WALL_MARKERS = ("confirm you're not a bot", "confirm that you're not a bot")
CONSENT_MARKERS = ("consent.youtube.com/save", "before you continue to youtube")
# playabilityStatus values that hide the stream from anonymous visitors. LIVE_STREAM_OFFLINE
# (a waiting room) and OK are not gates.
GATED_STATUSES = frozenset(
    {
        "LOGIN_REQUIRED",
        "UNPLAYABLE",
        "ERROR",
        "AGE_CHECK_REQUIRED",
        "AGE_VERIFICATION_REQUIRED",
        "CONTENT_CHECK_REQUIRED",
    }
)


def _extract_assigned_json(page: str, assignment: re.Pattern[str]) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    for match in assignment.finditer(page):
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


def extract_initial_data(page: str) -> dict[str, Any] | None:
    """The ``ytInitialData`` object of a page (decoded like the player response)."""
    return _extract_assigned_json(page, _INITIAL_DATA_RE)


def _is_bot_wall(player: dict[str, Any] | None) -> bool:
    playability = _dig(player, "playabilityStatus")
    if not isinstance(playability, dict):
        return False
    texts = [playability.get("reason"), *(playability.get("messages") or [])]
    lowered = " ".join(t for t in texts if isinstance(t, str)).lower().replace("\u2019", "'")
    return any(marker in lowered for marker in BOT_WALL_MARKERS)


def looks_like_consent_page(page: str) -> bool:
    lowered = page[:200_000].lower()
    return any(marker in lowered for marker in CONSENT_MARKERS)


def parse_live_page(page: str) -> LivePage:
    """Decide live/upcoming/offline from a ``/live`` or watch page; "unknown" when unsure.

    Offline needs positive evidence: a channel page (the home page: nothing is live), a Live
    tab with nothing live or upcoming, or a watch page whose stream has ended (or that is no
    stream at all). A waiting room is "upcoming", never live. The bot wall and the consent page
    are "blocked"; a page that hides the stream (sign-in, age, members) is "gated".

    Only the parts that decide are decoded (``player_parts``, ``parse_channel_page``): about
    a millisecond of CPU less than the page's ~1 MB of JSON would cost to decode whole.
    """
    canonical = extract_canonical_url(page)
    if canonical is None or canonical == "undefined":
        # The bot wall's canonical link is "undefined" (see above): only such pages need it.
        if _is_bot_wall(extract_player_response(page)) or looks_like_consent_page(page):
            return LivePage("unknown", reason="blocked")
        return LivePage("unknown", reason="captcha" if looks_like_captcha(page) else "unparseable")
    parts = urlsplit(canonical)
    kind = _page_kind(parts.path)
    if kind == "channel":
        return parse_channel_page(page)
    if kind != "watch":
        return LivePage("unknown", reason="unparseable")
    player = player_parts(page)
    if _is_bot_wall(player):
        return LivePage("unknown", reason="blocked")
    canonical_ids = parse_qs(parts.query).get("v", [])
    return parse_player_response(player, canonical_ids[0] if canonical_ids else None)


def _url_path(url: str) -> str:
    """The path of an absolute or relative URL (RFC 3986's appendix B pattern): what
    ``urlsplit(url).path`` says, without its cost on every page the cutoff judges."""
    match = _URL_PATH_RE.match(url)
    return match.group(1) if match else ""


_URL_PATH_RE = re.compile(r"(?:[^:/?#]+:)?(?://[^/?#]*)?([^?#]*)")


def _page_kind(canonical_path: str) -> str | None:
    """What a canonical link's path says the page is: "channel", "watch" or None (odd)."""
    if canonical_path.startswith("/channel/") or canonical_path.startswith("/@"):
        return "channel"
    return "watch" if canonical_path == "/watch" else None


def player_parts(page: str) -> dict[str, Any] | None:
    """The members of ``ytInitialPlayerResponse`` that decide a watch page, and only those.

    ``playabilityStatus``, ``videoDetails`` and ``microformat`` are small; the rest of the
    object (stream formats, captions, storyboards, ads: most of its few hundred KB) is never
    decoded. Each member is found by its key, which JSON can't hold unescaped inside a string,
    within the object's script (a script ends at the first ``</script``); on real pages these
    names are top-level members only (yt-dlp and streamlink read them there: yt-dlp
    _video.py, streamlink plugins/youtube.py). When none of them is found this way, the whole
    object is decoded instead.
    """
    start = page.find("ytInitialPlayerResponse")
    if start < 0:
        return None
    found = _PLAYER_OBJECT_RE.search(page, start)
    if found is None:
        return None
    end = found.end()
    while (end := page.find("<", end + 1)) >= 0 and not page.startswith("</script", end):
        pass  # YouTube escapes "<" inside the object (\u003c): few to skip
    end = len(page) if end < 0 else end
    parts: dict[str, Any] = {}
    after = found.end()  # YouTube writes them in this order: each is looked for after the last
    try:
        for name, pattern in _PLAYER_PART_RES:
            key = f'"{name}":{{'
            at = page.find(key, after, end)
            if at < 0 and after > found.end():
                at = page.find(key, found.end(), after)
            if at < 0 and (member := pattern.search(page, found.end(), end)) is not None:
                at = member.start()  # spaced out: JSON allows it
            if at >= 0:
                parts[name], decoded_to = _DECODER.raw_decode(page, page.index("{", at))
                after = max(after, decoded_to)
    except ValueError:
        parts = {}
    return parts if parts else extract_player_response(page)


def parse_player_response(player: dict[str, Any] | None, canonical_id: str | None) -> LivePage:
    """A watch page's ``ytInitialPlayerResponse``: live, upcoming, offline, gated or unknown."""
    playability = _dig(player, "playabilityStatus")
    playability = playability if isinstance(playability, dict) else {}
    details = _dig(player, "videoDetails")
    broadcast = _dig(player, "microformat", "playerMicroformatRenderer", "liveBroadcastDetails")
    broadcast = broadcast if isinstance(broadcast, dict) else {}
    gated = playability.get("status") in GATED_STATUSES
    if not isinstance(details, dict):
        if gated:  # the page hides what it is; ending it would be a guess
            return LivePage("unknown", reason="gated", video_id=_valid_id(canonical_id))
        return LivePage("unknown", reason="unparseable")
    video_id = _valid_id(details.get("videoId")) or _valid_id(canonical_id)
    if video_id is None:
        return LivePage("unknown", reason="unparseable")
    title = details.get("title") if isinstance(details.get("title"), str) else None
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
    if gated:
        return LivePage(
            "unknown", reason="gated", video_id=video_id, title=title, is_premiere=is_premiere
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


def _valid_id(value: object) -> str | None:
    return value if isinstance(value, str) and VIDEO_ID_RE.fullmatch(value) else None


def parse_channel_page(page: str) -> LivePage:
    """A channel page at ``/live``: its Live tab (streams to look at) or its home (offline)."""
    try:
        tab = selected_tab_from_headers(page, with_content=True)
    except _Unsure:
        tab = _selected_tab(extract_initial_data(page))
    if tab is None or not _is_streams_tab(tab):
        return LivePage("offline")  # the home page: YouTube's answer when nothing is live
    entries = tuple(tab_entries(tab))
    upcoming = [e for e in entries if e.state == "upcoming"]
    if any(e.state == "live" for e in entries):
        return LivePage("unknown", reason="unconfirmed", entries=entries)
    if upcoming:
        first = min(upcoming, key=lambda e: e.scheduled_start or datetime.max.replace(tzinfo=UTC))
        return LivePage(
            "upcoming",
            video_id=first.video_id,
            title=first.title,
            scheduled_start=first.scheduled_start,
            entries=entries,
        )
    return LivePage("offline", entries=entries)


class _Unsure(Exception):
    """The fast reading of a page's tabs can't tell: decode the whole object instead."""


# ytInitialData of a channel page: ``contents.twoColumnBrowseResultsRenderer.tabs``, each tab
# ``{"tabRenderer": {"endpoint", "title", "selected", "content", "trackingParams"}}`` in that
# order, only the selected tab with a ``content`` (the types recorded from real pages in
# mjz19910/snippet_repo yt_json_types/TabData.ts; yt-dlp _tab.py ``_extract_selected_tab``).
TABS_MARKER = '"contents":{"twoColumnBrowseResultsRenderer":{"tabs":['
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def selected_tab_from_headers(page: str, *, with_content: bool) -> dict[str, Any] | None:
    """The selected tab of the channel page's ``ytInitialData``, read tab by tab.

    The selected tab's ``content`` (the bulk of a real page: the home page's shelves, the Live
    tab's items) is decoded only when that tab is the Live tab and ``with_content``; every
    other member of the object is never looked at. Returns the tab's members (None: no tab is
    selected). Raises ``_Unsure`` when the page isn't laid out as expected or ends too early:
    then only decoding the whole object can tell.
    """
    data = _INITIAL_DATA_OBJECT_RE.search(page, max(0, page.find("ytInitialData")))
    if data is None:
        raise _Unsure
    tabs = page.find(TABS_MARKER, data.end())
    # Inside the object's script? YouTube escapes "<" in these objects (\u003c), so any "<"
    # between (such as the script's end) leaves it to the whole decode.
    if tabs < 0 or page.find("<", data.end(), tabs) >= 0:
        raise _Unsure
    try:
        return _walk_tabs(page, tabs + len(TABS_MARKER), with_content)
    except (ValueError, IndexError):
        raise _Unsure from None


def _walk_tabs(text: str, at: int, with_content: bool) -> dict[str, Any] | None:
    """From just inside the ``tabs`` array: the first tab whose ``selected`` is true."""
    at = _skip_space(text, at)
    if text[at] == "]":
        return None
    while True:
        if text[at] != "{":
            raise ValueError("a tab that is not an object")
        key, at = _next_key(text, at + 1, first=True)
        while key is not None:
            if key == "tabRenderer" and text[at] == "{":
                tab, at = _tab_renderer(text, at, with_content)
                if tab is not None:
                    return tab
            else:
                _, at = _DECODER.raw_decode(text, at)
            key, at = _next_key(text, at, first=False)
        at = _skip_space(text, at)
        if text[at] == "]":
            return None
        if text[at] != ",":
            raise ValueError("tabs are not a list")
        at = _skip_space(text, at + 1)


def _tab_renderer(text: str, at: int, with_content: bool) -> tuple[dict[str, Any] | None, int]:
    """One ``tabRenderer`` (``text[at]`` is its brace): its members if it is the selected tab,
    read up to its ``content`` (decoded only for the Live tab)."""
    members: dict[str, Any] = {}
    key, at = _next_key(text, at + 1, first=True)
    while key is not None:
        if key == "content" and members.get("selected") is True and "endpoint" in members:
            if with_content and _is_streams_tab(members):
                members["content"], at = _DECODER.raw_decode(text, at)
            return members, at
        members[key], at = _DECODER.raw_decode(text, at)
        key, at = _next_key(text, at, first=False)
    return (members if members.get("selected") is True else None), at


def _skip_space(text: str, at: int) -> int:
    if at < len(text) and text[at] not in " \t\n\r":
        return at  # YouTube writes its JSON without spaces: no pattern to run
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def _next_key(text: str, at: int, *, first: bool) -> tuple[str | None, int]:
    """The next member's key and where its value starts; (None, after the brace) at the end."""
    at = _skip_space(text, at)
    if text[at] == "}":
        return None, at + 1
    if not first:
        if text[at] != ",":
            raise ValueError("members are not separated")
        at = _skip_space(text, at + 1)
    if text[at] != '"':
        raise ValueError("a key is not a string")
    key, at = _DECODER.raw_decode(text, at)
    at = _skip_space(text, at)
    if text[at] != ":":
        raise ValueError("a key without a value")
    return key, _skip_space(text, at + 1)


def _selected_tab(data: dict[str, Any] | None) -> dict[str, Any] | None:
    tabs = _dig(data, "contents", "twoColumnBrowseResultsRenderer", "tabs")
    for tab in tabs if isinstance(tabs, list) else []:
        renderer = _dig(tab, "tabRenderer")
        if isinstance(renderer, dict) and renderer.get("selected") is True:
            return renderer
    return None


def _is_streams_tab(tab: dict[str, Any]) -> bool:
    url = _dig(tab, "endpoint", "commandMetadata", "webCommandMetadata", "url")
    return isinstance(url, str) and url.rstrip("/").endswith("/streams")


def tab_entries(tab: dict[str, Any]) -> Iterable[TabEntry]:
    """The videos of a Live tab, in either shape YouTube serves."""
    contents = _dig(tab, "content", "richGridRenderer", "contents")
    for item in contents if isinstance(contents, list) else []:
        content = _dig(item, "richItemRenderer", "content")
        if not isinstance(content, dict):
            continue
        if isinstance(content.get("videoRenderer"), dict):
            entry = _video_renderer_entry(content["videoRenderer"])
        elif isinstance(content.get("lockupViewModel"), dict):
            entry = _lockup_entry(content["lockupViewModel"])
        else:
            continue
        if entry is not None:
            yield entry


def _text(value: object) -> str | None:
    if isinstance(value, dict):
        simple = value.get("simpleText")
        if isinstance(simple, str):
            return simple
        runs = value.get("runs")
        if isinstance(runs, list):
            return "".join(r.get("text", "") for r in runs if isinstance(r, dict)) or None
    return None


def _video_renderer_entry(renderer: dict[str, Any]) -> TabEntry | None:
    video_id = _valid_id(renderer.get("videoId"))
    if video_id is None:
        return None
    title = _text(renderer.get("title"))
    start = parse_timestamp(_dig(renderer, "upcomingEventData", "startTime"))
    if start is not None:
        return TabEntry(video_id, title, "upcoming", start)
    styles = {
        _dig(overlay, "thumbnailOverlayTimeStatusRenderer", "style")
        for overlay in renderer.get("thumbnailOverlays") or []
    }
    badges = {
        _dig(badge, "metadataBadgeRenderer", "style") for badge in renderer.get("badges") or []
    }
    if "LIVE" in styles or "BADGE_STYLE_TYPE_LIVE_NOW" in badges:
        return TabEntry(video_id, title, "live")
    if "UPCOMING" in styles:
        return TabEntry(video_id, title, "upcoming")
    return TabEntry(video_id, title, "other")


def _lockup_entry(model: dict[str, Any]) -> TabEntry | None:
    if model.get("contentType") != "LOCKUP_CONTENT_TYPE_VIDEO":
        return None
    video_id = _valid_id(model.get("contentId"))
    if video_id is None:
        return None
    title = _dig(model, "metadata", "lockupMetadataViewModel", "title", "content")
    title = title if isinstance(title, str) else None
    badges: list[dict[str, Any]] = []
    overlays = _dig(model, "contentImage", "thumbnailViewModel", "overlays")
    for overlay in overlays if isinstance(overlays, list) else []:
        for holder, key in (
            ("thumbnailOverlayBadgeViewModel", "thumbnailBadges"),
            ("thumbnailBottomOverlayViewModel", "badges"),
        ):
            for badge in _dig(overlay, holder, key) or []:
                if isinstance(view := _dig(badge, "thumbnailBadgeViewModel"), dict):
                    badges.append(view)
    if any(b.get("badgeStyle") == "THUMBNAIL_OVERLAY_BADGE_STYLE_LIVE" for b in badges):
        return TabEntry(video_id, title, "live")
    if any(str(b.get("text", "")).strip().lower() == "upcoming" for b in badges):
        return TabEntry(video_id, title, "upcoming")  # the lockup carries no start time
    return TabEntry(video_id, title, "other")


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


_CANONICAL_BYTES_RE = re.compile(
    rb"""<link\b[^>]*\brel\s*=\s*["']canonical["'][^>]*>""", re.IGNORECASE
)
_PLAYER_OBJECT_BYTES_RE = re.compile(rb"""ytInitialPlayerResponse["'\]]*\s*=\s*\{""")
_INITIAL_DATA_OBJECT_BYTES_RE = re.compile(rb"""ytInitialData["'\]]*\s*=\s*\{""")
_TABS_MARKER_BYTES = TABS_MARKER.encode()
_SCRIPT_END = b"</script"
_OVERLAP = 512  # longer than any of the patterns above can match across a chunk boundary
# The tabs' headers before the selected tab's content: a few KB on real pages.
TAB_HEADERS_WINDOW = 64 * 1024
_TAB_WINDOWS = (4 * 1024, TAB_HEADERS_WINDOW)


def _canonical_tag(body: bytes | bytearray, start: int) -> re.Match[bytes] | None:
    """The canonical link tag, found by its lowercase ``rel="canonical"`` as YouTube writes
    it. The head's tags are walked first: a search for "<" is a memchr, and the head holds few
    before its canonical link (its big scripts are JSON, with "<" escaped as \\u003c), where
    the literal's search crawls through ~160 KB of those scripts (60 µs a page, about a third
    of the whole cutoff: bench.load). After _TAGS_WALKED "<" (JavaScript in the head) the
    literal's search takes over. A page written otherwise is read whole and left to
    ``parse_live_page``."""
    at = body.find(b"<", start)
    for _ in range(_TAGS_WALKED):
        if at < 0:
            return None
        if body.startswith(b"<link", at):
            end = body.find(b">", at)
            if end < 0:
                return None  # the tag is not all in yet
            if body.find(b'rel="canonical"', at, end) >= 0:
                match = _CANONICAL_BYTES_RE.match(body, at)
                if match is not None:
                    return match
        at = body.find(b"<", at + 1)
    return _canonical_tag_by_literal(body, at) if at >= 0 else None


_TAGS_WALKED = 64


def _canonical_tag_by_literal(body: bytes | bytearray, start: int) -> re.Match[bytes] | None:
    at = body.find(b'rel="canonical"', start)
    if at < 0:
        return None
    link = body.rfind(b"<link", max(0, at - _OVERLAP), at)
    match = _CANONICAL_BYTES_RE.match(body, link) if link >= 0 else None
    return match if match is not None and match.end() > at else None


def _script_end(body: bytes | bytearray, start: int) -> int:
    """Where the first ``</script`` from ``start`` is (-1: none yet). Found by its "<", which
    YouTube escapes inside these scripts' JSON (\\u003c), so there are few to look at."""
    at = body.find(b"<", start)
    while at >= 0 and not body.startswith(_SCRIPT_END, at):
        at = body.find(b"<", at + 1)
    return at


class LivePageCutoff:
    """Says when enough of a ``/live`` or watch page has arrived for ``parse_live_page``.

    The canonical link (in the head) says which object decides: a watch page's
    ``ytInitialPlayerResponse``, a channel page's (home or Live tab) ``ytInitialData``. A
    channel page is decided as soon as its selected tab's header is in, when that tab is not
    the Live tab (the home page: offline, ``selected_tab_from_headers``). Otherwise the object
    is complete at the latest at the end of its script: HTML ends script text at the first
    ``</script``, so a literal one can't occur inside it
    (https://html.spec.whatwg.org/#script-data-state). What follows on a real page (hundreds of
    KB of shelves, player and configuration scripts) is never read. Each call scans only what
    arrived since the last one. Anything unexpected (no canonical link, a captcha or consent
    page) is read in full and left to ``parse_live_page``.
    """

    def __init__(self) -> None:
        self._canonical_from = 0
        self._decided_from = 0
        self._object_re: re.Pattern[bytes] | None = None
        self._object_name = b""
        self._object_from = 0
        self._object_at: int | None = None
        self._read_tabs = False
        self._tabs_from = 0
        self._tabs_at: int | None = None
        self._script_from = 0
        self._kind: str | None = None
        self._home_page = False

    def verdict(self) -> LivePage | None:
        """What ``parse_live_page`` says of the page this judge cut, when the judge already
        knows: the home page (nothing live) is offline. None: parse the page."""
        return LivePage("offline") if self._home_page else None

    def deciding_text(self, body: bytes | bytearray) -> str:
        """The page this judge cut, from its canonical link on: what ``parse_live_page``
        needs of it, without decoding and searching the head's scripts again (~160 KB on a
        real page; a third of a watch page's parse)."""
        return body[self._decided_from :].decode("utf-8", errors="replace")

    def __call__(self, body: bytes | bytearray) -> bool:
        if self._object_re is None:
            match = _canonical_tag(body, self._canonical_from)
            if match is None:
                self._canonical_from = max(0, len(body) - _OVERLAP)
                return False
            # The objects are in the body, after the head's canonical link: not searched for
            # through the head's scripts (were one before it, the page is read whole).
            self._object_from = match.end()
            self._decided_from = match.start()
            href = _HREF_RE.search(match.group(0).decode("utf-8", errors="replace"))
            self._kind = _page_kind(_url_path(html.unescape(href.group(1)))) if href else None
            if self._kind == "channel":
                self._object_re, self._object_name = _INITIAL_DATA_OBJECT_BYTES_RE, b"ytInitialData"
                self._read_tabs = True
            elif self._kind == "watch":
                self._object_re = _PLAYER_OBJECT_BYTES_RE
                self._object_name = b"ytInitialPlayerResponse"
            else:
                self._canonical_from = len(body)  # an odd page: parse_live_page will say so
                return False
        if self._object_at is None:
            name = body.find(self._object_name, self._object_from)  # a literal: found fast
            found = self._object_re.search(body, name) if name >= 0 else None
            if found is None:
                self._object_from = max(0, len(body) - _OVERLAP)
                return False
            self._object_at = self._tabs_from = self._script_from = found.end()
        if self._read_tabs and self._home_tab_selected(body, self._object_at):
            return True
        if _script_end(body, self._script_from) >= 0:
            return True
        self._script_from = max(self._object_at, len(body) - len(_SCRIPT_END))
        return False

    def _home_tab_selected(self, body: bytes | bytearray, object_at: int) -> bool:
        """True once the selected tab's header shows it is not the Live tab."""
        if self._tabs_at is None:
            at = body.find(_TABS_MARKER_BYTES, self._tabs_from)
            if at < 0:
                self._tabs_from = max(object_at, len(body) - len(_TABS_MARKER_BYTES))
                return False
            if body.find(b"<", object_at, at) >= 0:  # as selected_tab_from_headers has it
                self._read_tabs = False
                return False
            self._tabs_at = at
        for size in _TAB_WINDOWS:  # a few KB decide a real page: decode no more than needed
            window = body[self._tabs_at : self._tabs_at + size]
            try:
                tab = _walk_tabs(window.decode("utf-8", errors="replace"), len(TABS_MARKER), False)
                break
            except (ValueError, IndexError):  # cut short: a truncated window never decides
                if len(window) < size:
                    return False  # not all in yet
        else:
            self._read_tabs = False  # no header decides: the script's end does
            return False
        self._read_tabs = False
        self._home_page = tab is None or not _is_streams_tab(tab)
        return self._home_page
