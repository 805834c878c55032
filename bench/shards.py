"""Benchmark of sharding: the live check's YouTube requests per tick, one process against two
shard processes (SHARD_IDS=0 and SHARD_IDS=1 of SHARD_COUNT=2) on one PostgreSQL.

N podcasts (1,000 by default) on servers with Discord-like ids, each channel due. One tick of
the real `LiveChecker` with no shards asks YouTube about every channel; then the same tick in
two checkers, each with its own `YouTubeClient` as two processes would have, run side by side.
The two must add up to the one-process figure (each channel asked once, not twice), and every
check keeps the same number of SQL statements whatever its share.

Run from the repository root:  python -m bench.shards  [--podcasts 1000]
Prints a table, then one line `BENCH_JSON {...}` with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bench._common import (
    StatementCounter,
    emit_json,
    machine,
    print_table,
    quiet_logs,
    throwaway_database,
    timed,
)
from bot.live_check import LiveChecker
from bot.youtube import YouTubeClient
from db import queries
from db.engine import create_sessionmaker
from db.models import Podcast
from tests.pipeline_helpers import Pipeline, channel_id, open_pipeline, setup_podcast

SHARD_COUNT = 2
DISCORD_EPOCH_2024_MS = 283_996_800_000  # Discord ids are milliseconds since 2015 << 22


class CountingYouTube:
    """One process's YouTube client, counting the answers it got (its requests)."""

    def __init__(self, pipe: Pipeline) -> None:
        self.requests = 0
        emu = pipe.youtube_emu
        self.client = YouTubeClient(
            emu.base_url, emu.base_url + "/youtube/v3", None, timeout=30, on_response=self._count
        )

    async def _count(self, response: httpx.Response) -> None:
        self.requests += 1


async def populate(pipe: Pipeline, podcasts: int) -> None:
    """Servers created at random moments of a year, as Discord ids record them."""
    rng = random.Random(13)
    for n in range(podcasts):
        millis = DISCORD_EPOCH_2024_MS + rng.randrange(365 * 24 * 3600 * 1000)
        await setup_podcast(
            pipe,
            guild_id=(millis << 22) + n,
            channel=channel_id(n),
            members=[],
            linked={},
            with_episode=False,
        )


async def all_due(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.update(Podcast).values(last_checked_at=None))


def checker(pipe: Pipeline, youtube: CountingYouTube, shards: queries.Shards | None) -> LiveChecker:
    return LiveChecker(
        pipe.sessions,
        youtube.client,
        pipe.poster,
        interval=dt.timedelta(minutes=3),
        fast_interval=dt.timedelta(seconds=30),
        shards=shards,
    )


async def bench(podcasts: int) -> dict[str, Any]:
    async with throwaway_database() as engine:
        sessions = create_sessionmaker(engine)
        counter = StatementCounter(engine)
        async with open_pipeline(sessions) as pipe:
            await populate(pipe, podcasts)

            single = CountingYouTube(pipe)
            counter.reset()
            result, one_process = await timed(checker(pipe, single, None).run_check)
            single_statements = counter.statements
            if result.checked != podcasts:
                raise SystemExit(f"one process checked {result.checked}, expected {podcasts}")

            await all_due(engine)
            shard_clients = [CountingYouTube(pipe) for _ in range(SHARD_COUNT)]
            checkers = [
                checker(pipe, client, queries.Shards(SHARD_COUNT, (shard,)))
                for shard, client in enumerate(shard_clients)
            ]
            counter.reset()
            results, two_processes = await timed(
                lambda: asyncio.gather(*(c.run_check() for c in checkers))
            )
            sharded_statements = counter.statements
            for client in (single, *shard_clients):
                await client.client.aclose()

    per_shard = [client.requests for client in shard_clients]
    checked = [r.checked for r in results]
    if sum(checked) != podcasts or sum(per_shard) != single.requests:
        raise SystemExit(f"shards checked {checked} with {per_shard} requests; expected a split")
    return {
        "podcasts": podcasts,
        "one_process": {
            "youtube_requests": single.requests,
            "checked": result.checked,
            "statements": single_statements,
            "seconds": round(one_process.seconds, 3),
        },
        "two_processes": {
            "youtube_requests": per_shard,
            "youtube_requests_sum": sum(per_shard),
            "checked": checked,
            "statements_per_process": sharded_statements / SHARD_COUNT,
            "seconds_side_by_side": round(two_processes.seconds, 3),
        },
        # The busiest shard process does this fraction less YouTube work than one process.
        "speedup": round(single.requests / max(per_shard), 2),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs()
    figures = await bench(args.podcasts)
    one, two = figures["one_process"], figures["two_processes"]
    print_table(
        f"One live check tick for {figures['podcasts']} podcasts",
        ["processes", "YouTube requests", "sum", "SQL statements per process"],
        [
            ["1", one["youtube_requests"], one["youtube_requests"], one["statements"]],
            [
                f"{SHARD_COUNT} (SHARD_IDS=0 / 1)",
                " / ".join(str(n) for n in two["youtube_requests"]),
                two["youtube_requests_sum"],
                two["statements_per_process"],
            ],
        ],
    )
    print(f"  per-process YouTube work: {figures['speedup']}x less with {SHARD_COUNT} shards")
    return {"machine": machine(), **figures}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--podcasts", type=int, default=1000)
    return parser.parse_args()


if __name__ == "__main__":
    emit_json("shards", asyncio.run(main(parse_args())))
