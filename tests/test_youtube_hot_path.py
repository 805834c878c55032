"""The YouTube hot path reads a /live page only as far as it must, and decides as if it had
read it all: pages from the loopback YouTube, cut where ``LivePageCutoff`` says."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from bot.youtube import YouTubeClient, parse_live_page
from bot.youtube.parsers import LivePageCutoff
from bot.youtube.transport import MAX_BODY_BYTES
from bot.youtube.types import LivePage
from tests.emulators.base import Fault
from tests.emulators.youtube_site import YouTubeEmulator

CHANNEL = "UCaaaaaaaaaaaaaaaaaaaaaa"
CHUNK = 64  # small, so the cut is visible on the emulator's 2 KB pages


@pytest.fixture
async def emu() -> AsyncIterator[YouTubeEmulator]:
    async with YouTubeEmulator() as emulator:
        emulator.add_channel(CHANNEL, title="OnAir Pod")
        yield emulator


async def live_page(emu: YouTubeEmulator) -> bytes:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{emu.base_url}/channel/{CHANNEL}/live") as response,
    ):
        return await response.read()


def judge(page: bytes, chunk: int = CHUNK) -> tuple[bytes | None, LivePage | None]:
    """Feed `page` to a cutoff in chunks, as the transport does: the prefix it keeps, and
    what it already knows the page says (its verdict)."""
    cutoff = LivePageCutoff()
    body = bytearray()
    for start in range(0, len(page), chunk):
        body += page[start : start + chunk]
        if cutoff(body):
            return bytes(body), cutoff.verdict()
    return None, cutoff.verdict()


def cut(page: bytes) -> bytes | None:
    return judge(page)[0]


@pytest.mark.parametrize("scene", ["live", "upcoming", "offline", "ended", "live tab"])
async def test_cut_page_decides_like_the_whole_page(emu: YouTubeEmulator, scene: str) -> None:
    """For each state, the cutoff stops as soon as the deciding part is in, and the kept
    prefix parses to exactly what the whole page says: a watch page or a Live tab right after
    the script holding the deciding object (the player response, ytInitialData), the home page
    (nothing live) right after its selected tab's header, before the tab's content."""
    now = datetime.now(UTC)
    if scene in ("live", "live tab"):
        emu.go_live(CHANNEL, "liveVideo01", 'Ep 13: {"live"}; </script> Q&A')
    if scene in ("upcoming", "live tab"):
        emu.schedule_stream(CHANNEL, "soonVideo01", "Ep 14", now + timedelta(hours=1))
    elif scene == "ended":
        emu.go_live(CHANNEL, "doneVideo01", "Ep 12", started_at=now - timedelta(hours=2))
        emu.end_stream("doneVideo01")
    page = await live_page(emu)

    prefix, verdict = judge(page)

    watch_page = b'rel="canonical" href="https://www.youtube.com/watch' in page
    marker = b"ytInitialPlayerResponse = {" if watch_page else b"ytInitialData = {"
    decided_at = page.index(b"</script", page.index(marker))
    assert prefix is not None
    if scene in ("offline", "ended"):
        home_content = page.index(b'"content":{"sectionListRenderer"')
        assert home_content < len(prefix) <= home_content + CHUNK + len(b'"content":')
    else:
        assert decided_at < len(prefix) <= decided_at + CHUNK + len(b"</script")
    whole = parse_live_page(page.decode())
    expected = {"ended": "offline", "live tab": "unknown"}.get(scene, scene)
    assert whole.state == expected
    assert parse_live_page(prefix.decode(errors="replace")) == whole
    at_once = LivePageCutoff()  # what the client parses: from the canonical link on
    assert at_once(prefix)
    assert parse_live_page(at_once.deciding_text(prefix)) == whole
    # The home page is decided by the cutoff itself; every other page is parsed.
    assert verdict == (whole if scene in ("offline", "ended") else None)


async def test_captcha_page_is_read_whole(emu: YouTubeEmulator) -> None:
    """A page without a canonical link never looks decided: it is read to the end."""
    emu.captcha_wall()
    assert cut(await live_page(emu)) is None


async def test_client_decides_without_waiting_for_the_tail(emu: YouTubeEmulator) -> None:
    """The client answers "live" from a page whose deciding part is in, though the whole page
    is larger than a full read would accept (MAX_BODY_BYTES)."""
    emu.go_live(CHANNEL, "liveVideo01", "Ep 13")
    page = await live_page(emu)
    prefix = cut(page)
    assert prefix is not None
    tail = page[len(prefix) :]
    emu.inject(
        Fault(
            "status",
            path_prefix=f"/channel/{CHANNEL}/live",
            status=200,
            body=prefix + b" " * (MAX_BODY_BYTES + 1) + tail,
            times=None,
        )
    )
    async with YouTubeClient(emu.base_url, emu.base_url + "/youtube/v3", timeout=5) as client:
        check = await client.check_channel(CHANNEL)
    assert check.state == "live"
    assert check.video_id == "liveVideo01"


@pytest.mark.parametrize("scene", ["home", "live tab"])
async def test_channel_page_laid_out_otherwise_decides_the_same(
    emu: YouTubeEmulator, scene: str
) -> None:
    """A channel page whose ytInitialData is spaced out, or whose tabs list their members in
    another order (content before selected), is read another way (whole, or every member)
    and decides exactly as the page YouTube serves, cut or not."""
    if scene == "live tab":
        emu.go_live(CHANNEL, "liveVideo01", "Ep 13")
        emu.schedule_stream(CHANNEL, "soonVideo01", "Ep 14", datetime.now(UTC) + timedelta(hours=1))
    page = (await live_page(emu)).decode()
    start = page.index("var ytInitialData = ") + len("var ytInitialData = ")
    data, end = json.JSONDecoder().raw_decode(page, start)
    spaced = page[:start] + json.dumps(data) + page[end:]
    for tab in data["contents"]["twoColumnBrowseResultsRenderer"]["tabs"]:
        tab["tabRenderer"] = dict(reversed(list(tab["tabRenderer"].items())))
    reordered = page[:start] + json.dumps(data, separators=(",", ":")) + page[end:]

    whole = parse_live_page(page)

    assert whole.state == ("unknown" if scene == "live tab" else "offline")
    assert len(whole.entries) == (2 if scene == "live tab" else 0)
    for variant in (spaced, reordered):
        assert parse_live_page(variant) == whole
        prefix, verdict = judge(variant.encode())
        assert prefix is not None
        assert parse_live_page(prefix.decode()) == whole
        assert verdict in (None, whole)


@pytest.mark.parametrize("scene", ["home", "live"])
async def test_javascript_in_the_head_and_long_tab_headers_decide_the_same(
    emu: YouTubeEmulator, scene: str
) -> None:
    """The canonical link behind hundreds of "<" (inline JavaScript in the head: past the tags
    the cutoff walks one by one), and a selected tab whose header is longer than the first
    window the cutoff decodes: the cut page still decides exactly as the whole page."""
    if scene == "live":
        emu.go_live(CHANNEL, "liveVideo01", "Ep 13")
    page = (await live_page(emu)).decode()
    canonical = page.index("<link", page.index("<head"))
    script = "<script>for(var i=0;i<n;i++){if(a<b){c()}}</script>"
    page = page[:canonical] + script * 300 + page[canonical:]
    if scene == "home":
        start = page.index("var ytInitialData = ") + len("var ytInitialData = ")
        data, end = json.JSONDecoder().raw_decode(page, start)
        first = data["contents"]["twoColumnBrowseResultsRenderer"]["tabs"][0]["tabRenderer"]
        first["endpoint"]["padding"] = "x" * 6000  # before "selected": past a 4 KB window
        page = page[:start] + json.dumps(data, separators=(",", ":")) + page[end:]

    whole = parse_live_page(page)
    prefix, verdict = judge(page.encode(), chunk=2048)  # each holds over 64 "<"

    assert whole.state == ("live" if scene == "live" else "offline")
    assert prefix is not None
    assert parse_live_page(prefix.decode()) == whole
    assert verdict == (whole if scene == "home" else None)


@contextlib.asynccontextmanager
async def page_server(page: bytes, tail_after: float = 0.0) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server answering every /live with `page`: its deciding part first and,
    `tail_after` seconds later, the rest. Yields its base URL and the client port of each
    request it served."""
    ports: list[int] = []
    prefix = cut(page)
    assert prefix is not None
    done = asyncio.Event()  # set at the end: a handler still waiting sends the rest at once

    async def live(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        ports.append(request.transport.get_extra_info("peername")[1])
        response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        response.content_length = len(page)
        await response.prepare(request)
        await response.write(prefix)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), tail_after)
        with contextlib.suppress(ConnectionError):
            await response.write(page[len(prefix) :])
        return response

    app = web.Application()
    app.router.add_get("/channel/{channel}/live", live)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", ports
    finally:
        done.set()
        await runner.cleanup()


