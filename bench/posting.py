"""Benchmark of posting: the real `TweetPoster` sends N claimed tweets to the loopback X, every
POST /2/tweets answered after an injected latency; bounded concurrency (the default, 8) against
a sequential baseline (1) in the same run, plus the SQL statements of one batch.

Run from the repository root:  python -m bench.posting  [--tweets 60 --latency-ms 100]
Prints a table, then one line `BENCH_JSON {...}`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

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
from bench.live_check import HOSTS_PER_PODCAST, populate
from bot.posting import RETRY_WINDOW, PostedLine, TweetPoster
from db import queries
from db.engine import create_sessionmaker
from db.models import Episode
from tests.emulators.base import Fault
from tests.emulators.x_api import TWEET_PATH
from tests.pipeline_helpers import clear_podcasts, open_pipeline, utcnow

STREAM_URL = "https://www.youtube.com/watch?v=benchstream"


async def post_batch(
    engine: AsyncEngine, tweets: int, latency_ms: float, concurrency: int
) -> dict[str, Any]:
    """Fresh data, every episode live, every tweet claimed; then one `post_claimed` call."""
    await clear_podcasts(engine)
    sessions = create_sessionmaker(engine)
    counter = StatementCounter(engine)
    podcasts = -(-tweets // HOSTS_PER_PODCAST)
    async with open_pipeline(sessions) as pipe:
        await populate(pipe, podcasts)
        now = utcnow()
        async with sessions() as session, session.begin():
            await session.execute(sa.update(Episode).values(went_live_at=now, live_url=STREAM_URL))
            claimed = await queries.claim_pending_tweets(session, now - RETRY_WINDOW, now)
        claimed = dict(list(claimed.items())[:tweets])
        pipe.x_emu.inject(
            Fault("latency", path_prefix=TWEET_PATH, seconds=latency_ms / 1000, times=None)
        )
        poster = TweetPoster(
            sessions,
            pipe.x,
            pipe.cipher,
            dry_run=False,
            concurrency=concurrency,
        )
        counter.reset()
        lines, measured = await timed(lambda: poster.post_claimed(claimed))
        posted = sum(1 for line in lines if line.status == "posted")
        check_all_posted(lines, len(claimed), pipe.tweets_posted())
        await poster.aclose()
    return {
        "tweets": len(claimed),
        "concurrency": concurrency,
        "seconds": round(measured.seconds, 3),
        "posted": posted,
        "statements": counter.statements,
        "transactions": counter.transactions,
    }


def check_all_posted(lines: list[PostedLine], claimed: int, accepted_by_x: int) -> None:
    posted = sum(1 for line in lines if line.status == "posted")
    if not (posted == claimed == accepted_by_x):
        raise SystemExit(f"posted {posted}, claimed {claimed}, X accepted {accepted_by_x}")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs()
    async with throwaway_database() as engine:
        concurrent = await post_batch(engine, args.tweets, args.latency_ms, args.concurrency)
        sequential = await post_batch(engine, args.tweets, args.latency_ms, 1)
    speedup = round(sequential["seconds"] / concurrent["seconds"], 1)
    print_table(
        f"Posting {args.tweets} tweets, {args.latency_ms:g} ms per POST /2/tweets",
        ["mode", "concurrency", "seconds", "tweets/s", "SQL statements", "transactions"],
        [
            [
                label,
                run["concurrency"],
                run["seconds"],
                round(run["tweets"] / run["seconds"], 1),
                run["statements"],
                run["transactions"],
            ]
            for label, run in (("concurrent", concurrent), ("sequential", sequential))
        ],
    )
    print(f"  speedup {speedup}x")
    figures = {
        "machine": machine(),
        "latency_ms": args.latency_ms,
        "concurrent": concurrent,
        "sequential": sequential,
        "speedup": speedup,
    }
    emit_json("posting", figures)
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tweets", type=int, default=60)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=8)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
