"""YouTube live detection and channel resolution, real httpx against the loopback YouTube."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.youtube import (
    ChannelBatch,
    ChannelNotFound,
    InvalidChannel,
    ScheduledStream,
    VideoState,
    YouTubeClient,
    YouTubeUnavailable,
    next_quota_reset,
    parse_channel_input,
    parse_feed,
    parse_live_page,
)
from bot.youtube.client import FEED_NEWS_EVERY
from tests.emulators.base import Fault
from tests.emulators.youtube_site import YouTubeEmulator

API_KEY = "test-youtube-key"
CHANNEL = "UCaaaaaaaaaaaaaaaaaaaaaa"
OTHER = "UCbbbbbbbbbbbbbbbbbbbbbb"
THIRD = "UCcccccccccccccccccccccc"
FOURTH = "UCdddddddddddddddddddddd"
START = datetime(2025, 5, 1, 18, 0, tzinfo=UTC)


class FakeClock:
    """The time both the client and the emulator see; tests step it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def emu(clock: FakeClock) -> AsyncIterator[YouTubeEmulator]:
    emulator = YouTubeEmulator(api_key=API_KEY, clock=clock)
    async with emulator:
        emulator.add_channel(CHANNEL, handle="onairpod", title="OnAir Pod")
        yield emulator


def make_client(
    emu: YouTubeEmulator, clock: FakeClock, api_key: str | None = None, **options: float
) -> YouTubeClient:
    settings: dict[str, float] = {"timeout": 3.0, "backoff_base": 30.0} | options
    return YouTubeClient(
        base_url=emu.base_url,
        api_base_url=emu.base_url + "/youtube/v3",
        api_key=api_key,
        clock=clock,
        timeout=settings["timeout"],
        backoff_base=settings["backoff_base"],
        max_concurrency=int(settings.get("max_concurrency", 20)),
    )


@pytest.fixture
async def page_client(emu: YouTubeEmulator, clock: FakeClock) -> AsyncIterator[YouTubeClient]:
    client = make_client(emu, clock)
    yield client
    await client.aclose()


@pytest.fixture
async def api_client(emu: YouTubeEmulator, clock: FakeClock) -> AsyncIterator[YouTubeClient]:
    client = make_client(emu, clock, api_key=API_KEY)
    yield client
    await client.aclose()


# ----- page mode: states ------------------------------------------------------------------------


async def test_live_stream_is_live_with_public_url(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A running stream is live, with its title, start time and the public watch URL."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12", started_at=START - timedelta(minutes=3))

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "live"
    assert check.video_id == "liveVideo01"
    assert check.title == "Episode 12"
    assert check.url == "https://www.youtube.com/watch?v=liveVideo01"
    assert check.started_at == START - timedelta(minutes=3)
    assert check.is_premiere is False
    assert check.source == "page"


