"""A loopback YouTube: www.youtube.com pages and feeds, and the Data API under ``/youtube/v3``.

Tests point ``YOUTUBE_BASE_URL`` at ``emu.base_url`` and ``YOUTUBE_API_BASE_URL`` at
``emu.base_url + "/youtube/v3"``. Pages carry the same markers real ones do (canonical link,
``ytInitialPlayerResponse``, ``ytInitialData``), and the API answers with Google's JSON shapes,
including its error bodies, so the real client's parsing is what gets tested. The API key is
accepted as ``?key=`` or in the ``X-Goog-Api-Key`` header, as Google accepts both. Units are
charged like Google's (videos/channels 1, search 100) into ``units_used``; past
``daily_quota`` calls get 403 quotaExceeded.

A scenario is a few control calls::

    emu.add_channel("UC...", handle="onairpod")
    emu.schedule_stream("UC...", "vid00000001", "Episode 12", scheduled_start=soon)
    emu.start_stream("vid00000001")
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.emulators.base import LoopbackEmulator

PUBLIC_ORIGIN = "https://www.youtube.com"
MAX_IDS_PER_CALL = 50
UNIT_COST = {"videos": 1, "channels": 1, "search": 100}
CAPTCHA_TEXT = (
    "Our systems have detected unusual traffic from your computer network. This page checks to "
    "see if it's really you sending the requests, and not a robot."
)


# The inline EU consent page, as scrapers' tests record it: a 200 with a form that posts to
# consent.youtube.com/save (and no ytInitialData at all).
CONSENT_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><title>Before you continue to YouTube</title></head>'
    '<body><form action="https://consent.youtube.com/save" method="POST" style="display:inline;">'
    '<input type="hidden" name="gl" value="DE"><input type="hidden" name="set_eom" value="true">'
    '<input type="hidden" name="continue" value="https://www.youtube.com/">'
    '<button aria-label="Reject all">Reject all</button></form>'
    '<form action="https://consent.youtube.com/save" method="POST">'
    '<button aria-label="Accept all">Accept all</button></form></body></html>'
)
GATES = {
    "login": ("LOGIN_REQUIRED", "This video is private"),
    "age": ("LOGIN_REQUIRED", "Sign in to confirm your age"),
    "members": (
        "UNPLAYABLE",
        "Join this channel to get access to members-only content like this video, and other "
        "exclusive perks.",
    ),
    "error": ("ERROR", "Video unavailable"),
}


@dataclasses.dataclass
class EmulatedChannel:
    channel_id: str
    handle: str | None
    title: str
    custom_name: str | None = None
    username: str | None = None


@dataclasses.dataclass
class EmulatedVideo:
    """One video; a stream when ``is_stream`` (premieres are streams too, as in the API)."""

    video_id: str
    channel_id: str
    title: str
    published: datetime
    is_stream: bool = False
    premiere: bool = False
    scheduled_start: datetime | None = None
    actual_start: datetime | None = None
    actual_end: datetime | None = None
    # None, or what hides the video from anonymous visitors: "login", "age", "members", "error"
    gate: str | None = None

    @property
    def is_live(self) -> bool:
        return self.is_stream and self.actual_start is not None and self.actual_end is None

    @property
    def is_upcoming(self) -> bool:
        return self.is_stream and self.actual_start is None and self.actual_end is None

    @property
    def broadcast_content(self) -> str:
        if self.is_live:
            return "live"
        if self.is_upcoming:
            return "upcoming"
        return "none"


def _iso(moment: datetime) -> str:
    """RFC 3339 with a Z, as the Data API writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page_iso(moment: datetime) -> str:
    """The offset form that watch-page microformat uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element, escaped the way YouTube escapes it."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")


def google_error(code: int, message: str, reason: str, domain: str, status: str) -> dict[str, Any]:
    """The error envelope Google APIs return."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status,
        }
    }