async def test_decided_page_keeps_its_connection(emu: YouTubeEmulator) -> None:
    """The rest of a decided page is received (not kept) so the next page reuses the
    connection: opening one per page costs more than reading the rest (bench/load.py)."""
    emu.go_live(CHANNEL, "liveVideo01", "Ep 13")
    async with (
        page_server(await live_page(emu)) as (base, ports),
        YouTubeClient(base, base + "/youtube/v3", timeout=5) as client,
    ):
        first = await client.check_channel(CHANNEL)
        second = await client.check_channel(CHANNEL)
    assert (first.state, second.state) == ("live", "live")
    assert len(ports) == 2 and ports[0] == ports[1]


async def test_slow_tail_of_a_decided_page_is_not_waited_for(emu: YouTubeEmulator) -> None:
    """A page whose deciding part is in answers at once, though the rest would take longer
    than the request's deadline: the connection is dropped instead."""
    emu.go_live(CHANNEL, "liveVideo01", "Ep 13")
    async with (
        page_server(await live_page(emu), tail_after=30) as (base, ports),
        YouTubeClient(base, base + "/youtube/v3", timeout=4) as client,
    ):
        began = time.monotonic()
        check = await client.check_channel(CHANNEL)
        took = time.monotonic() - began
    assert (check.state, check.video_id) == ("live", "liveVideo01")
    assert took < 2.5 and len(ports) == 1