async def test_title_with_braces_and_script_tags_is_extracted_whole(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """The player JSON is decoded, not regex-cut, so odd titles survive intact."""
    title = 'Ep 13: {"live"}; var x = 1; </script> Q&A ❤'
    emu.go_live(CHANNEL, "liveVideo02", title)

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "live"
    assert check.title == title


async def test_channel_without_streams_is_offline(page_client: YouTubeClient) -> None:
    """The /live URL showing the channel page means offline, with no video."""
    check = await page_client.check_channel(CHANNEL)

    assert check.state == "offline"
    assert check.video_id is None
    assert check.reason is None


async def test_waiting_room_is_upcoming_not_live(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A scheduled stream that hasn't started is upcoming, with its scheduled start."""
    emu.schedule_stream(CHANNEL, "waitRoom001", "Episode 14", START + timedelta(hours=2))

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "upcoming"
    assert check.video_id == "waitRoom001"
    assert check.scheduled_start == START + timedelta(hours=2)
    assert check.started_at is None


async def test_started_premiere_is_live_and_marked_premiere(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A premiere that has started counts as live even though it isn't live content."""
    emu.schedule_stream(CHANNEL, "premiere001", "Trailer", START, premiere=True)
    assert (await page_client.check_channel(CHANNEL)).state == "upcoming"

    emu.start_stream("premiere001")
    check = await page_client.check_channel(CHANNEL)

    assert check.state == "live"
    assert check.is_premiere is True


async def test_ended_stream_leaves_the_home_page_at_live_offline(
    emu: YouTubeEmulator, page_client: YouTubeClient, clock: FakeClock
) -> None:
    """With nothing live, /live serves the channel's home page (not the last stream): offline."""
    emu.go_live(CHANNEL, "endedVid001", "Episode 11", started_at=START - timedelta(hours=2))
    emu.end_stream("endedVid001", ended_at=START - timedelta(hours=1))

    checks = []
    for _ in range(3):  # each a feed read apart
        checks.append(await page_client.check_channel(CHANNEL))
        clock.advance(FEED_NEWS_EVERY.total_seconds())

    assert [(c.state, c.reason) for c in checks] == [("offline", None)] * 3
    # The feed's new entry was looked at once; an ended stream is never looked at again.
    assert emu.count("/watch") == 1


async def test_feed_is_read_at_its_own_pace_when_live_decides(
    emu: YouTubeEmulator, page_client: YouTubeClient, clock: FakeClock
) -> None:
    """While /live decides (here the home page: offline), the feed is read once per
    FEED_NEWS_EVERY, each channel at its own phase of it, not on every check."""
    channels = [f"UC{n:022d}" for n in range(40)]
    for channel in channels:
        emu.add_channel(channel)
    checks = round(FEED_NEWS_EVERY.total_seconds() / 30)

    per_check = []
    for _ in range(checks):  # one FEED_NEWS_EVERY of 30-second checks
        before = emu.count("/feeds/videos.xml")
        batch = await page_client.check_channels(channels)
        assert {c.state for c in batch.checks.values()} == {"offline"}
        per_check.append(emu.count("/feeds/videos.xml") - before)
        clock.advance(30)

    assert max(per_check) <= len(channels) // 4  # spread: a share of the feeds per check
    assert len(channels) // 2 <= sum(per_check) <= len(channels)  # each read at most once
    assert emu.count("/channel/") == checks * len(channels)


async def test_unknown_channel_is_unknown_not_found(page_client: YouTubeClient) -> None:
    """A channel id YouTube doesn't know gives unknown/not_found, not offline."""
    check = await page_client.check_channel(OTHER)

    assert check.state == "unknown"
    assert check.reason == "not_found"


# ----- page mode: what /live really serves ------------------------------------------------------


@pytest.mark.parametrize("shape", ["videoRenderer", "lockupViewModel"])
async def test_live_tab_with_next_episode_scheduled_is_live(
    emu: YouTubeEmulator, page_client: YouTubeClient, shape: str
) -> None:
    """One stream live while next week's is scheduled: /live serves the Live tab (canonical
    /channel/UC…), whose live entry is confirmed on its watch page; next week's is tracked."""
    emu.tab_shape = shape
    emu.schedule_stream(CHANNEL, "nextWeek001", "Episode 13", START + timedelta(days=7))
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12", started_at=START - timedelta(minutes=2))

    check = await page_client.check_channel(CHANNEL)

    assert (check.state, check.video_id, check.title) == ("live", "liveVideo01", "Episode 12")
    assert check.started_at == START - timedelta(minutes=2)
    assert emu.requests[0].path == f"/channel/{CHANNEL}/live"
    assert next(r.query for r in emu.requests if r.path == "/watch") == {"v": "liveVideo01"}
    if shape == "videoRenderer":  # its tab item carries the start time
        assert check.scheduled == (ScheduledStream("nextWeek001", START + timedelta(days=7)),)


@pytest.mark.parametrize("shape", ["videoRenderer", "lockupViewModel"])
async def test_live_tab_with_two_waiting_rooms_is_upcoming_with_the_first(
    emu: YouTubeEmulator, page_client: YouTubeClient, shape: str
) -> None:
    """Two scheduled, none live: the tab gives the earliest as upcoming, and both are tracked
    (lockup items carry no start time, so their watch pages give it)."""
    emu.tab_shape = shape
    emu.schedule_stream(CHANNEL, "nextWeek001", "Episode 13", START + timedelta(days=7))
    emu.schedule_stream(CHANNEL, "tomorrow001", "Episode 12", START + timedelta(days=1))

    check = await page_client.check_channel(CHANNEL)

    assert (check.state, check.video_id) == ("upcoming", "tomorrow001")
    assert check.scheduled_start == START + timedelta(days=1)
    assert [s.video_id for s in check.scheduled] == ["tomorrow001", "nextWeek001"]


async def test_tab_entry_that_ended_meanwhile_is_not_live(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A tab that still badges a stream LIVE is not trusted: its watch page has the last word."""
    emu.schedule_stream(CHANNEL, "nextWeek001", "Episode 13", START + timedelta(days=7))
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    async with httpx.AsyncClient() as plain:
        tab = (await plain.get(f"{emu.base_url}/channel/{CHANNEL}/live")).text
    assert "richGridRenderer" in tab
    emu.end_stream("liveVideo01")
    emu.inject(Fault(kind="status", status=200, body=tab, path_prefix="/channel/"))

    check = await page_client.check_channel(CHANNEL)

    assert (check.state, check.video_id) == ("upcoming", "nextWeek001")


async def test_tracked_waiting_room_is_seen_live_when_live_page_fails(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A known waiting room is checked on its own watch page from shortly before its start,
    whatever /live shows: here /live fails, and the stream is still seen live."""
    emu.schedule_stream(CHANNEL, "waitRoom001", "Episode 14", START + timedelta(minutes=5))
    emu.start_stream("waitRoom001")
    emu.inject(Fault(kind="status", status=503, path_prefix="/channel/"))
    known = {CHANNEL: [ScheduledStream("waitRoom001", START + timedelta(minutes=5))]}

    batch = await page_client.check_channels([CHANNEL], scheduled=known)

    check = batch.checks[CHANNEL]
    assert (check.state, check.video_id) == ("live", "waitRoom001")
    assert check.scheduled == ()  # live now: no longer a waiting room to track


async def test_tracked_waiting_room_far_from_its_start_is_not_fetched(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """Tracking costs nothing until shortly before the start: no watch page a week ahead."""
    emu.schedule_stream(CHANNEL, "nextWeek001", "Episode 13", START + timedelta(days=7))
    emu.feed_limit = 0
    emu.inject(Fault(kind="status", status=503, path_prefix="/channel/"))
    known = {CHANNEL: [ScheduledStream("nextWeek001", START + timedelta(days=7))]}

    batch = await page_client.check_channels([CHANNEL], scheduled=known)

    assert (batch.checks[CHANNEL].state, batch.checks[CHANNEL].reason) == (
        "unknown",
        "server_error",
    )
    assert batch.checks[CHANNEL].scheduled == tuple(known[CHANNEL])
    assert emu.count("/watch") == 0


async def test_new_feed_entry_is_a_candidate_in_page_mode(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """An RSS entry we know nothing about is looked at on its watch page: live is live even
    when /live can't be read."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.inject(Fault(kind="status", status=503, path_prefix="/channel/"))

    check = await page_client.check_channel(CHANNEL)

    assert (check.state, check.video_id) == ("live", "liveVideo01")


@pytest.mark.parametrize("gate", ["login", "age", "members", "error"])
async def test_gated_stream_is_unknown_never_offline(
    emu: YouTubeEmulator, page_client: YouTubeClient, gate: str
) -> None:
    """Sign-in, age, members-only and error pages hide whether the stream is live: unknown."""
    emu.go_live(CHANNEL, "gatedVid001", "Episode 12")
    emu.gate("gatedVid001", gate)
    known = {CHANNEL: [ScheduledStream("gatedVid001", START)]}

    check = (await page_client.check_channels([CHANNEL], scheduled=known)).checks[CHANNEL]

    assert (check.state, check.reason) == ("unknown", "gated")


async def test_age_gated_ended_stream_is_offline(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A gated page that still shows the stream's end time is positive proof: offline."""
    emu.go_live(CHANNEL, "gatedVid001", "Episode 12", started_at=START - timedelta(hours=2))
    emu.end_stream("gatedVid001", ended_at=START - timedelta(hours=1))
    emu.gate("gatedVid001", "age")
    known = {CHANNEL: [ScheduledStream("gatedVid001", START - timedelta(hours=2))]}

    check = (await page_client.check_channels([CHANNEL], scheduled=known)).checks[CHANNEL]

    assert check.state == "offline"


async def test_members_only_stream_never_shows_at_live(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """/live doesn't show members-only streams (the README says so): the home page answers."""
    emu.go_live(CHANNEL, "membersV001", "Members stream")
    emu.gate("membersV001", "members")
    emu.feed_limit = 0

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "offline"


async def test_abandoned_waiting_room_neither_upcoming_nor_hiding_a_live_stream(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A waiting room scheduled two years ago is offline, not upcoming, and isn't tracked; when
    a real stream starts, the Live tab shows both and the live one wins."""
    emu.schedule_stream(CHANNEL, "oldWaiting1", "Someday", START - timedelta(days=730))

    stale = await page_client.check_channel(CHANNEL)
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    live = await page_client.check_channel(CHANNEL)

    assert (stale.state, stale.scheduled_start, stale.scheduled) == ("offline", None, ())
    assert (live.state, live.video_id, live.scheduled) == ("live", "liveVideo01", ())


@pytest.mark.parametrize("wall", ["bot", "consent_page"])
async def test_bot_wall_and_consent_page_are_blocked_backed_off_and_reported_once(
    emu: YouTubeEmulator, page_client: YouTubeClient, clock: FakeClock, wall: str
) -> None:
    """ "Sign in to confirm you're not a bot" and the inline consent page are "blocked": the
    channel backs off like after a 429, and the batch says so once until pages work again."""
    emu.add_channel(OTHER)
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    if wall == "bot":
        emu.bot_wall(True)
    else:
        emu.consent_page(True)

    first = await page_client.check_channels([CHANNEL, OTHER])
    requests_after_first = len(emu.requests)
    clock.advance(10)
    second = await page_client.check_channels([CHANNEL, OTHER])
    requests_after_second = len(emu.requests)
    clock.advance(60)
    emu.bot_wall(False)
    emu.consent_page(False)
    recovered = await page_client.check_channels([CHANNEL, OTHER])

    assert [(c.state, c.reason) for c in first.checks.values()] == [("unknown", "blocked")] * 2
    assert first.checks[CHANNEL].retry_after == 30.0
    assert first.page_checks_blocked_now is True
    assert [c.reason for c in second.checks.values()] == ["backoff"] * 2
    assert second.page_checks_blocked_now is False
    assert requests_after_second == requests_after_first  # nothing asked while backing off
    assert recovered.checks[CHANNEL].state == "live"
    assert recovered.page_checks_blocked_now is False


# ----- page mode: faults ------------------------------------------------------------------------


async def test_consent_redirect_is_unknown_and_not_followed(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A 302 to consent.youtube.com is "blocked", never followed or taken as offline."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.consent_wall(True)

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "unknown"
    assert check.reason == "blocked"
    assert emu.count("/channel/") == 1


async def test_socs_cookie_passes_consent_wall(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """The client sends SOCS=CAI and a browser User-Agent, which get past the consent wall."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.consent_wall(True, accept_socs=True)

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "live"
    headers = emu.requests[-1].headers
    assert "SOCS=CAI" in headers.get("Cookie", "")
    assert headers["User-Agent"].startswith("Mozilla/5.0")


async def test_captcha_page_is_unknown_and_backs_off(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """The "unusual traffic" page is unknown/captcha and the channel waits before retrying."""
    emu.captcha_wall(True)

    check = await page_client.check_channel(CHANNEL)

    assert check.state == "unknown"
    assert check.reason == "captcha"
    assert check.retry_after == 30.0


async def test_429_retry_after_is_honoured(
    emu: YouTubeEmulator, page_client: YouTubeClient, clock: FakeClock
) -> None:
    """After a 429 the channel isn't asked again until Retry-After has passed."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.inject(Fault(kind="status", status=429, headers={"Retry-After": "120"}))

    first = await page_client.check_channel(CHANNEL)
    clock.advance(119)
    second = await page_client.check_channel(CHANNEL)
    requests_while_backing_off = emu.count("/channel/")
    clock.advance(2)
    third = await page_client.check_channel(CHANNEL)

    assert (first.state, first.reason, first.retry_after) == ("unknown", "rate_limited", 120.0)
    assert (second.state, second.reason) == ("unknown", "backoff")
    assert second.retry_after == pytest.approx(1.0)
    assert requests_while_backing_off == 1
    assert third.state == "live"
    assert page_client.next_allowed_at(CHANNEL) is None


async def test_server_errors_back_off_exponentially(
    emu: YouTubeEmulator, page_client: YouTubeClient, clock: FakeClock
) -> None:
    """Repeated 500s are unknown/server_error with a doubling wait, never offline."""
    emu.inject(Fault(kind="status", status=500, times=None))

    first = await page_client.check_channel(CHANNEL)
    clock.advance(31)
    second = await page_client.check_channel(CHANNEL)

    assert (first.state, first.reason, first.retry_after) == ("unknown", "server_error", 30.0)
    assert (second.state, second.reason, second.retry_after) == ("unknown", "server_error", 60.0)


async def test_hanging_page_times_out_quickly(emu: YouTubeEmulator, clock: FakeClock) -> None:
    """A page that never answers is unknown/timeout after the client's timeout."""
    emu.inject(Fault(kind="hang"))
    async with make_client(emu, clock, timeout=0.3) as client:
        began = time.perf_counter()
        check = await client.check_channel(CHANNEL)
        elapsed = time.perf_counter() - began

    assert (check.state, check.reason) == ("unknown", "timeout")
    assert elapsed < 1.5  # bounded by the timeout (generous for a loaded CI machine)


async def test_garbage_page_is_unparseable_not_offline(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A body that is no YouTube page is unknown/unparseable."""
    emu.inject(Fault(kind="garbage"))

    check = await page_client.check_channel(CHANNEL)

    assert (check.state, check.reason) == ("unknown", "unparseable")


async def test_slow_page_within_timeout_still_answers(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """Latency below the timeout doesn't turn a live stream into unknown."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.inject(Fault(kind="latency", seconds=0.1))

    assert (await page_client.check_channel(CHANNEL)).state == "live"


# ----- Data API mode ----------------------------------------------------------------------------


async def test_api_units_per_channel_and_final_videos_not_asked_again(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """3 channels cost 1 unit together; then only the live stream is asked again; never search."""
    emu.add_channel(OTHER)
    emu.add_channel(THIRD)
    emu.add_upload(CHANNEL, "uploadA0001", "Clip 1")
    emu.add_upload(CHANNEL, "uploadA0002", "Clip 2")
    emu.go_live(OTHER, "endedB00001", "Old episode", started_at=START - timedelta(days=7))
    emu.end_stream("endedB00001", ended_at=START - timedelta(days=7) + timedelta(hours=1))
    emu.add_upload(OTHER, "uploadB0001", "Clip 3")
    emu.add_upload(THIRD, "uploadC0001", "Clip 4")
    emu.go_live(THIRD, "liveC000001", "Episode 12")

    first_batch = await api_client.check_channels([CHANNEL, OTHER, THIRD])
    units_after_first = emu.units_used
    second = (await api_client.check_channels([CHANNEL, OTHER, THIRD])).checks
    first = first_batch.checks

    assert [first[c].state for c in (CHANNEL, OTHER, THIRD)] == ["offline", "offline", "live"]
    assert first[THIRD].video_id == "liveC000001"
    assert first[THIRD].url == "https://www.youtube.com/watch?v=liveC000001"
    assert first[OTHER].video_states["endedB00001"] is VideoState.ENDED
    assert units_after_first == 1  # one videos.list for the three channels' 6 ids
    assert first_batch.units_used == 1
    assert [second[c].state for c in (CHANNEL, OTHER, THIRD)] == ["offline", "offline", "live"]
    assert emu.units_used == 2
    assert emu.api_calls("videos")[-1]["id"] == "liveC000001"
    assert emu.count("/youtube/v3/search") == 0
    assert api_client.units_used == 2


async def test_many_channels_share_videos_list_calls(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """Ids from all channels are asked together, 50 per call: 4 channels x 15 waiting rooms
    (60 ids) take 2 calls, not 4; each channel still gets its own answer."""
    channels = [CHANNEL, OTHER, THIRD, FOURTH]
    for number, channel in enumerate(channels):
        if channel != CHANNEL:
            emu.add_channel(channel)
        for slot in range(15):
            start = START + timedelta(days=1 + slot)
            emu.schedule_stream(channel, f"wait{number}{slot:06d}", f"Show {slot}", start)

    batch = await api_client.check_channels(channels)
    checks = batch.checks

    assert [checks[c].state for c in channels] == ["upcoming"] * 4
    assert [checks[c].scheduled_start for c in channels] == [START + timedelta(days=1)] * 4
    calls = emu.api_calls("videos")
    assert sorted(len(call["id"].split(",")) for call in calls) == [10, 50]
    assert emu.units_used == 2 and batch.units_used == 2


async def test_known_videos_from_caller_are_not_asked(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """Final states the caller persisted skip videos.list entirely."""
    emu.add_upload(CHANNEL, "uploadA0001", "Clip 1")
    emu.add_upload(CHANNEL, "uploadA0002", "Clip 2")

    batch = await api_client.check_channels(
        [CHANNEL], known_videos={"uploadA0001": VideoState.UPLOAD, "uploadA0002": "upload"}
    )

    assert batch.checks[CHANNEL].state == "offline"
    assert batch.units_used == 0
    assert emu.count("/youtube/v3/") == 0


async def test_api_waiting_room_is_upcoming(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """In API mode, scheduled but not started (no actualStartTime) is upcoming, not live."""
    emu.schedule_stream(CHANNEL, "waitRoom001", "Episode 14", START + timedelta(hours=2))

    check = await api_client.check_channel(CHANNEL)

    assert (check.state, check.source) == ("upcoming", "api")
    assert check.scheduled_start == START + timedelta(hours=2)


async def test_api_asks_about_known_waiting_room_before_the_feed_lists_it(
    emu: YouTubeEmulator, api_client: YouTubeClient, clock: FakeClock
) -> None:
    """A waiting room known ahead is in the batched videos.list from shortly before its
    start, so go-live is seen while the feed (which lags) doesn't list it yet."""
    emu.feed_delay = timedelta(minutes=30)
    emu.schedule_stream(CHANNEL, "waitRoom001", "Episode 14", START + timedelta(minutes=20))
    known = {CHANNEL: [ScheduledStream("waitRoom001", START + timedelta(minutes=20))]}

    early = await api_client.check_channels([CHANNEL], scheduled=known)
    asked_early = len(emu.api_calls("videos"))
    clock.advance(6 * 60)
    waiting = await api_client.check_channels([CHANNEL], scheduled=known)
    emu.start_stream("waitRoom001")
    live = await api_client.check_channels([CHANNEL], scheduled=known)

    assert (early.checks[CHANNEL].state, asked_early) == ("upcoming", 0)  # 20 min ahead
    assert (waiting.checks[CHANNEL].state, waiting.checks[CHANNEL].source) == ("upcoming", "api")
    assert (live.checks[CHANNEL].state, live.checks[CHANNEL].video_id) == ("live", "waitRoom001")
    assert [call["id"] for call in emu.api_calls("videos")] == ["waitRoom001"] * 2
    assert emu.count("/watch") == 0


async def test_sixty_videos_take_two_calls_of_at_most_fifty(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """videos.list is asked in chunks of 50 ids."""
    emu.feed_limit = 100
    for number in range(59):
        emu.add_upload(CHANNEL, f"upload{number:05d}", f"Clip {number}")
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")

    batch = await api_client.check_channels([CHANNEL])

    calls = emu.api_calls("videos")
    assert batch.checks[CHANNEL].state == "live"
    assert len(calls) == 2
    assert sorted(len(call["id"].split(",")) for call in calls) == [10, 50]
    assert batch.units_used == 2


async def test_api_key_travels_in_header_not_url(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """The key never appears in a URL, where logs and error messages would show it."""
    emu.add_upload(CHANNEL, "uploadA0001", "Clip 1")

    await api_client.check_channel(CHANNEL)

    api_requests = [r for r in emu.requests if r.path.startswith("/youtube/v3/")]
    assert len(api_requests) == 1
    assert "key" not in api_requests[0].query
    assert api_requests[0].headers["X-Goog-Api-Key"] == API_KEY


async def test_quota_exhaustion_falls_back_to_pages_and_flags_once(
    emu: YouTubeEmulator, api_client: YouTubeClient, clock: FakeClock
) -> None:
    """quotaExceeded switches to page checks until midnight Pacific, reported with one batch."""
    emu.daily_quota = 1
    emu.schedule_stream(CHANNEL, "waitRoom001", "Episode 14", START)

    first = await api_client.check_channels([CHANNEL])
    emu.start_stream("waitRoom001")
    second = await api_client.check_channels([CHANNEL])
    third = await api_client.check_channels([CHANNEL])
    api_calls_while_paused = emu.count("/youtube/v3/")
    clock.now = next_quota_reset(clock.now) + timedelta(seconds=1)
    emu.reset_quota()
    fourth = (await api_client.check_channels([CHANNEL])).checks[CHANNEL]

    def seen(batch: ChannelBatch) -> tuple[str, str, bool]:
        check = batch.checks[CHANNEL]
        return check.state, check.source, batch.quota_exhausted_now

    assert seen(first) == ("upcoming", "api", False)
    assert seen(second) == ("live", "page", True)
    assert seen(third) == ("live", "page", False)
    assert api_calls_while_paused == 2
    assert (fourth.state, fourth.source) == ("live", "api")


async def test_quota_exhausted_mid_batch_checks_every_channel_by_page(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """When the shared videos.list call hits the quota, every channel of the batch still gets
    an answer from its page, and the batch (not one channel) carries the one-time notice."""
    emu.add_channel(OTHER)
    emu.daily_quota = 0
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.schedule_stream(OTHER, "waitRoom001", "Episode 14", START + timedelta(hours=1))

    batch = await api_client.check_channels([CHANNEL, OTHER])
    checks = batch.checks

    assert (checks[CHANNEL].state, checks[CHANNEL].source) == ("live", "page")
    assert (checks[OTHER].state, checks[OTHER].source) == ("upcoming", "page")
    assert batch.quota_exhausted_now is True


async def test_single_channel_check_leaves_the_quota_notice_for_the_batch(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """A one-off check (/podcast youtube-test) doesn't swallow the quota notice: the next
    batch still reports it, once."""
    emu.daily_quota = 0
    emu.add_upload(CHANNEL, "uploadA0001", "Clip 1")

    single = await api_client.check_channel(CHANNEL)
    batch = await api_client.check_channels([CHANNEL])
    later = await api_client.check_channels([CHANNEL])

    assert (single.state, single.source) == ("offline", "page")
    assert (batch.quota_exhausted_now, later.quota_exhausted_now) == (True, False)


def test_quota_resets_at_midnight_pacific() -> None:
    """The reset time is the next 00:00 in Los Angeles, daylight saving included."""
    summer = next_quota_reset(datetime(2025, 7, 1, 12, 0, tzinfo=UTC))
    winter = next_quota_reset(datetime(2025, 1, 1, 12, 0, tzinfo=UTC))

    assert summer == datetime(2025, 7, 2, 7, 0, tzinfo=UTC)
    assert winter == datetime(2025, 1, 2, 8, 0, tzinfo=UTC)


async def test_rejected_key_falls_back_to_pages_and_flags_once(
    emu: YouTubeEmulator, clock: FakeClock
) -> None:
    """A key Google calls invalid moves the client to page checks and is reported once."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    async with make_client(emu, clock, api_key="wrong-key") as client:
        first = await client.check_channels([CHANNEL])
        second = await client.check_channels([CHANNEL])

    assert (first.checks[CHANNEL].state, first.checks[CHANNEL].source) == ("live", "page")
    assert (first.api_key_rejected_now, second.api_key_rejected_now) == (True, False)
    assert second.checks[CHANNEL].source == "page"
    assert emu.count("/youtube/v3/") == 1


async def test_feed_outage_falls_back_to_page(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """When the RSS feed fails with a 5xx, the free page check answers instead."""
    emu.go_live(CHANNEL, "liveVideo01", "Episode 12")
    emu.inject(Fault(kind="status", status=503, path_prefix="/feeds/"))

    check = await api_client.check_channel(CHANNEL)

    assert (check.state, check.source) == ("live", "page")
    assert emu.count("/youtube/v3/") == 0


# ----- resolving channels -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        CHANNEL,
        "@onairpod",
        "  @OnAirPod ",
        "https://www.youtube.com/@onairpod",
        "youtube.com/@onairpod/videos",
        f"https://m.youtube.com/channel/{CHANNEL}/live",
        f"www.youtube.com/channel/{CHANNEL}?si=abc",
        "http://youtube.com/c/OnAirPodcast",
        "https://www.youtube.com/user/onairlegacy",
    ],
)
async def test_resolve_channel_forms_in_page_mode(
    emu: YouTubeEmulator, page_client: YouTubeClient, text: str
) -> None:
    """Ids, handles and channel URLs (incl. a legacy /user/ redirect) resolve to the UC id."""
    emu.add_channel(CHANNEL, handle="onairpod", custom_name="OnAirPodcast", username="onairlegacy")

    assert await page_client.resolve_channel(text) == CHANNEL


async def test_resolve_handle_with_key_uses_channels_list(
    emu: YouTubeEmulator, api_client: YouTubeClient
) -> None:
    """With a key, a handle costs one channels.list unit and no page fetch."""
    channel_id = await api_client.resolve_channel("@onairpod")

    assert channel_id == CHANNEL
    assert emu.api_calls("channels") == [{"part": "id", "forHandle": "@onairpod"}]
    assert emu.count("/@") == 0
    assert emu.units_used == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "onairpod",
        "@a",
        "UC123",
        "https://example.com/@onairpod",
        "https://www.youtube.com/watch?v=liveVideo01",
        "ftp://www.youtube.com/@onairpod",
        "https://www.youtube.com/",
    ],
)
async def test_resolve_rejects_what_is_not_a_channel(
    page_client: YouTubeClient, emu: YouTubeEmulator, text: str
) -> None:
    """Anything but an id, handle or channel URL is InvalidChannel, without a request."""
    with pytest.raises(InvalidChannel, match="channel"):
        await page_client.resolve_channel(text)
    assert emu.requests == []


@pytest.mark.parametrize("use_key", [False, True])
async def test_resolve_unknown_handle_is_not_found(
    emu: YouTubeEmulator, clock: FakeClock, use_key: bool
) -> None:
    """A well-formed handle that no channel has is ChannelNotFound, by page or by API."""
    async with make_client(emu, clock, api_key=API_KEY if use_key else None) as client:
        with pytest.raises(ChannelNotFound):
            await client.resolve_channel("@nobodyhere")
        with pytest.raises(ChannelNotFound):
            await client.resolve_channel(OTHER)


async def test_resolve_behind_consent_wall_is_unavailable(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """A consent redirect while resolving is YouTubeUnavailable with reason blocked."""
    emu.consent_wall(True)

    with pytest.raises(YouTubeUnavailable) as caught:
        await page_client.resolve_channel("@onairpod")
    assert caught.value.reason == "blocked"


# ----- concurrency ------------------------------------------------------------------------------


async def test_one_hanging_channel_does_not_delay_the_others(
    emu: YouTubeEmulator, clock: FakeClock
) -> None:
    """Checks run concurrently; a hang costs one timeout, not one per channel."""
    others = [f"UC{letter * 22}" for letter in "defgh"]
    for channel_id in others:
        emu.add_channel(channel_id)
    emu.go_live(others[0], "liveVideo01", "Episode 12")
    emu.inject(Fault(kind="hang", path_prefix=f"/channel/{CHANNEL}/", times=None))
    emu.inject(Fault(kind="latency", seconds=0.3, path_prefix="/channel/", times=None))

    async with make_client(emu, clock, timeout=0.5) as client:
        began = time.perf_counter()
        results = (await client.check_channels([CHANNEL, *others])).checks
        elapsed = time.perf_counter() - began

    assert (results[CHANNEL].state, results[CHANNEL].reason) == ("unknown", "timeout")
    assert results[others[0]].state == "live"
    assert [results[c].state for c in others[1:]] == ["offline"] * 4
    # One after another would take 0.5 + 5 x 0.3 = 2.0 s; together about one timeout.
    assert elapsed < 1.3


async def test_concurrency_is_bounded(emu: YouTubeEmulator, clock: FakeClock) -> None:
    """No more than max_concurrency requests are in flight at once."""
    channel_ids = [f"UC{letter * 22}" for letter in "defg"]
    for channel_id in channel_ids:
        emu.add_channel(channel_id)
    emu.inject(Fault(kind="latency", seconds=0.3, path_prefix="/channel/", times=None))

    async with make_client(emu, clock, max_concurrency=2) as client:
        began = time.perf_counter()
        results = (await client.check_channels(channel_ids)).checks
        elapsed = time.perf_counter() - began

    assert all(check.state == "offline" for check in results.values())
    # Two at a time: two rounds of 0.3 s. All four at once would take one round (0.3 s).
    assert 0.55 <= elapsed < 1.5


async def test_bad_channel_id_in_a_batch_is_unknown(
    emu: YouTubeEmulator, page_client: YouTubeClient
) -> None:
    """An error for one channel becomes its unknown result; the rest are checked."""
    results = (await page_client.check_channels(["not-a-channel", CHANNEL])).checks

    assert (results["not-a-channel"].state, results["not-a-channel"].reason) == (
        "unknown",
        "invalid_channel",
    )
    assert results[CHANNEL].state == "offline"


# ----- pure parsers -----------------------------------------------------------------------------


def test_parse_channel_input_kinds() -> None:
    """User text is classified by kind without any network."""
    assert parse_channel_input("@some.name-1").kind == "handle"
    assert parse_channel_input("youtube.com/c/Custom").value == "Custom"
    assert parse_channel_input("youtube.com/user/Legacy").kind == "user"
    assert parse_channel_input(f"https://youtube.com/channel/{CHANNEL}").value == CHANNEL


def test_parse_live_page_without_canonical_is_unknown() -> None:
    """A page with a player response but no canonical link is not trusted as offline."""
    page = '<html><script>var ytInitialPlayerResponse = {"videoDetails": {}};</script></html>'

    assert parse_live_page(page).state == "unknown"
    assert parse_live_page(page).reason == "unparseable"


def test_parse_live_page_ended_wins_over_stale_live_flag() -> None:
    """A stream with an end time is offline even if isLiveNow still says true."""
    player = (
        '{"videoDetails": {"videoId": "endedVid001", "title": "Ep", "isLiveContent": true},'
        ' "microformat": {"playerMicroformatRenderer": {"liveBroadcastDetails":'
        ' {"isLiveNow": true, "startTimestamp": "2025-05-01T17:00:00+00:00",'
        ' "endTimestamp": "2025-05-01T18:00:00+00:00"}}}}'
    )
    page = (
        '<link rel="canonical" href="https://www.youtube.com/watch?v=endedVid001">'
        f"<script>var ytInitialPlayerResponse = {player};</script>"
    )

    parsed = parse_live_page(page)

    assert (parsed.state, parsed.video_id) == ("offline", "endedVid001")


def test_parse_feed_rejects_non_feeds() -> None:
    """Garbage and other XML are errors, not empty feeds that would read as offline."""
    with pytest.raises(ValueError, match="feed"):
        parse_feed("\x00<<not xml>>")
    with pytest.raises(ValueError, match="feed"):
        parse_feed("<html></html>")


async def test_a_channels_later_requests_do_not_queue_behind_other_channels(
    emu: YouTubeEmulator, clock: FakeClock
) -> None:
    """Channels are checked one after another by as many runners as requests may be in
    flight: a channel's feed follows its own /live page, not every other channel's (which
    would hold each channel's state, and its page, until the whole batch is through)."""
    channels = [CHANNEL, OTHER, THIRD]
    for channel in channels[1:]:
        emu.add_channel(channel)
    emu.inject(Fault(kind="status", status=503, path_prefix="/channel/", times=None))
    client = make_client(emu, clock, max_concurrency=1)
    try:
        batch = await client.check_channels(channels)
    finally:
        await client.aclose()

    assert {c.reason for c in batch.checks.values()} == {"server_error"}
    order = [
        r.path if r.path.startswith("/channel/") else "feed:" + r.query["channel_id"]
        for r in emu.requests
    ]
    assert order == [step for c in channels for step in (f"/channel/{c}/live", f"feed:{c}")]
