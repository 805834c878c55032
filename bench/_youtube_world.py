"""A YouTube emulator in its own process, for `bench.load`: real-sized pages, real latency.

The benchmark must not pay for the emulator's CPU (rendering and sending 800 KB pages), so the
emulator runs here, in a child process, and the measured client runs in the parent. Prints one
line `PORT <n>` when it serves, stops on SIGTERM.

Pages are padded to a real page's size (~800 KB) where YouTube puts the bulk: configuration
scripts in the head (before the canonical link), then the page's own objects, which yt-dlp's
extractor reads out of such pages (yt_dlp/extractor/youtube `_extract_yt_initial_variable`):
on a watch page a large ``ytInitialPlayerResponse`` (its stream formats, captions and
storyboards, which come after ``playabilityStatus`` and before ``videoDetails``) and a larger
``ytInitialData`` (related videos, comments) after it; on a channel page (home or Live tab) a
large ``ytInitialData``, whose bulk is the selected tab's content (the home page's shelves, the
Live tab's items: a captured channel page starts ``{"responseContext":{…},"contents":
{"twoColumnBrowseResultsRenderer":{"tabs":[{"tabRenderer":{"endpoint":…`, and a tab lists
``endpoint, title, selected, content``: mjz19910/snippet_repo yt_json_types/TabData.ts);
then the player's bootstrap scripts. Shares: ``SHARES``.

Control (for the benchmark only): ``GET /_bench/served`` answers how many ``/live`` pages were
served; ``POST /_bench/go_live?channel=…&video=…`` starts a stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta

from aiohttp import web

from tests.emulators.base import Fault
from tests.emulators.youtube_site import YouTubeEmulator
from tests.pipeline_helpers import channel_id, video_id

# Where a page's padding goes, as shares of --pad-kib: the head, the player response (watch
# pages only; on channel pages its share goes to ytInitialData), ytInitialData, the tail.
SHARES = {"head": 0.2, "player": 0.2, "initial_data": 0.45, "tail": 0.15}


def padding(kib: float, name: str) -> str:
    """A script of about `kib` KiB that looks like YouTube's configuration blobs."""
    if kib <= 0:
        return ""
    item = '{"key":"EXPERIMENT_FLAG_0000","value":"true","list":[1,2,3],"s":"a;b}c"},'
    count = max(1, int(kib * 1024 / len(item)))
    return f'<script nonce="n0nce">{name}({{"flags":[' + item * count + "{}]});</script>"


def json_padding(kib: float) -> str:
    """A JSON member of about `kib` KiB to put first in an object (parsers ignore it)."""
    if kib <= 0:
        return ""
    item = (  # string-heavy, as YouTube's renderers are (URLs, text runs, tracking params)
        '{"richItemRenderer":{"content":{"videoRenderer":{"videoId":"abcdefghijk",'
        '"thumbnail":{"thumbnails":[{"url":"https://i.ytimg.com/vi/abcdefghijk/hqdefault.jpg'
        '?sqp=-oaymwEcCNACELwBSFXyq4qpAw4IARUAAIhCGAFwAcABBg==&rs=AOn4CLBqz","width":336,'
        '"height":188}]},"title":{"runs":[{"text":"Episode 41: a title {of} ordinary; length"}]},'
        '"clickTrackingParams":"CLQBEJQ1GAAiEwjJ7b3Vh4-GAxWdS3oFHXs3DLgyBmctaGlnaFoYVUNiYmJi"}}}},'
    )
    return '"benchPadding":[' + item * max(1, int(kib * 1024 / len(item))) + "{}],"


class PaddedYouTube(YouTubeEmulator):
    def __init__(self, pad_kib: float, **kwargs: object) -> None:
        self._head_pad = padding(pad_kib * SHARES["head"], "ytcfg.set")
        self._tail_pad = padding(pad_kib * SHARES["tail"], "window.ytplayer.bootstrap")
        self._player_pad = json_padding(pad_kib * SHARES["player"])
        self._data_pad = json_padding(pad_kib * SHARES["initial_data"])
        self._channel_data_pad = json_padding(pad_kib * (SHARES["initial_data"] + SHARES["player"]))
        self.live_pages_served = 0
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        super().setup_routes(router)
        router.add_get("/_bench/served", self._served)
        router.add_post("/_bench/go_live", self._go_live)

    def _html(self, body: str) -> web.Response:  # type: ignore[override]
        if self._head_pad:
            body = body.replace("<head>", "<head>" + self._head_pad, 1)
            body = body.replace("</body>", self._tail_pad + "</body>", 1)
            player = "var ytInitialPlayerResponse = {"
            if player in body:  # the formats' place: between the status and the details
                details = body.index('"videoDetails":{', body.index(player))
                body = body[:details] + self._player_pad + body[details:]
                data = "var ytInitialData = {"
                body = body.replace(data, data + self._data_pad, 1)
            else:  # the selected tab's content: the home page's shelves, the Live tab's items
                content = '"selected":true,"content":{'
                body = body.replace(content, content + self._channel_data_pad, 1)
        return YouTubeEmulator._html(body)

    async def _live_page(self, request: web.Request) -> web.Response:
        self.live_pages_served += 1
        return await super()._live_page(request)

    async def _served(self, request: web.Request) -> web.Response:
        return web.json_response({"live_pages": self.live_pages_served})

    async def _go_live(self, request: web.Request) -> web.Response:
        channel, video = request.query["channel"], request.query["video"]
        self.schedule_stream(channel, video, f"{video} (live)", scheduled_start=self.clock())
        self.start_stream(video)
        return web.json_response({"ok": True})


def populate(emu: YouTubeEmulator, args: argparse.Namespace) -> None:
    """Channels 0..N-1; one in `live_every` live (0, L, 2L…), one in `upcoming_every` waiting
    (1, U+1, …), each with
    `uploads` plain uploads in its feed."""
    now = datetime.now(UTC)
    for n in range(args.channels):
        cid = channel_id(n)
        emu.add_channel(cid, title=f"Show {n}")
        for u in range(args.uploads):
            emu.add_upload(cid, video_id(10_000_000 + n * 10 + u), f"Upload {u}")
        if args.live_every and n % args.live_every == 0:
            emu.go_live(cid, video_id(n), f"Episode {n} (live)")
        elif args.upcoming_every and n % args.upcoming_every == 1:
            emu.schedule_stream(cid, video_id(n), f"Episode {n}", now + timedelta(days=1))


async def serve(args: argparse.Namespace) -> None:
    emu = PaddedYouTube(args.pad_kib, daily_quota=10**9)
    populate(emu, args)
    if args.latency_ms > 0:
        for prefix in ("/channel/", "/feeds/", "/youtube/"):
            emu.inject(
                Fault("latency", path_prefix=prefix, seconds=args.latency_ms / 1000, times=None)
            )
    emu.requests = _Discard()  # type: ignore[assignment]  # don't grow with every request
    await emu.start()
    print(f"PORT {emu.port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await emu.stop()


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--pad-kib", type=float, default=800)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--live-every", type=int, default=10)
    parser.add_argument("--upcoming-every", type=int, default=0)
    parser.add_argument("--uploads", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps({"world": vars(args)}), flush=True)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