class YouTubeEmulator(LoopbackEmulator):
    """Channel pages, ``/live`` pages, RSS feeds and the Data API, driven by control calls."""

    def __init__(
        self,
        api_key: str = "test-youtube-key",
        daily_quota: int = 10_000,
        feed_limit: int = 15,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.api_key = api_key
        self.daily_quota = daily_quota
        self.units_used = 0
        self.feed_limit = feed_limit
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.channels: dict[str, EmulatedChannel] = {}
        self.videos: dict[str, EmulatedVideo] = {}
        self._consent_wall = False
        self._consent_accepts_socs = False
        self._captcha_wall = False
        self._bot_wall = False
        self._consent_page = False
        self.tab_shape = "videoRenderer"  # or "lockupViewModel", YouTube's newer tab items
        self.related_videos = 0  # watch-page recommendations, to make pages real-sized
        self.stream_formats = 0  # streamingData formats in the player response, likewise
        # How long a new video takes to show in the RSS feed (the real one lags by minutes).
        self.feed_delay = timedelta(0)
        super().__init__()

    # ----- control API -------------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        handle: str | None = None,
        title: str = "OnAir Test Podcast",
        custom_name: str | None = None,
        username: str | None = None,
    ) -> EmulatedChannel:
        channel = EmulatedChannel(
            channel_id=channel_id,
            handle=handle.lstrip("@") if handle else None,
            title=title,
            custom_name=custom_name,
            username=username,
        )
        self.channels[channel_id] = channel
        return channel

    def add_upload(
        self, channel_id: str, video_id: str, title: str, published: datetime | None = None
    ) -> EmulatedVideo:
        """A plain (non-live) upload that shows up in the feed."""
        return self._add_video(
            EmulatedVideo(
                video_id=video_id,
                channel_id=channel_id,
                title=title,
                published=published or self.clock(),
            )
        )

    def schedule_stream(
        self,
        channel_id: str,
        video_id: str,
        title: str,
        scheduled_start: datetime,
        premiere: bool = False,
    ) -> EmulatedVideo:
        """A waiting room: listed in the feed and on ``/live``, but not started."""
        return self._add_video(
            EmulatedVideo(
                video_id=video_id,
                channel_id=channel_id,
                title=title,
                published=self.clock(),
                is_stream=True,
                premiere=premiere,
                scheduled_start=scheduled_start,
            )
        )

    def start_stream(self, video_id: str, started_at: datetime | None = None) -> EmulatedVideo:
        video = self.videos[video_id]
        video.actual_start = started_at or self.clock()
        video.actual_end = None
        return video

    def end_stream(self, video_id: str, ended_at: datetime | None = None) -> EmulatedVideo:
        video = self.videos[video_id]
        if video.actual_start is None:
            video.actual_start = ended_at or self.clock()
        video.actual_end = ended_at or self.clock()
        return video

    def go_live(
        self,
        channel_id: str,
        video_id: str,
        title: str,
        started_at: datetime | None = None,
        premiere: bool = False,
    ) -> EmulatedVideo:
        """Shortcut: a stream that is live right now (unscheduled, as from OBS)."""
        started = started_at or self.clock()
        self.schedule_stream(
            channel_id, video_id, title, scheduled_start=started, premiere=premiere
        )
        return self.start_stream(video_id, started_at=started)

    def consent_wall(self, enabled: bool = True, accept_socs: bool = False) -> None:
        """Redirect HTML pages to consent.youtube.com, as YouTube does for EU visitors.

        With ``accept_socs`` a request carrying a ``SOCS`` cookie passes, like the real site.
        """
        self._consent_wall = enabled
        self._consent_accepts_socs = accept_socs

    def captcha_wall(self, enabled: bool = True) -> None:
        """Answer HTML pages with the "unusual traffic" interstitial instead of content."""
        self._captcha_wall = enabled

    def bot_wall(self, enabled: bool = True) -> None:
        """Answer /live and watch pages with "Sign in to confirm you're not a bot"."""
        self._bot_wall = enabled

    def consent_page(self, enabled: bool = True) -> None:
        """Answer HTML pages with the inline "Before you continue to YouTube" page (200)."""
        self._consent_page = enabled

    def gate(self, video_id: str, gate: str | None) -> EmulatedVideo:
        """Hide a video from anonymous visitors: "login", "age", "members" or "error"."""
        video = self.videos[video_id]
        video.gate = gate
        return video

    def reset_quota(self) -> None:
        """What midnight Pacific time does to the real quota."""
        self.units_used = 0

    def api_calls(self, resource: str) -> list[dict[str, str]]:
        """Query strings of every Data API call to ``resource`` (``videos``, ``channels``...)."""
        path = f"/youtube/v3/{resource}"
        return [r.query for r in self.requests if r.path == path]

    def _add_video(self, video: EmulatedVideo) -> EmulatedVideo:
        if not re.fullmatch(r"[A-Za-z0-9_-]{11}", video.video_id):
            raise ValueError(f"YouTube video ids are 11 characters: {video.video_id!r}")
        if video.channel_id not in self.channels:
            raise KeyError(f"add_channel({video.channel_id!r}) first")
        self.videos[video.video_id] = video
        return video

    # ----- routes ------------------------------------------------------------------------------

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/channel/{channel_id}/live", self._live_page)
        router.add_get("/watch", self._watch_page)
        router.add_get("/channel/{channel_id}", self._channel_by_id)
        router.add_get("/@{handle}", self._channel_by_handle)
        router.add_get("/c/{name}", self._channel_by_custom_name)
        router.add_get("/user/{name}", self._channel_by_username)
        router.add_get("/feeds/videos.xml", self._feed)
        router.add_get("/youtube/v3/videos", self._api_videos)
        router.add_get("/youtube/v3/channels", self._api_channels)
        router.add_get("/youtube/v3/search", self._api_search)

    def _wall(self, request: web.Request) -> web.Response | None:
        """The consent redirect or captcha page, when switched on."""
        if self._consent_wall and not (self._consent_accepts_socs and "SOCS" in request.cookies):
            original = PUBLIC_ORIGIN + request.path_qs
            location = (
                "https://consent.youtube.com/m?continue="
                + quote(original, safe="")
                + "&gl=DE&m=0&pc=yt&cm=2&hl=en&src=1"
            )
            return web.Response(status=302, headers={"Location": location})
        if self._captcha_wall:
            body = (
                "<!DOCTYPE html><html><head><title>https://www.youtube.com/</title></head><body>"
                '<div id="infoDiv">' + CAPTCHA_TEXT + "</div>"
                '<form id="captcha-form" action="index" method="post">'
                '<div class="g-recaptcha" data-sitekey="6LfwuyUTAAAAAOAmoS0fdqijC2PbbdH4kjq62Y1b">'
                "</div></form></body></html>"
            )
            return web.Response(status=200, text=body, content_type="text/html")
        if self._consent_page:
            return self._html(CONSENT_PAGE)
        return None

    async def _live_page(self, request: web.Request) -> web.Response:
        if (wall := self._wall(request)) is not None:
            return wall
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            return self._not_found()
        if self._bot_wall:
            return self._html(self._bot_wall_html())
        on_air = self._live_or_upcoming(channel.channel_id)
        if len(on_air) >= 2:
            return self._html(self._channel_page_html(channel, streams_tab=True))
        if on_air:
            return self._html(self._watch_page_html(channel, on_air[0]))
        return self._html(self._channel_page_html(channel))

    async def _watch_page(self, request: web.Request) -> web.Response:
        """Any video's own page; an id YouTube doesn't know is a 200 "Video unavailable"."""
        if (wall := self._wall(request)) is not None:
            return wall
        if self._bot_wall:
            return self._html(self._bot_wall_html())
        video = self.videos.get(request.query.get("v", ""))
        if video is None:
            return self._html(self._unavailable_html())
        return self._html(self._watch_page_html(self.channels[video.channel_id], video))

    async def _channel_by_id(self, request: web.Request) -> web.Response:
        return self._channel_response(request, self.channels.get(request.match_info["channel_id"]))

    async def _channel_by_handle(self, request: web.Request) -> web.Response:
        handle = request.match_info["handle"].lower()
        found = next(
            (c for c in self.channels.values() if c.handle and c.handle.lower() == handle), None
        )
        return self._channel_response(request, found)

    async def _channel_by_custom_name(self, request: web.Request) -> web.Response:
        name = request.match_info["name"].lower()
        found = next(
            (c for c in self.channels.values() if (c.custom_name or "").lower() == name), None
        )
        return self._channel_response(request, found)

    async def _channel_by_username(self, request: web.Request) -> web.Response:
        """Legacy /user/ links: like the real site, an absolute redirect to the @handle page."""
        if (wall := self._wall(request)) is not None:
            return wall
        name = request.match_info["name"].lower()
        found = next(
            (c for c in self.channels.values() if (c.username or "").lower() == name), None
        )
        if found is not None and found.handle:
            return web.Response(
                status=301, headers={"Location": f"{PUBLIC_ORIGIN}/@{quote(found.handle)}"}
            )
        return self._channel_response(request, found)

    def _channel_response(
        self, request: web.Request, channel: EmulatedChannel | None
    ) -> web.Response:
        if (wall := self._wall(request)) is not None:
            return wall
        if channel is None:
            return self._not_found()
        return self._html(self._channel_page_html(channel))

    async def _feed(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.query.get("channel_id", ""))
        if channel is None:
            return web.Response(status=404, text="Error 404 (Not Found)", content_type="text/html")
        listed_before = self.clock() - self.feed_delay
        videos = sorted(
            (
                v
                for v in self.videos.values()
                if v.channel_id == channel.channel_id and v.published <= listed_before
            ),
            key=lambda v: v.published,
            reverse=True,
        )[: self.feed_limit]
        return web.Response(
            status=200,
            text=self._feed_xml(channel, videos),
            content_type="application/atom+xml",
            charset="utf-8",
        )

    async def _api_videos(self, request: web.Request) -> web.Response:
        if (refusal := self._api_gate(request, "videos")) is not None:
            return refusal
        ids = [i for i in request.query.get("id", "").split(",") if i]
        if len(ids) > MAX_IDS_PER_CALL:
            return self._json(
                google_error(
                    400,
                    "The request specifies an invalid filter parameter.",
                    "invalidFilters",
                    "youtube.parameter",
                    "INVALID_ARGUMENT",
                ),
                status=400,
            )
        self.units_used += UNIT_COST["videos"]
        parts = set(request.query.get("part", "").split(","))
        items = [self._video_resource(self.videos[i], parts) for i in ids if i in self.videos]
        return self._json(
            {
                "kind": "youtube#videoListResponse",
                "etag": "emulated-etag",
                "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            }
        )

    async def _api_channels(self, request: web.Request) -> web.Response:
        if (refusal := self._api_gate(request, "channels")) is not None:
            return refusal
        self.units_used += UNIT_COST["channels"]
        found: list[EmulatedChannel] = []
        if handle := request.query.get("forHandle"):
            wanted = handle.lstrip("@").lower()
            found = [c for c in self.channels.values() if (c.handle or "").lower() == wanted]
        elif username := request.query.get("forUsername"):
            found = [
                c for c in self.channels.values() if (c.username or "").lower() == username.lower()
            ]
        elif ids := request.query.get("id"):
            found = [self.channels[i] for i in ids.split(",") if i in self.channels]
        body: dict[str, Any] = {
            "kind": "youtube#channelListResponse",
            "etag": "emulated-etag",
            "pageInfo": {"totalResults": len(found), "resultsPerPage": 5},
        }
        if found:  # like Google, an empty result has no "items" key at all
            body["items"] = [
                {"kind": "youtube#channel", "etag": "emulated-etag", "id": c.channel_id}
                for c in found
            ]
        return self._json(body)

    async def _api_search(self, request: web.Request) -> web.Response:
        """Exists only so tests can assert the client never spends 100 units here."""
        if (refusal := self._api_gate(request, "search")) is not None:
            return refusal
        self.units_used += UNIT_COST["search"]
        return self._json(
            {
                "kind": "youtube#searchListResponse",
                "etag": "emulated-etag",
                "regionCode": "US",
                "pageInfo": {"totalResults": 0, "resultsPerPage": 5},
                "items": [],
            }
        )

    def _api_gate(self, request: web.Request, resource: str) -> web.Response | None:
        """Key check, then quota check, answering with Google's error bodies."""
        key = request.query.get("key") or request.headers.get("X-Goog-Api-Key")
        if not key:
            return self._json(
                google_error(
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity to call "
                    "this API.",
                    "forbidden",
                    "global",
                    "PERMISSION_DENIED",
                ),
                status=403,
            )
        if key != self.api_key:
            body = google_error(
                400,
                "API key not valid. Please pass a valid API key.",
                "keyInvalid",
                "usageLimits",
                "INVALID_ARGUMENT",
            )
            body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "youtube.googleapis.com"},
                }
            ]
            return self._json(body, status=400)
        if self.units_used + UNIT_COST[resource] > self.daily_quota:
            return self._json(
                google_error(
                    403,
                    'The request cannot be completed because you have exceeded your <a href="/'
                    'youtube/v3/getting-started#quota">quota</a>.',
                    "quotaExceeded",
                    "youtube.quota",
                    "PERMISSION_DENIED",
                ),
                status=403,
            )
        return None

    # ----- rendering ---------------------------------------------------------------------------

    def _live_or_upcoming(self, channel_id: str) -> list[EmulatedVideo]:
        """What decides /live: public streams live now (newest first), then waiting rooms.

        Members-only streams never show at /live, as on the real site.
        """
        streams = [
            v
            for v in self.videos.values()
            if v.channel_id == channel_id and v.is_stream and v.gate != "members"
        ]
        live = sorted(
            (v for v in streams if v.is_live),
            key=lambda v: v.actual_start or v.published,
            reverse=True,
        )
        upcoming = sorted(
            (v for v in streams if v.is_upcoming), key=lambda v: v.scheduled_start or v.published
        )
        return live + upcoming

    def _video_resource(self, video: EmulatedVideo, parts: set[str]) -> dict[str, Any]:
        resource: dict[str, Any] = {"kind": "youtube#video", "etag": "emulated-etag"}
        resource["id"] = video.video_id
        if "snippet" in parts:
            channel = self.channels[video.channel_id]
            resource["snippet"] = {
                "publishedAt": _iso(video.published),
                "channelId": video.channel_id,
                "title": video.title,
                "description": "",
                "thumbnails": {},
                "channelTitle": channel.title,
                "categoryId": "22",
                "liveBroadcastContent": video.broadcast_content,
                "localized": {"title": video.title, "description": ""},
            }
        if "liveStreamingDetails" in parts and video.is_stream:
            details: dict[str, str] = {}
            if video.actual_start is not None:
                details["actualStartTime"] = _iso(video.actual_start)
            if video.actual_end is not None:
                details["actualEndTime"] = _iso(video.actual_end)
            if video.scheduled_start is not None:
                details["scheduledStartTime"] = _iso(video.scheduled_start)
            if video.is_live:
                details["concurrentViewers"] = "42"
                details["activeLiveChatId"] = "Cg0KC" + video.video_id
            resource["liveStreamingDetails"] = details
        return resource

    def _player_response(self, video: EmulatedVideo) -> dict[str, Any]:
        details: dict[str, Any] = {
            "videoId": video.video_id,
            "title": video.title,
            "lengthSeconds": "0",
            "channelId": video.channel_id,
            "isOwnerViewing": False,
            "shortDescription": "",
            "isCrawlable": True,
            "isLiveContent": not video.premiere,
            "author": self.channels[video.channel_id].title,
            "isPrivate": False,
            "allowRatings": True,
        }
        broadcast: dict[str, Any] = {"isLiveNow": video.is_live}
        playability: dict[str, Any] = {"status": "OK", "playableInEmbed": True}
        if video.is_upcoming:
            details["isUpcoming"] = True
            scheduled = video.scheduled_start or video.published
            broadcast["startTimestamp"] = _page_iso(scheduled)
            playability = {
                "status": "LIVE_STREAM_OFFLINE",
                "reason": "Premieres soon" if video.premiere else "Live stream offline",
                "playableInEmbed": True,
                "liveStreamability": {
                    "liveStreamabilityRenderer": {
                        "videoId": video.video_id,
                        "offlineSlate": {
                            "liveStreamOfflineSlateRenderer": {
                                "scheduledStartTime": str(int(scheduled.timestamp())),
                                "mainText": {"runs": [{"text": "Live in "}, {"text": "soon"}]},
                            }
                        },
                        "pollDelayMs": "15000",
                    }
                },
            }
        elif video.is_live:
            details["isLive"] = True
            broadcast["startTimestamp"] = _page_iso(video.actual_start or video.published)
            playability["liveStreamability"] = {
                "liveStreamabilityRenderer": {"videoId": video.video_id, "pollDelayMs": "15000"}
            }
        elif video.is_stream:
            broadcast["startTimestamp"] = _page_iso(video.actual_start or video.published)
            broadcast["endTimestamp"] = _page_iso(video.actual_end or video.published)
        microformat: dict[str, Any] = {
            "title": {"simpleText": video.title},
            "ownerProfileUrl": f"{PUBLIC_ORIGIN}/channel/{video.channel_id}",
            "externalChannelId": video.channel_id,
            "isFamilySafe": video.gate != "age",
            "publishDate": _page_iso(video.published),
        }
        if video.is_stream:  # plain uploads have no liveBroadcastDetails
            microformat["liveBroadcastDetails"] = broadcast
        formats = [
            {
                "itag": 136 + n % 8,
                "url": f"https://rr1---sn-emulated.googlevideo.com/videoplayback?expire=1&id={n}"
                + "&sparams=expire%2Cei%2Cip%2Cid%2Caitags%2Csource%2Crequiressl" * 4,
                "mimeType": 'video/mp4; codecs="avc1.4d401f"',
                "bitrate": 1_000_000 + n,
                "width": 1280,
                "height": 720,
                "targetDurationSec": 2,
                "qualityLabel": "720p",
            }
            for n in range(self.stream_formats)
        ]
        response: dict[str, Any] = {
            "responseContext": {"serviceTrackingParams": [{"service": "CSI", "params": []}]},
            "playabilityStatus": playability,
            "videoDetails": details,
            "microformat": {"playerMicroformatRenderer": microformat},
        }
        if formats:
            response["streamingData"] = {"expiresInSeconds": "21540", "adaptiveFormats": formats}
        if video.gate is not None:
            # Gated pages: the status and reason yt-dlp's _video.py reports for each case.
            # Private/sign-in and removed videos keep no details; age and members gates keep
            # the microformat (so an ended stream still shows its end time).
            status, reason = GATES[video.gate]
            response["playabilityStatus"] = {
                "status": status,
                "reason": reason,
                "errorScreen": {"playerErrorMessageRenderer": {"reason": {"simpleText": reason}}},
            }
            if video.gate in ("login", "error"):
                del response["videoDetails"], response["microformat"]
            else:
                details.pop("isLive", None)
                details.pop("isUpcoming", None)
        return response

    def _watch_page_html(self, channel: EmulatedChannel, video: EmulatedVideo) -> str:
        watch_url = f"{PUBLIC_ORIGIN}/watch?v={video.video_id}"
        title = html.escape(video.title)
        initial_data = {
            "contents": {
                "twoColumnWatchNextResults": {
                    "results": {"results": {"contents": []}},
                    "secondaryResults": {
                        "secondaryResults": {"results": self._related(video, self.related_videos)}
                    },
                }
            },
            "currentVideoEndpoint": {"watchEndpoint": {"videoId": video.video_id}},
        }
        return (
            '<!DOCTYPE html><html style="font-size: 10px" lang="en" system-icons typography>'
            '<head><meta http-equiv="origin-trial" content="AAAA">'
            '<script nonce="n0nce">var ytcfg={d:function(){return window.ytcfg.data_||{}}};'
            'window["ytInitialPlayerResponse"] = null;</script>'
            f"<title>{title} - YouTube</title>"
            f'<meta name="title" content="{title}">'
            f'<link rel="canonical" href="{watch_url}">'
            f'<meta property="og:url" content="{watch_url}">'
            f'<meta itemprop="identifier" content="{video.video_id}">'
            '</head><body dir="ltr"><div id="player"></div>'
            '<script nonce="n0nce">var ytInitialPlayerResponse = '
            + _script_json(self._player_response(video))
            + ";var meta = document.createElement('meta'); meta.name = 'referrer';"
            " if (window.ytcsi) {window.ytcsi.tick('pdr', null, '');}</script>"
            '<script nonce="n0nce">var ytInitialData = '
            + _script_json(initial_data)
            + ";</script></body></html>"
        )

    def _channel_page_html(self, channel: EmulatedChannel, streams_tab: bool = False) -> str:
        """The channel's home page, or its Live ("streams") tab: what /live serves when two or
        more streams are live or scheduled. Both have the canonical /channel/UC… link."""
        channel_url = f"{PUBLIC_ORIGIN}/channel/{channel.channel_id}"
        title = html.escape(channel.title)
        vanity = f"http://www.youtube.com/@{channel.handle}" if channel.handle else channel_url
        base = f"/@{channel.handle}" if channel.handle else f"/channel/{channel.channel_id}"

        def tab(name: str, path: str, selected: bool, content: dict[str, Any] | None) -> Any:
            renderer: dict[str, Any] = {
                "endpoint": {
                    "commandMetadata": {
                        "webCommandMetadata": {
                            "url": base + path,
                            "webPageType": "WEB_PAGE_TYPE_CHANNEL",
                            "rootVe": 3611,
                        }
                    },
                    "browseEndpoint": {
                        "browseId": channel.channel_id,
                        "params": "EgZ2aWRlb3PyBgQKAjoA",
                    },
                },
                "title": name,
                "selected": selected,
            }
            if content is not None:
                renderer["content"] = content
            return {"tabRenderer": renderer}

        streams = sorted(
            (
                v
                for v in self.videos.values()
                if v.channel_id == channel.channel_id and v.is_stream and v.gate != "members"
            ),
            key=lambda v: (
                v.is_live,
                v.is_upcoming,
                v.actual_start or v.scheduled_start or v.published,
            ),
            reverse=True,
        )
        home_content = {"sectionListRenderer": {"contents": [], "targetId": "browse-feedUC"}}
        live_content = {
            "richGridRenderer": {
                "contents": [self._tab_item(v) for v in streams],
                "style": "RICH_GRID_RENDERER_STYLE_TAB_STREAMS",
            }
        }
        initial_data = {
            "contents": {
                "twoColumnBrowseResultsRenderer": {
                    "tabs": [
                        tab(
                            "Home",
                            "/featured",
                            not streams_tab,
                            None if streams_tab else home_content,
                        ),
                        tab("Videos", "/videos", False, None),
                        tab("Live", "/streams", streams_tab, live_content if streams_tab else None),
                    ]
                }
            },
            "metadata": {
                "channelMetadataRenderer": {
                    "title": channel.title,
                    "description": "",
                    "externalId": channel.channel_id,
                    "channelUrl": channel_url,
                    "vanityChannelUrl": vanity,
                    "isFamilySafe": True,
                }
            },
            "header": {"pageHeaderRenderer": {"pageTitle": channel.title}},
        }
        return (
            '<!DOCTYPE html><html style="font-size: 10px" lang="en" system-icons typography>'
            f"<head><title>{title} - YouTube</title>"
            f'<link rel="canonical" href="{channel_url}">'
            f'<meta property="og:url" content="{channel_url}">'
            f'<meta itemprop="identifier" content="{channel.channel_id}">'
            f'<link rel="alternate" type="application/rss+xml" title="RSS" '
            f'href="{PUBLIC_ORIGIN}/feeds/videos.xml?channel_id={channel.channel_id}">'
            '</head><body dir="ltr">'
            '<script nonce="n0nce">var ytInitialData = '
            + _script_json(initial_data)
            + ";</script></body></html>"
        )

    def _tab_item(self, video: EmulatedVideo) -> dict[str, Any]:
        """One Live-tab item in the shape ``tab_shape`` says (see bot/youtube/parsers.py for
        where both shapes are documented)."""
        watch = {
            "commandMetadata": {
                "webCommandMetadata": {
                    "url": f"/watch?v={video.video_id}",
                    "webPageType": "WEB_PAGE_TYPE_WATCH",
                    "rootVe": 3832,
                }
            },
            "watchEndpoint": {"videoId": video.video_id},
        }
        thumbnail = {
            "thumbnails": [
                {
                    "url": f"https://i.ytimg.com/vi/{video.video_id}/hqdefault.jpg",
                    "width": 480,
                    "height": 270,
                }
            ]
        }
        if self.tab_shape == "lockupViewModel":
            if video.is_live:
                badge = {"text": "LIVE", "badgeStyle": "THUMBNAIL_OVERLAY_BADGE_STYLE_LIVE"}
                line = "42 watching"
            elif video.is_upcoming:
                badge = {"text": "Upcoming", "badgeStyle": "THUMBNAIL_OVERLAY_BADGE_STYLE_DEFAULT"}
                line = "Scheduled"
            else:
                badge = {"text": "1:02:03", "badgeStyle": "THUMBNAIL_OVERLAY_BADGE_STYLE_DEFAULT"}
                line = "Streamed 2 days ago"
            return {
                "richItemRenderer": {
                    "content": {
                        "lockupViewModel": {
                            "contentImage": {
                                "thumbnailViewModel": {
                                    "image": {"sources": thumbnail["thumbnails"]},
                                    "overlays": [
                                        {
                                            "thumbnailOverlayBadgeViewModel": {
                                                "thumbnailBadges": [
                                                    {"thumbnailBadgeViewModel": badge}
                                                ],
                                                "position": "THUMBNAIL_OVERLAY_BADGE_POSITION_BOTTOM_END",
                                            }
                                        }
                                    ],
                                }
                            },
                            "metadata": {
                                "lockupMetadataViewModel": {
                                    "title": {"content": video.title},
                                    "metadata": {
                                        "contentMetadataViewModel": {
                                            "metadataRows": [
                                                {"metadataParts": [{"text": {"content": line}}]}
                                            ]
                                        }
                                    },
                                }
                            },
                            "contentId": video.video_id,
                            "contentType": "LOCKUP_CONTENT_TYPE_VIDEO",
                            "rendererContext": {
                                "commandContext": {"onTap": {"innertubeCommand": watch}}
                            },
                        }
                    }
                }
            }
        renderer: dict[str, Any] = {
            "videoId": video.video_id,
            "thumbnail": thumbnail,
            "title": {"runs": [{"text": video.title}]},
            "navigationEndpoint": watch,
        }
        if video.is_live:
            renderer["badges"] = [
                {"metadataBadgeRenderer": {"style": "BADGE_STYLE_TYPE_LIVE_NOW", "label": "LIVE"}}
            ]
            renderer["viewCountText"] = {"runs": [{"text": "42"}, {"text": " watching"}]}
            renderer["thumbnailOverlays"] = [
                {
                    "thumbnailOverlayTimeStatusRenderer": {
                        "text": {"runs": [{"text": "LIVE"}]},
                        "style": "LIVE",
                    }
                }
            ]
        elif video.is_upcoming:
            start = video.scheduled_start or video.published
            renderer["upcomingEventData"] = {
                "startTime": str(int(start.timestamp())),
                "isReminderSet": False,
                "upcomingEventText": {
                    "runs": [{"text": "Scheduled for "}, {"text": "DATE_PLACEHOLDER"}]
                },
            }
            renderer["thumbnailOverlays"] = [
                {
                    "thumbnailOverlayTimeStatusRenderer": {
                        "text": {"runs": [{"text": "UPCOMING"}]},
                        "style": "UPCOMING",
                    }
                }
            ]
        else:
            renderer["publishedTimeText"] = {"simpleText": "Streamed 2 days ago"}
            renderer["lengthText"] = {"simpleText": "1:02:03"}
            renderer["thumbnailOverlays"] = [
                {
                    "thumbnailOverlayTimeStatusRenderer": {
                        "text": {"simpleText": "1:02:03"},
                        "style": "DEFAULT",
                    }
                }
            ]
        return {"richItemRenderer": {"content": {"videoRenderer": renderer}}}

    @staticmethod
    def _related(video: EmulatedVideo, count: int) -> list[dict[str, Any]]:
        """Recommendations beside the player: most of a real watch page's weight."""
        return [
            {
                "compactVideoRenderer": {
                    "videoId": f"rel{n:08d}",
                    "thumbnail": {
                        "thumbnails": [
                            {
                                "url": f"https://i.ytimg.com/vi/rel{n:08d}/hqdefault.jpg?sqp=-oaymwEjCNACELwBSFryq4qpAxUIARUAAAAAGAElAADIQj0AgKJDeAE=&rs=AOn4CLD{n:012d}",
                                "width": 168,
                                "height": 94,
                            }
                        ]
                    },
                    "title": {"simpleText": f"Recommended video {n} after {video.title}"},
                    "longBylineText": {"runs": [{"text": f"Some Channel {n}"}]},
                    "publishedTimeText": {"simpleText": f"{n % 12 + 1} months ago"},
                    "viewCountText": {"simpleText": f"{n * 1013:,} views"},
                    "lengthText": {"simpleText": f"{n % 50}:{n % 60:02d}"},
                    "navigationEndpoint": {
                        "commandMetadata": {
                            "webCommandMetadata": {"url": f"/watch?v=rel{n:08d}", "rootVe": 3832}
                        },
                        "watchEndpoint": {"videoId": f"rel{n:08d}", "nofollow": True},
                    },
                    "trackingParams": "CKgBEKQwGAAiEwj" + "x" * 80,
                }
            }
            for n in range(count)
        ]

    def _bot_wall_html(self) -> str:
        """The anti-bot page: a player response with only the refusal, canonical "undefined"."""
        reason = "Sign in to confirm you\u2019re not a bot"
        player = {
            "responseContext": {"serviceTrackingParams": [{"service": "CSI", "params": []}]},
            "playabilityStatus": {
                "status": "LOGIN_REQUIRED",
                "reason": reason,
                "messages": [reason + ". This helps protect our community."],
                "errorScreen": {"playerErrorMessageRenderer": {"reason": {"simpleText": reason}}},
            },
        }
        return (
            '<!DOCTYPE html><html lang="en"><head><title> - YouTube</title>'
            '<link rel="canonical" href="undefined"></head><body>'
            '<script nonce="n0nce">var ytInitialPlayerResponse = '
            + _script_json(player)
            + ";</script></body></html>"
        )

    @staticmethod
    def _unavailable_html() -> str:
        player = {
            "playabilityStatus": {"status": "ERROR", "reason": "Video unavailable"},
        }
        return (
            '<!DOCTYPE html><html lang="en"><head><title> - YouTube</title></head><body>'
            '<script nonce="n0nce">var ytInitialPlayerResponse = '
            + _script_json(player)
            + ";</script></body></html>"
        )

    def _feed_xml(self, channel: EmulatedChannel, videos: list[EmulatedVideo]) -> str:
        channel_url = f"{PUBLIC_ORIGIN}/channel/{channel.channel_id}"
        name = html.escape(channel.title)
        entries = []
        for video in videos:
            title = html.escape(video.title)
            updated = video.actual_end or video.actual_start or video.published
            entries.append(
                " <entry>\n"
                f"  <id>yt:video:{video.video_id}</id>\n"
                f"  <yt:videoId>{video.video_id}</yt:videoId>\n"
                f"  <yt:channelId>{channel.channel_id}</yt:channelId>\n"
                f"  <title>{title}</title>\n"
                f'  <link rel="alternate" href="{PUBLIC_ORIGIN}/watch?v={video.video_id}"/>\n'
                f"  <author>\n   <name>{name}</name>\n   <uri>{channel_url}</uri>\n  </author>\n"
                f"  <published>{_page_iso(video.published)}</published>\n"
                f"  <updated>{_page_iso(updated)}</updated>\n"
                "  <media:group>\n"
                f"   <media:title>{title}</media:title>\n"
                f'   <media:content url="{PUBLIC_ORIGIN}/v/{video.video_id}?version=3" '
                'type="application/x-shockwave-flash" width="640" height="390"/>\n'
                "   <media:description></media:description>\n"
                "  </media:group>\n"
                " </entry>\n"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
            'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">\n'
            f' <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id='
            f'{channel.channel_id}"/>\n'
            f" <id>yt:channel:{channel.channel_id[2:]}</id>\n"
            f" <yt:channelId>{channel.channel_id[2:]}</yt:channelId>\n"
            f" <title>{name}</title>\n"
            f' <link rel="alternate" href="{channel_url}"/>\n'
            f" <author>\n  <name>{name}</name>\n  <uri>{channel_url}</uri>\n </author>\n"
            f" <published>{_page_iso(self.clock() - timedelta(days=3650))}</published>\n"
            + "".join(entries)
            + "</feed>\n"
        )

    @staticmethod
    def _html(body: str) -> web.Response:
        return web.Response(status=200, text=body, content_type="text/html", charset="utf-8")

    @staticmethod
    def _not_found() -> web.Response:
        return web.Response(
            status=404,
            text="<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
            "<body>This page isn't available. Sorry about that.</body></html>",
            content_type="text/html",
        )

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> web.Response:
        return web.Response(
            status=status, text=json.dumps(body), content_type="application/json", charset="utf-8"
        )
