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
import dataclasses
import logging
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from bot.youtube.channel_input import INVALID_CHANNEL_MESSAGE, is_channel_id, parse_channel_input
from bot.youtube.parsers import (
    LivePageCutoff,
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
    Reply,
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
    LivePage,
    ScheduledStream,
    VideoState,
    YouTubeUnavailable,
)

log = logging.getLogger("bot.youtube")

VIDEOS_PER_CALL = 50


class FinalVideoStore(Protocol):
    """Where final video states outlive the process and the in-memory cache (in the bot: the
    database), so a restart or a big batch doesn't spend units asking about them again."""

    async def load(self, video_ids: list[str]) -> Mapping[str, VideoState]: ...

    async def save(self, states: Mapping[str, VideoState]) -> None: ...


# What the Data API check of a batch leaves to do: per channel, the videos whose final state is
# known and the ids to ask videos.list about.
_Plan = tuple[dict[str, VideoState], list[str]]

# A waiting room is looked at on its own watch page from this long before its start...
TRACK_LEAD = timedelta(minutes=15)
# ...until it is live or ended, or its start is this long past: then it is abandoned (some
# channels keep a waiting room for years) and neither tracked nor shown as upcoming.
ABANDONED_AFTER = timedelta(hours=6)
MAX_WATCH_PAGES = 3  # per kind of candidate and check: a bound on requests per channel
MAX_TRACKED = 10
FEED_NEWS_AGE = timedelta(days=2)
# In page mode a channel's feed is read when its /live page didn't decide, and otherwise
# every this long (its entries are hints: /live shows what is live).
FEED_NEWS_EVERY = timedelta(minutes=10)
MAX_FEED_SCHEDULES = 100_000  # channels whose next feed read is remembered (5 MB)
# Answers after which no other page is asked this time (YouTube wants us gone).
_STOPS_PAGE_CHECKS = frozenset({"blocked", "captcha", "rate_limited"})
# Results that say nothing about the channel's waiting rooms: the known ones are kept.
_KEEPS_SCHEDULED = BACKOFF_REASONS | {"backoff", "error", "not_found", "invalid_channel"}


def still_pending(
    streams: Iterable[ScheduledStream], now: datetime, ignore: Collection[str]
) -> tuple[ScheduledStream, ...]:
    """The waiting rooms still worth tracking: not decided, not abandoned, one per id."""
    latest: dict[str, ScheduledStream] = {}
    for stream in streams:
        if stream.video_id in ignore or stream.scheduled_start is None:
            continue
        if now - stream.scheduled_start > ABANDONED_AFTER:
            continue
        latest[stream.video_id] = stream  # later sightings carry the newer start time
    ordered = sorted(latest.values(), key=lambda s: s.scheduled_start or now)
    return tuple(ordered[:MAX_TRACKED])


def _due(stream: ScheduledStream, now: datetime) -> bool:
    start = stream.scheduled_start
    return start is not None and start - TRACK_LEAD <= now <= start + ABANDONED_AFTER


def _any_live(pages: Mapping[str, LivePage]) -> bool:
    return any(p.state == "live" for p in pages.values())


def _entry_title(page: LivePage, video_id: str) -> str | None:
    if page.video_id == video_id:
        return page.title
    return next((e.title for e in page.entries if e.video_id == video_id), None)


def _live_page(response: Reply) -> LivePage:
    """What a /live or watch page says; a page its cutoff already decided isn't decoded."""
    cut = response.cut_by
    if isinstance(cut, LivePageCutoff):
        return cut.verdict() or parse_live_page(cut.deciding_text(response.body))
    return parse_live_page(response.text)


