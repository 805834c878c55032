"""Benchmark of the live check.

1. YouTube: the real `YouTubeClient` checks N channels on the loopback YouTube, every page
   answered after an injected latency; concurrent (LIVE_CHECK_CONCURRENCY's default, 20)
   against a sequential baseline (1) in the same run.
2. Database: the real `LiveChecker` + `TweetPoster` on an embedded PostgreSQL, for 1 and for
   100 podcasts (3 linked hosts each): SQL statements, transactions, time and peak Python
   memory of a quiet check (nobody live), the check that sees every stream start and posts
   every tweet, and the check after it.

Run from the repository root:  python -m bench.live_check  [--channels 200 --latency-ms 50]
Prints tables, then one line `BENCH_JSON {...}` with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bench._common import (
    Measured,
    StatementCounter,
    emit_json,
    machine,
    print_table,
    quiet_logs,
    throwaway_database,
    timed,
    traced,
)
from bot.live_check import CheckResult
from bot.youtube import LiveCheck, YouTubeClient
from db.engine import create_sessionmaker
from tests.emulators.base import Fault
from tests.emulators.youtube_site import YouTubeEmulator
from tests.pipeline_helpers import (
    Pipeline,
    channel_id,
    clear_podcasts,
    go_live,
    open_pipeline,
    setup_podcast,
    video_id,
)

HOSTS_PER_PODCAST = 3


# ----- 1. YouTube: concurrent vs sequential ----------------------------------------------------


async def check_all(emu: YouTubeEmulator, ids: list[str], concurrency: int) -> dict[str, LiveCheck]:
    client = YouTubeClient(
        emu.base_url, emu.base_url + "/youtube/v3", None, timeout=30, max_concurrency=concurrency
    )
    try:
        return (await client.check_channels(ids)).checks
    finally:
        await client.aclose()


async def bench_youtube(channels: int, latency_ms: float, concurrency: int) -> dict[str, Any]:
    live_every = 10  # one channel in ten is live, the rest show their channel page
    async with YouTubeEmulator() as emu:
        ids = [channel_id(n) for n in range(channels)]
        for n, cid in enumerate(ids):
            emu.add_channel(cid, title=f"Show {n}")
            if n % live_every == 0:
                emu.go_live(cid, video_id(n), f"Episode {n} (live)")
        emu.inject(Fault("latency", path_prefix="/channel/", seconds=latency_ms / 1000, times=None))
        expected_live = len(range(0, channels, live_every))

        runs: dict[str, Measured] = {}
        for label, limit in (("concurrent", concurrency), ("sequential", 1)):
            results, runs[label] = await timed(lambda limit=limit: check_all(emu, ids, limit))
            live = sum(1 for r in results.values() if r.state == "live")
            unknown = sum(1 for r in results.values() if r.state == "unknown")
            if live != expected_live or unknown:
                raise SystemExit(
                    f"{label}: {live} live / {unknown} unknown, expected {expected_live}"
                )
        _, memory = await traced(lambda: check_all(emu, ids, concurrency))

    concurrent, sequential = runs["concurrent"].seconds, runs["sequential"].seconds
    return {
        "channels": channels,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "concurrent_s": round(concurrent, 3),
        "sequential_s": round(sequential, 3),
        "speedup": round(sequential / concurrent, 1),
        "concurrent_channels_per_s": round(channels / concurrent, 1),
        "peak_kib_concurrent_check": round(memory.peak_kib or 0.0, 1),
    }


# ----- 2. Database: statements per check -------------------------------------------------------


async def populate(pipe: Pipeline, podcasts: int) -> list[str]:
    """`podcasts` servers, each with an episode today and linked hosts with a tweet each."""
    channels = []
    for guild in range(1, podcasts + 1):
        members = [(guild * 1000 + h, f"Host {guild}-{h}") for h in range(HOSTS_PER_PODCAST)]
        linked = {uid: f"host_{guild}_{n}" for n, (uid, _) in enumerate(members)}
        await setup_podcast(
            pipe, guild_id=guild, channel=channel_id(guild), members=members, linked=linked
        )
        channels.append(channel_id(guild))
    return channels


async def check_scenarios(
    engine: AsyncEngine, podcasts: int, measure: str
) -> dict[str, dict[str, Any]]:
    """Quiet check, go-live check, follow-up check; `measure` is "time" or "memory"."""
    await clear_podcasts(engine)
    sessions = create_sessionmaker(engine)
    counter = StatementCounter(engine)
    run = timed if measure == "time" else traced
    figures: dict[str, dict[str, Any]] = {}
    async with open_pipeline(sessions) as pipe:
        channels = await populate(pipe, podcasts)

        async def one(name: str) -> CheckResult:
            counter.reset()
            result, measured = await run(pipe.check)  # the check and the posting it starts
            figures[name] = {
                "statements": counter.statements,
                "transactions": counter.transactions,
                "seconds": round(measured.seconds, 4),
                "peak_kib": None if measured.peak_kib is None else round(measured.peak_kib, 1),
                "checked": result.checked,
                "reports": len(result.reports),
            }
            return result

        await one("quiet")
        for n, channel in enumerate(channels):
            go_live(pipe, channel, video_id(n))
        await one("go_live")
        figures["go_live"]["tweets_posted"] = pipe.tweets_posted()
        await one("still_live")
    expected = podcasts * HOSTS_PER_PODCAST
    if figures["go_live"]["tweets_posted"] != expected:
        raise SystemExit(
            f"posted {figures['go_live']['tweets_posted']} tweets, expected {expected}"
        )
    return figures


async def bench_database(sizes: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with throwaway_database() as engine:
        for size in sizes:
            timing = await check_scenarios(engine, size, "time")
            memory = await check_scenarios(engine, size, "memory")
            for name, figures in timing.items():
                figures["peak_kib"] = memory[name]["peak_kib"]
            results[str(size)] = timing
    return results


# ----- main --------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs()
    youtube = await bench_youtube(args.channels, args.latency_ms, args.concurrency)
    print_table(
        f"YouTube check of {youtube['channels']} channels, {youtube['latency_ms']:g} ms per page",
        ["mode", "max_concurrency", "seconds", "channels/s"],
        [
            [
                "concurrent",
                args.concurrency,
                youtube["concurrent_s"],
                youtube["concurrent_channels_per_s"],
            ],
            [
                "sequential",
                1,
                youtube["sequential_s"],
                round(args.channels / youtube["sequential_s"], 1),
            ],
        ],
    )
    print(
        f"  speedup {youtube['speedup']}x; peak Python memory of one concurrent check "
        f"{youtube['peak_kib_concurrent_check']} KiB"
    )

    database = await bench_database(args.podcasts)
    rows = []
    for size, scenarios in database.items():
        for name, f in scenarios.items():
            rows.append(
                [
                    size,
                    name,
                    f["statements"],
                    f["transactions"],
                    f"{f['seconds'] * 1000:.1f}",
                    f["peak_kib"],
                    f.get("tweets_posted", ""),
                ]
            )
    print_table(
        f"LiveChecker on PostgreSQL ({HOSTS_PER_PODCAST} linked hosts per podcast, no latency)",
        ["podcasts", "check", "SQL statements", "transactions", "ms", "peak KiB", "tweets posted"],
        rows,
    )
    figures = {"machine": machine(), "youtube": youtube, "database": database}
    emit_json("live_check", figures)
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--podcasts", type=int, nargs="+", default=[1, 100])
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
