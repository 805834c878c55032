"""``YouTubeClient``: which channel a user means, and which channels are live right now.

Two ways to know whether a channel is live:

* Page mode (no API key, and the fallback): ``/channel/{id}/live`` shows the live stream, the next
  waiting room, the last stream, or the channel page. Its canonical link and
  ``ytInitialPlayerResponse`` say which. Costs no quota.
* API mode (``api_key`` set): the channel's RSS feed (free) lists recent video ids, and
  ``videos.list`` (1 unit per 50 ids, the ids of every channel in the batch together) tells from
  ``actualStartTime``/``actualEndTime`` whether one is live. Videos in a final state (plain
  uploads, ended streams) are never asked about again, and ``search.list`` (100 units) is never
  used.

One channel and many take the same path (``check_channels``). Anything that stops us from
knowing is state ``"unknown"`` with a short ``reason``, never ``"offline"``, so a blip can't end
a stream that is still running. This package knows nothing of Discord or the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from bot.youtube.channel_input import INVALID_CHANNEL_MESSAGE, is_channel_id, parse_channel_input
from bot.youtube.parsers import (
    extract_channel_id,
    looks_like_captcha,
    parse_feed,
    parse_live_page,
    parse_videos_response,
)
from bot.youtube.transport import (
    API_UNIT_COST,
    BACKOFF_REASONS,
    ApiFallback,
    Transport,
    Trouble,
)
from bot.youtube.types import (
    PUBLIC_ORIGIN,
    ApiVideo,
    ChannelBatch,
    ChannelNotFound,
    FeedEntry,
    InvalidChannel,
    LiveCheck,
    VideoState,
    YouTubeUnavailable,
)

log = logging.getLogger("bot.youtube")

VIDEOS_PER_CALL = 50

# What the Data API check of a batch leaves to do: per channel, the videos whose final state is
# known and the ids to ask videos.list about.
_Plan = tuple[dict[str, VideoState], list[str]]


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
        self._transport = Transport(
            base_url,
            api_base_url,
            api_key,
            timeout=timeout,
            max_concurrency=max_concurrency,
            clock=clock or (lambda: datetime.now(UTC)),
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            on_response=on_response,
        )
        self._final_states: OrderedDict[str, VideoState] = OrderedDict()
        self._video_cache_size = video_cache_size

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> YouTubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def api_mode(self) -> bool:
        """True while checks use the Data API (a key is set, accepted, and quota remains)."""
        return self._transport.api_mode

    @property
    def api_paused_until(self) -> datetime | None:
        """When the exhausted quota resets, while the client is in page mode because of it."""
        return self._transport.api_paused_until

    @property
    def units_used(self) -> int:
        """Data API units this client spent (an estimate of Google's count)."""
        return self._transport.units_used

    def next_allowed_at(self, channel_id: str) -> datetime | None:
        """When a backing-off channel will be asked again (None: not backing off)."""
        return self._transport.next_allowed_at(channel_id)

    # ----- resolving ---------------------------------------------------------------------------

    async def resolve_channel(self, text: str) -> str:
        """The UC… id for an id, an @handle or a channel URL.

        Raises ``InvalidChannel`` (bad input), ``ChannelNotFound`` or ``YouTubeUnavailable``.
        """
        ref = parse_channel_input(text)
        if ref.kind == "handle" and self.api_mode:
            try:
                found = await self._channel_ids_from_api({"forHandle": "@" + ref.value})
            except ApiFallback:
                pass
            except Trouble as trouble:
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
            response = await self._transport.fetch_page(path)
        except Trouble as trouble:
            raise YouTubeUnavailable(trouble.reason, trouble.retry_after) from None
        if response.status_code == 404:
            raise ChannelNotFound("YouTube has no channel at that address.")
        channel_id = extract_channel_id(response.text)
        if channel_id is None:
            reason = "captcha" if looks_like_captcha(response.text) else "unparseable"
            raise YouTubeUnavailable(reason)
        return channel_id

    async def _channel_ids_from_api(self, params: Mapping[str, str]) -> list[str]:
        body = await self._transport.api_get("channels", {"part": "id", **params})
        items = body.get("items", [])
        if not isinstance(items, list):
            raise ApiFallback
        return [
            item["id"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and is_channel_id(item["id"])
        ]

    # ----- checking ----------------------------------------------------------------------------

    async def check_channel(
        self, channel_id: str, known_videos: Mapping[str, VideoState] | None = None
    ) -> LiveCheck:
        """Live, upcoming, offline, or unknown (with a reason) for one UC… channel id.

        The batch facts (quota, key) are left for the next ``check_channels`` to report.
        """
        if not is_channel_id(channel_id):
            raise InvalidChannel(INVALID_CHANNEL_MESSAGE)
        batch = await self.check_channels([channel_id], known_videos, take_notices=False)
        return batch.checks[channel_id]

    async def check_channels(
        self,
        channel_ids: Iterable[str],
        known_videos: Mapping[str, VideoState] | None = None,
        *,
        take_notices: bool = True,
    ) -> ChannelBatch:
        """Check many channels at once; each answers within its own timeouts, none raises."""
        unique = list(dict.fromkeys(channel_ids))
        results: dict[str, LiveCheck] = {}
        to_ask: list[str] = []
        for channel_id in unique:
            early = self._transport.refuse_early(channel_id)
            if early is not None:
                results[channel_id] = early
            else:
                to_ask.append(channel_id)
        units = 0
        to_page = to_ask
        if to_ask and self.api_mode:
            to_page, units = await self._check_via_api(to_ask, known_videos or {}, results)
        pages = await asyncio.gather(*(self._check_page_safely(c) for c in to_page))
        results.update(zip(to_page, pages, strict=True))
        quota_now, key_now = self._transport.take_notices() if take_notices else (False, False)
        return ChannelBatch(
            {c: results[c] for c in unique},
            units_used=units,
            quota_exhausted_now=quota_now,
            api_key_rejected_now=key_now,
        )

    async def _check_page_safely(self, channel_id: str) -> LiveCheck:
        try:
            check = await self._check_via_page(channel_id)
        except Trouble as trouble:
            return self._transport.record_failure(channel_id, trouble)
        except Exception:
            log.exception("YouTube check of %s failed unexpectedly", channel_id)
            return LiveCheck(channel_id, "unknown", reason="error")
        return self._transport.settle(check)

    async def _check_via_page(self, channel_id: str) -> LiveCheck:
        response = await self._transport.fetch_page(f"/channel/{channel_id}/live")
        if response.status_code == 404:
            return LiveCheck(channel_id, "unknown", reason="not_found", source="page")
        page = parse_live_page(response.text)
        if page.reason in BACKOFF_REASONS:
            raise Trouble(page.reason)
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
        self,
        channel_ids: list[str],
        known_videos: Mapping[str, VideoState],
        results: dict[str, LiveCheck],
    ) -> tuple[list[str], int]:
        """Data API mode: every feed concurrently, then one videos.list per 50 ids of all the
        channels together (one call per channel would cost a unit each).

        Fills ``results``; returns the channels the page check must answer, and units spent.
        """
        feeds: dict[str, list[FeedEntry]] = {}
        to_page: list[str] = []

        async def read_feed(channel_id: str) -> None:
            try:
                feeds[channel_id] = await self._feed_entries(channel_id)
            except ApiFallback:
                to_page.append(channel_id)
            except Trouble as trouble:
                results[channel_id] = self._transport.record_failure(channel_id, trouble)
            except Exception:
                log.exception("YouTube feed of %s failed unexpectedly", channel_id)
                results[channel_id] = LiveCheck(channel_id, "unknown", reason="error")

        await asyncio.gather(*(read_feed(c) for c in channel_ids))
        plans = {c: self._split_known(entries, known_videos) for c, entries in feeds.items()}
        asked = list(dict.fromkeys(v for _, ask in plans.values() for v in ask))
        try:
            videos, units = await self._lookup_videos(asked)
        except ApiFallback:
            return to_page + list(plans), 0
        except Trouble as trouble:
            for channel_id in plans:
                results[channel_id] = self._transport.record_failure(channel_id, trouble)
            return to_page, 0
        by_id = {v.video_id: v for v in videos}
        for channel_id, (states, ask) in plans.items():
            mine = [by_id[v] for v in ask if v in by_id]
            results[channel_id] = self._transport.settle(
                self._api_result(channel_id, states, ask, mine)
            )
        return to_page, units

    async def _feed_entries(self, channel_id: str) -> list[FeedEntry]:
        """The channel's recent videos from its RSS feed (free of quota)."""
        try:
            feed_response = await self._transport.fetch_page(
                "/feeds/videos.xml", params={"channel_id": channel_id}
            )
        except Trouble as trouble:
            if trouble.reason in ("server_error", "unexpected_status", "unparseable"):
                raise ApiFallback from None
            raise
        if feed_response.status_code != 200:
            raise ApiFallback  # YouTube's feeds 404 now and then; the page still answers
        try:
            return parse_feed(feed_response.text)
        except ValueError:
            raise ApiFallback from None

    def _split_known(
        self, entries: list[FeedEntry], known_videos: Mapping[str, VideoState]
    ) -> _Plan:
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
        chunks = [
            video_ids[start : start + VIDEOS_PER_CALL]
            for start in range(0, len(video_ids), VIDEOS_PER_CALL)
        ]
        bodies = await asyncio.gather(
            *(
                self._transport.api_get(
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
                raise ApiFallback from None
        return videos, len(chunks) * API_UNIT_COST["videos"]

    def _api_result(
        self,
        channel_id: str,
        states: dict[str, VideoState],
        to_ask: list[str],
        videos: list[ApiVideo],
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
                source="api",
                video_states=states,
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
                source="api",
                video_states=states,
            )
        return LiveCheck(channel_id, "offline", source="api", video_states=states)

    def _remember_final(self, video_id: str, state: VideoState) -> None:
        self._final_states[video_id] = state
        self._final_states.move_to_end(video_id)
        while len(self._final_states) > self._video_cache_size:
            self._final_states.popitem(last=False)