def _check_from_page(channel_id: str, page: LivePage, **extra: Any) -> LiveCheck:
    return LiveCheck(
        channel_id=channel_id,
        state=page.state,
        video_id=page.video_id,
        title=page.title,
        started_at=page.started_at,
        scheduled_start=page.scheduled_start,
        is_premiere=page.is_premiere,
        reason=page.reason,
        **extra,
    )


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
        final_store: FinalVideoStore | None = None,
        on_response: Callable[[Reply], Awaitable[None]] | None = None,
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
        self._final_store = final_store
        self._feed_due_at: dict[str, datetime] = {}

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

        The batch facts (quota, key, blocked) are left for the next ``check_channels``.
        """
        if not is_channel_id(channel_id):
            raise InvalidChannel(INVALID_CHANNEL_MESSAGE)
        batch = await self.check_channels([channel_id], known_videos, take_notices=False)
        return batch.checks[channel_id]

    async def check_channels(
        self,
        channel_ids: Iterable[str],
        known_videos: Mapping[str, VideoState] | None = None,
        scheduled: Mapping[str, Sequence[ScheduledStream]] | None = None,
        *,
        take_notices: bool = True,
    ) -> ChannelBatch:
        """Check many channels at once; each answers within its own timeouts, none raises.

        ``scheduled`` is, per channel, the waiting rooms earlier checks saw (each result's
        ``scheduled``, persisted by the caller): they are looked at on their own from shortly
        before their start, whatever ``/live`` shows.
        """
        unique = list(dict.fromkeys(channel_ids))
        now = self._transport.clock()
        pending = {
            c: still_pending((scheduled or {}).get(c, ()), now, ignore=frozenset()) for c in unique
        }
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
            to_page, units = await self._check_via_api(to_ask, known_videos or {}, pending, results)
        await self._check_pages(to_page, pending, results)
        notices = self._transport.take_notices() if take_notices else (False, False, False)
        checks = {}
        for channel_id in unique:
            check = results[channel_id]
            if check.reason in _KEEPS_SCHEDULED:  # we learned nothing: keep what we knew
                check = dataclasses.replace(check, scheduled=pending[channel_id])
            checks[channel_id] = check
        return ChannelBatch(
            checks,
            units_used=units,
            quota_exhausted_now=notices[0],
            api_key_rejected_now=notices[1],
            page_checks_blocked_now=notices[2],
        )

    async def _check_pages(
        self,
        channel_ids: list[str],
        scheduled: Mapping[str, tuple[ScheduledStream, ...]],
        results: dict[str, LiveCheck],
    ) -> None:
        """Page checks of many channels by as many runners as requests may be in flight,
        each checking one channel after another: a task per channel would hold thousands of
        waiting coroutines (and make each channel's later requests queue behind every other
        channel's first one)."""
        queue = iter(channel_ids)

        async def runner() -> None:
            for channel_id in queue:
                results[channel_id] = await self._check_page_safely(
                    channel_id, scheduled[channel_id]
                )

        runners = min(len(channel_ids), self._transport.max_concurrency)
        await asyncio.gather(*(runner() for _ in range(runners)))

    async def _check_page_safely(
        self, channel_id: str, scheduled: tuple[ScheduledStream, ...]
    ) -> LiveCheck:
        try:
            check = await self._check_via_page(channel_id, scheduled)
        except Trouble as trouble:
            return self._transport.record_failure(channel_id, trouble)
        except Exception:
            log.exception("YouTube check of %s failed unexpectedly", channel_id)
            return LiveCheck(channel_id, "unknown", reason="error")
        return self._transport.settle(check)

    async def _check_via_page(
        self, channel_id: str, scheduled: tuple[ScheduledStream, ...]
    ) -> LiveCheck:
        """``/live``, then whatever it points at, then what we track, then the feed's news.

        ``/live`` alone misses streams: with two or more live or scheduled it serves the Live
        tab (whose live entries are confirmed on their watch pages), and a stream can be live
        while ``/live`` still shows another. So known waiting rooms due to start and new feed
        entries are looked at on their own watch pages too, until one of them is live.
        """
        live_trouble: Trouble | None = None
        try:
            response = await self._transport.fetch_page(
                f"/channel/{channel_id}/live", cutoff=LivePageCutoff
            )
        except Trouble as trouble:
            if trouble.reason in _STOPS_PAGE_CHECKS:
                raise
            live_trouble, page = trouble, LivePage("unknown", reason=trouble.reason)
        else:
            if response.status_code == 404:
                return LiveCheck(channel_id, "unknown", reason="not_found", source="page")
            page = _live_page(response)
            # The page (~1 MB) must not wait here for the feed and watch pages: those
            # requests queue behind every other channel's /live page (bench/load.py, RSS).
            del response
            if page.reason in BACKOFF_REASONS:
                raise Trouble(page.reason)
        now = self._transport.clock()
        seen: dict[str, LivePage] = {}
        if page.video_id and not page.entries:
            seen[page.video_id] = page
        tracked = {s.video_id for s in scheduled}
        live_entries = [e.video_id for e in page.entries if e.state == "live"]
        untimed = [
            e.video_id
            for e in page.entries
            if e.state == "upcoming" and e.scheduled_start is None and e.video_id not in tracked
        ]
        seen |= await self._watch_pages(live_entries[:MAX_WATCH_PAGES] + untimed[:MAX_WATCH_PAGES])
        if not _any_live(seen):
            due = [s.video_id for s in scheduled if s.video_id not in seen and _due(s, now)]
            seen |= await self._watch_pages(due[:MAX_WATCH_PAGES])
        undecided = live_trouble is not None or page.state == "unknown"
        if not _any_live(seen) and (undecided or self._feed_due(channel_id, now)):
            news = await self._feed_news(channel_id, now, skip=seen.keys() | tracked)
            seen |= await self._watch_pages(news[:MAX_WATCH_PAGES])
        if live_trouble is not None and not _any_live(seen):
            raise live_trouble  # /live failed and nothing else is live: we don't know
        return self._page_result(channel_id, page, seen, scheduled, now)

    async def _watch_pages(self, video_ids: list[str]) -> dict[str, LivePage]:
        """Each video's own watch page, concurrently; a block or overload ends the check."""
        if not video_ids:
            return {}
        responses = await asyncio.gather(
            *(
                self._transport.fetch_page("/watch", params={"v": v}, cutoff=LivePageCutoff)
                for v in video_ids
            )
        )
        pages: dict[str, LivePage] = {}
        for video_id, response in zip(video_ids, responses, strict=True):
            if response.status_code == 404:
                continue
            page = _live_page(response)
            if page.reason in BACKOFF_REASONS:
                raise Trouble(page.reason)
            if page.state == "offline" and page.video_id == video_id:
                final = VideoState.ENDED if page.started_at else VideoState.UPLOAD
                self._remember_final(video_id, final)
            pages[video_id] = dataclasses.replace(page, video_id=page.video_id or video_id)
        return pages

    def _feed_due(self, channel_id: str, now: datetime) -> bool:
        """Whether a check that found nothing live reads the channel's feed: every
        ``FEED_NEWS_EVERY``, each channel at its own phase of it (from its id), so a check of
        many channels reads a share of their feeds, not all of them (bench/load.py)."""
        due = self._feed_due_at.pop(channel_id, None)
        if due is None:  # first seen: at its phase, so a start-up doesn't read every feed
            every = int(FEED_NEWS_EVERY.total_seconds())
            due = now + timedelta(seconds=zlib.crc32(channel_id.encode()) % every)
        read = now >= due
        self._feed_due_at[channel_id] = now + FEED_NEWS_EVERY if read else due
        while len(self._feed_due_at) > MAX_FEED_SCHEDULES:  # the longest unseen go first
            del self._feed_due_at[next(iter(self._feed_due_at))]
        return read

    async def _feed_news(self, channel_id: str, now: datetime, skip: Collection[str]) -> list[str]:
        """Recent feed entries we know nothing final about: candidates for a look.

        The feed is a hint here: when it fails, the check goes on without it.
        """
        try:
            entries = await self._feed_entries(channel_id)
        except (ApiFallback, Trouble):
            return []
        return [
            e.video_id
            for e in entries
            if e.video_id not in skip
            and e.video_id not in self._final_states
            and (e.published is None or now - e.published <= FEED_NEWS_AGE)
        ]

    def _page_result(
        self,
        channel_id: str,
        page: LivePage,
        seen: dict[str, LivePage],
        scheduled: tuple[ScheduledStream, ...],
        now: datetime,
    ) -> LiveCheck:
        """One answer from the ``/live`` page and the watch pages looked at on the way."""
        upcoming = [
            ScheduledStream(e.video_id, e.scheduled_start)
            for e in page.entries
            if e.state == "upcoming" and e.scheduled_start is not None and e.video_id not in seen
        ] + [
            ScheduledStream(p.video_id, p.scheduled_start)
            for p in seen.values()
            if p.state == "upcoming" and p.video_id
        ]
        decided = frozenset(v for v, p in seen.items() if p.state in ("live", "offline"))
        pending = still_pending([*scheduled, *upcoming], now, ignore=decided)
        common: dict[str, Any] = {"source": "page", "scheduled": pending}
        live = [p for p in seen.values() if p.state == "live"]
        if live:
            best = max(live, key=lambda p: p.started_at or datetime.min.replace(tzinfo=UTC))
            return _check_from_page(channel_id, best, **common)
        if page.state == "unknown" and page.reason != "unconfirmed":
            return _check_from_page(channel_id, page, **common)  # gated: not proof of anything
        hidden = [p.reason for p in seen.values() if p.state == "unknown"]
        hidden += [
            "unconfirmed" for e in page.entries if e.state == "live" and e.video_id not in seen
        ]
        if hidden:  # a stream we could not see may be the live one
            return LiveCheck(channel_id, "unknown", reason=hidden[0], **common)
        waiting = [s for s in pending if s.scheduled_start is not None]
        if waiting:
            first = min(waiting, key=lambda s: s.scheduled_start or now)
            shown = seen.get(first.video_id)
            title = shown.title if shown else _entry_title(page, first.video_id)
            return LiveCheck(
                channel_id,
                "upcoming",
                video_id=first.video_id,
                title=title,
                scheduled_start=first.scheduled_start,
                is_premiere=shown.is_premiere if shown else False,
                **common,
            )
        # The home page, a Live tab with nothing on air, an ended stream's page, or a waiting
        # room whose start is long past (abandoned): nothing is live.
        return LiveCheck(
            channel_id,
            "offline",
            video_id=page.video_id,
            title=page.title,
            started_at=page.started_at,
            **common,
        )

    async def _check_via_api(
        self,
        channel_ids: list[str],
        known_videos: Mapping[str, VideoState],
        scheduled: Mapping[str, tuple[ScheduledStream, ...]],
        results: dict[str, LiveCheck],
    ) -> tuple[list[str], int]:
        """Data API mode: every feed concurrently, then one videos.list per 50 ids of all the
        channels together (one call per channel would cost a unit each). Known waiting rooms
        due to start are asked about too, feed or not: the feed lags go-live by minutes.

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
        now = self._transport.clock()
        plans = {c: self._split_known(entries, known_videos) for c, entries in feeds.items()}
        from_feeds = list(dict.fromkeys(v for _, ask in plans.values() for v in ask))
        if from_feeds and self._final_store is not None:
            plans = await self._with_stored_finals(
                self._final_store, feeds, plans, known_videos, from_feeds
            )
        for channel_id, (_, ask) in plans.items():
            ask.extend(
                s.video_id
                for s in scheduled.get(channel_id, ())
                if _due(s, now) and s.video_id not in ask
            )
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
            check = self._api_result(channel_id, states, ask, mine, scheduled[channel_id], now)
            results[channel_id] = self._transport.settle(check)
        learned = {v: states[v] for states, ask in plans.values() for v in ask}
        await self._save_finals({v: s for v, s in learned.items() if s.is_final})
        return to_page, units

    async def _with_stored_finals(
        self,
        store: FinalVideoStore,
        feeds: Mapping[str, list[FeedEntry]],
        plans: dict[str, _Plan],
        known_videos: Mapping[str, VideoState],
        asked: list[str],
    ) -> dict[str, _Plan]:
        """The plans again, with what the store remembers about the ids we'd ask about."""
        try:
            stored = await store.load(asked)
        except Exception:
            log.warning("remembered video states unavailable; asking YouTube", exc_info=True)
            return plans
        if not stored:
            return plans
        known = {**known_videos, **stored}
        return {c: self._split_known(feeds[c], known) for c in plans}

    async def _save_finals(self, states: Mapping[str, VideoState]) -> None:
        if not states or self._final_store is None:
            return
        try:
            await self._final_store.save(states)
        except Exception:
            log.warning("could not remember final video states", exc_info=True)

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
        scheduled: tuple[ScheduledStream, ...],
        now: datetime,
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

        decided = frozenset(v for v, state in states.items() if state is not VideoState.UPCOMING)
        pending = still_pending(
            [
                *scheduled,
                *(
                    ScheduledStream(v.video_id, v.scheduled_start)
                    for v in videos
                    if v.state is VideoState.UPCOMING
                ),
            ],
            now,
            ignore=decided,
        )
        waiting = {s.video_id for s in pending}
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
                scheduled=pending,
            )
        upcoming = [v for v in videos if v.video_id in waiting]  # abandoned ones left out
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
                scheduled=pending,
            )
        if pending:  # a waiting room known from earlier checks, not asked about yet
            return LiveCheck(
                channel_id,
                "upcoming",
                video_id=pending[0].video_id,
                scheduled_start=pending[0].scheduled_start,
                source="api",
                video_states=states,
                scheduled=pending,
            )
        return LiveCheck(
            channel_id, "offline", source="api", video_states=states, scheduled=pending
        )

    def _remember_final(self, video_id: str, state: VideoState) -> None:
        self._final_states[video_id] = state
        self._final_states.move_to_end(video_id)
        while len(self._final_states) > self._video_cache_size:
            self._final_states.popitem(last=False)
