"""CPU time of reading real-sized YouTube pages (what each live check parses, per channel).

Real `/live` and watch pages weigh 0.5-1.5 MB, almost all of it the JSON in
`ytInitialPlayerResponse` / `ytInitialData`. The YouTube emulator serves each page kind at
that size (the watch page, with stream formats and recommendations; the Live tab in both item
layouts; the channel home page, padded as `bench._youtube_world` pads it), fetched once over
loopback; then `parse_live_page` runs on the text `--repeats` times and its CPU time
(time.process_time) is compared, in the same run, with the baseline of decoding the page's
embedded JSON alone with `json.loads` (what parsing cost before the parser learnt to decode
only the parts that decide).

The other way to keep parsing off the event loop, a process pool, is measured beside it: the
same parse sent to a one-process `ProcessPoolExecutor`, with this process's CPU (pickling
the page, the pipe, the pool's thread) and the worker's CPU for each page.

Run from the repository root:  python -m bench.page_parse  [--target-kb 1000 --repeats 30]
Prints a table, then one line `BENCH_JSON {...}` with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench._common import emit_json, machine, print_table, quiet_logs
from bench._youtube_world import PaddedYouTube
from bot.youtube import parse_live_page
from bot.youtube.types import LivePage
from tests.emulators.youtube_site import YouTubeEmulator

CHANNEL = "UCbenchbenchbenchbench00"
_DECODER = json.JSONDecoder()
_MARKERS = ("var ytInitialPlayerResponse = {", "var ytInitialData = {")


def cpu_ms(action: Callable[[], object], repeats: int) -> float:
    """Median CPU milliseconds of one call."""
    samples = []
    for _ in range(repeats):
        began = time.process_time()
        action()
        samples.append((time.process_time() - began) * 1000)
    return statistics.median(samples)


def json_only(page: str) -> None:
    """Decode the page's embedded objects, found with plain str.find: the bare minimum."""
    for marker in _MARKERS:
        at = page.find(marker)
        if at >= 0:
            _DECODER.raw_decode(page, at + len(marker) - 1)


def parse_in_worker(page: str) -> tuple[LivePage, float]:
    """In the pool's process: the parse and its CPU milliseconds there."""
    began = time.process_time()
    parsed = parse_live_page(page)
    return parsed, (time.process_time() - began) * 1000


async def home_page(target_kb: int) -> str:
    """The channel home page (what /live serves when nothing is live), padded to size."""
    async with PaddedYouTube(target_kb) as emu, httpx.AsyncClient(base_url=emu.base_url) as http:
        emu.add_channel(CHANNEL, handle="benchpod", title="Bench Pod")
        return (await http.get(f"/channel/{CHANNEL}/live")).text


async def fetch_pages(target_kb: int) -> dict[str, tuple[str, str]]:
    """Each page kind at about `target_kb`, with the state the parser must find in it."""
    now = datetime.now(UTC)
    pages: dict[str, tuple[str, str]] = {}
    async with YouTubeEmulator() as emu, httpx.AsyncClient(base_url=emu.base_url) as http:
        emu.add_channel(CHANNEL, handle="benchpod", title="Bench Pod")

        async def live_page() -> str:
            return (await http.get(f"/channel/{CHANNEL}/live")).text

        for n in range(40):  # past streams, as a channel with a history has
            emu.go_live(CHANNEL, f"past{n:07d}", f"Episode {n}", now - timedelta(days=n + 1))
            emu.end_stream(f"past{n:07d}", now - timedelta(days=n + 1) + timedelta(hours=1))

        # Watch page of the one live stream: a player response with its formats (a few hundred
        # KiB on real pages), grown to size with recommendations.
        emu.go_live(CHANNEL, "liveVideo01", "Episode 99")
        emu.stream_formats = 300
        emu.related_videos = 1
        one = len(await live_page())
        emu.related_videos = 2
        per_item = len(await live_page()) - one
        emu.related_videos = max(1, (target_kb * 1024 - one) // per_item)
        pages["watch page (live)"] = (await live_page(), "live")
        emu.related_videos = emu.stream_formats = 0

        # The Live tab (live + scheduled): grown to size with past streams, both layouts.
        emu.schedule_stream(CHANNEL, "nextWeek001", "Episode 100", now + timedelta(days=7))
        for shape in ("videoRenderer", "lockupViewModel"):
            emu.tab_shape = shape
            count = 0
            while len(page := await live_page()) < target_kb * 1024:
                for n in range(count, count + 100):
                    emu.go_live(CHANNEL, f"old{n:08d}", f"Old episode {n}", now)
                    emu.end_stream(f"old{n:08d}", now)
                count += 100
            pages[f"Live tab, {shape} (live)"] = (page, "unknown")  # live once confirmed
    pages["channel home page (offline)"] = (await home_page(target_kb), "offline")
    return pages


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs()
    pages = await fetch_pages(args.target_kb)
    rows: list[list[object]] = []
    figures: dict[str, Any] = {}
    with ProcessPoolExecutor(max_workers=1) as pool:
        pool.submit(parse_in_worker, "").result()  # the worker is up and has imported the parser
        for name, (page, expected) in pages.items():
            parsed = parse_live_page(page)
            if parsed.state != expected:
                raise SystemExit(f"{name}: parsed {parsed.state}, expected {expected}")
            parse = cpu_ms(lambda page=page: parse_live_page(page), args.repeats)
            baseline = cpu_ms(lambda page=page: json_only(page), args.repeats)
            in_worker: list[float] = []
            shipping = cpu_ms(
                lambda page=page, into=in_worker: into.append(
                    pool.submit(parse_in_worker, page).result()[1]
                ),
                args.repeats,
            )
            worker = statistics.median(in_worker)
            ratio = parse / baseline if baseline else 0.0
            rows.append(
                [
                    name,
                    f"{len(page) / 1024:.0f}",
                    f"{parse:.2f}",
                    f"{baseline:.2f}",
                    f"{ratio:.2f}",
                    f"{shipping:.2f}",
                    f"{worker:.2f}",
                ]
            )
            figures[name] = {
                "kib": round(len(page) / 1024),
                "parse_cpu_ms": round(parse, 3),
                "json_loads_cpu_ms": round(baseline, 3),
                "ratio_to_json_loads": round(ratio, 2),
                "pool_parent_cpu_ms": round(shipping, 3),
                "pool_worker_cpu_ms": round(worker, 3),
            }
    print_table(
        f"parse_live_page on real-sized pages (median of {args.repeats}, CPU time)",
        ["page", "KiB", "parse ms", "json.loads ms", "ratio", "pool: here ms", "pool: worker ms"],
        rows,
    )
    result = {"machine": machine(), "pages": figures}
    emit_json("page_parse", result)
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-kb", type=int, default=1000, help="page size to build")
    parser.add_argument("--repeats", type=int, default=30, help="parses per page")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
