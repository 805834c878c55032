"""Every figure of "fast under load" in one run, each beside its floor measured in the same run.

The services under test run as they do in production: `python -m bot` in its own process, or
the real `YouTubeClient` in this one. YouTube is an emulator in a child process
(`bench._youtube_world`: pages padded to ~800 KB, 50 ms per answer), so its CPU is not billed
to the client; Discord (and X, for posting) are emulators in this process, which only measures.

1. http_client: CPU of the HTTP client alone for N small pages, httpx against aiohttp.
2. check: one check of N channels (real-sized pages) by `YouTubeClient` against plain
   concurrent aiohttp GETs of the same pages, time and CPU, at concurrency 20 and 100.
3. data_api: Data API units of the check after the first, against ⌈changing ids / 50⌉.
4. commands: 200 concurrent slash commands, ack p50/p99, for a trivial discord.py bot, for
   OnAir idle, and for OnAir while it checks 5,000 channels; RSS idle and during/after.
5. posting: 120 and 1,000 tweets due at once (12 and 100 podcasts × 10 hosts), X answering
   after 100 ms: first POST to the last outcome recorded, against ⌈tweets / concurrency⌉ ×
   100 ms and OnAir's X client alone; and the checks that ran meanwhile.

Run from the repository root:  python -m bench.load   (`--help` for the sizes)
Prints tables, then one line `BENCH_JSON {...}` with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from bench._common import emit_json, machine, print_table, quiet_logs, throwaway_database
from bot.crypto import TokenCipher
from bot.final_videos import DatabaseFinalVideos
from bot.publisher import Credentials
from bot.x import XService
from bot.youtube import YouTubeClient
from db.engine import create_sessionmaker
from db.models import Episode, EpisodeTweet, Host, Podcast, PostStatus, XAccount
from tests.emulators.base import Fault
from tests.emulators.discord_api import DiscordEmulator, Guild, Member, Permission
from tests.emulators.x_api import TWEET_PATH, XEmulator
from tests.pipeline_helpers import channel_id
from tests.rig import stop_process

REPO = Path(__file__).resolve().parents[1]
API_KEY = "test-youtube-key"  # the emulator's default
SECTIONS = ("http_client", "check", "data_api", "commands", "posting")
T = TypeVar("T")


# ----- helpers -----------------------------------------------------------------------------------


@dataclass
class Cost:
    seconds: float
    cpu_seconds: float


async def costed(action: Callable[[], Awaitable[T]]) -> tuple[T, Cost]:
    """Wall time and this process's CPU time (user + system) of `action`."""
    started, cpu = time.perf_counter(), time.process_time()
    result = await action()
    return result, Cost(time.perf_counter() - started, time.process_time() - cpu)


@contextlib.asynccontextmanager
async def youtube_world(
    channels: int,
    *,
    pad_kib: float,
    latency_ms: float,
    live_every: int = 10,
    upcoming_every: int = 0,
    uploads: int = 0,
) -> AsyncIterator[str]:
    """Start `bench._youtube_world` in a child process; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._youtube_world",
        f"--channels={channels}",
        f"--pad-kib={pad_kib}",
        f"--latency-ms={latency_ms}",
        f"--live-every={live_every}",
        f"--upcoming-every={upcoming_every}",
        f"--uploads={uploads}",
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
            if not line:
                raise SystemExit("the YouTube emulator process exited")
            if line.startswith("PORT "):
                break
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        await stop_process(process)


def tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


async def poll(predicate: Callable[[], bool], within: float, every: float = 0.005) -> bool:
    """Check `predicate` every `every` seconds (it watches another process's effects)."""
    deadline = time.perf_counter() + within
    while True:
        if predicate():
            return True
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(every)


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of process `pid` in MiB: resident now, and its peak."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)


def live_urls(base_url: str, count: int) -> list[str]:
    return [f"{base_url}/channel/{channel_id(n)}/live" for n in range(count)]


async def aiohttp_gets(urls: list[str], concurrency: int) -> int:
    """The floor: plain concurrent GETs reading every body, nothing parsed. Returns bytes."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    received = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(url: str) -> None:
            nonlocal received
            async with semaphore, session.get(url) as response:
                body = await response.read()
            received += len(body)  # not `+= len(await ...)`: that reads `received` first

        await asyncio.gather(*(one(u) for u in urls))
    return received


async def httpx_gets(urls: list[str], concurrency: int) -> int:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    received = 0
    async with httpx.AsyncClient(limits=limits) as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(url: str) -> None:
            nonlocal received
            async with semaphore:
                response = await client.get(url)
            received += len(response.content)

        await asyncio.gather(*(one(u) for u in urls))
    return received


# ----- 1. the HTTP client alone ------------------------------------------------------------------


async def bench_http_client(pages: int) -> dict[str, Any]:
    async with youtube_world(pages, pad_kib=0, latency_ms=0) as base:
        urls = live_urls(base, pages)
        await aiohttp_gets(urls[:20], 20)  # warm up both
        await httpx_gets(urls[:20], 20)
        _, floor = await costed(lambda: aiohttp_gets(urls, 20))
        _, used = await costed(lambda: httpx_gets(urls, 20))
    return {
        "pages": pages,
        "aiohttp_cpu_s": round(floor.cpu_seconds, 3),
        "httpx_cpu_s": round(used.cpu_seconds, 3),
        "httpx_cpu_ratio": round(used.cpu_seconds / floor.cpu_seconds, 2),
    }


# ----- 2. one check against plain GETs -----------------------------------------------------------


async def client_check(base: str, count: int, concurrency: int) -> dict[str, int]:
    client = YouTubeClient(base, base + "/youtube/v3", None, max_concurrency=concurrency)
    try:
        batch = await client.check_channels(channel_id(n) for n in range(count))
    finally:
        await client.aclose()
    states: dict[str, int] = {}
    for check in batch.checks.values():
        states[check.state] = states.get(check.state, 0) + 1
    return states


def median_cost(costs: list[Cost]) -> Cost:
    """The median time and the median CPU of repeated runs. One run's CPU moves by up to 1.6×
    on this machine (the floor's own: how many of its 800 KB bodies the C allocator maps
    afresh, each page faulted in again), more than the difference being measured."""
    return Cost(
        statistics.median(c.seconds for c in costs),
        statistics.median(c.cpu_seconds for c in costs),
    )


async def bench_check(
    sizes: list[int], pad_kib: float, latency_ms: float, repeats: int
) -> list[dict[str, Any]]:
    rows = []
    async with youtube_world(max(sizes), pad_kib=pad_kib, latency_ms=latency_ms) as base:
        for count in sizes:
            urls = live_urls(base, count)
            for concurrency in (20, 100):
                floors, checks = [], []
                for _ in range(repeats):  # alternated, so drifts of the machine hit both
                    received, cost = await costed(
                        lambda urls=urls, limit=concurrency: aiohttp_gets(urls, limit)
                    )
                    floors.append(cost)
                    states, cost = await costed(
                        lambda count=count, limit=concurrency: client_check(base, count, limit)
                    )
                    checks.append(cost)
                floor, used = median_cost(floors), median_cost(checks)
                expected_live = len(range(0, count, 10))
                rows.append(
                    {
                        "channels": count,
                        "concurrency": concurrency,
                        "page_kib": round(received / count / 1024),
                        "floor_s": round(floor.seconds, 2),
                        "floor_cpu_s": round(floor.cpu_seconds, 2),
                        "onair_s": round(used.seconds, 2),
                        "onair_cpu_s": round(used.cpu_seconds, 2),
                        "time_ratio": round(used.seconds / floor.seconds, 2),
                        "cpu_ratio": round(used.cpu_seconds / floor.cpu_seconds, 2),
                        "live": states.get("live", 0),
                        "expected_live": expected_live,
                        "unknown": states.get("unknown", 0),
                    }
                )
    return rows


# ----- 3. Data API units -------------------------------------------------------------------------


async def bench_data_api(sizes: list[int], latency_ms: float) -> list[dict[str, Any]]:
    """1 channel in 100 live, 1 in 200 waiting, 3 plain uploads each; units of the check after
    the first, and of the first check after a restart. The client is wired as in production:
    final videos remembered in the database."""
    rows = []
    async with throwaway_database() as engine:
        store = DatabaseFinalVideos(create_sessionmaker(engine))
        for count in sizes:
            async with engine.begin() as connection:
                await connection.execute(sa.text("TRUNCATE youtube_final_videos"))
            async with youtube_world(
                count,
                pad_kib=0,
                latency_ms=latency_ms,
                live_every=100,
                upcoming_every=200,
                uploads=3,
            ) as base:
                ids = [channel_id(n) for n in range(count)]
                async with YouTubeClient(
                    base, base + "/youtube/v3", API_KEY, final_store=store
                ) as c:
                    first = await c.check_channels(ids)
                    second = await c.check_channels(ids)
                async with YouTubeClient(
                    base, base + "/youtube/v3", API_KEY, final_store=store
                ) as c:
                    restarted = await c.check_channels(ids)
            live = sum(1 for c in second.checks.values() if c.state == "live")
            upcoming = sum(1 for c in second.checks.values() if c.state == "upcoming")
            floor = math.ceil((live + upcoming) / 50)
            rows.append(
                {
                    "channels": count,
                    "live": live,
                    "upcoming": upcoming,
                    "first_check_units": first.units_used,
                    "units": second.units_used,
                    "units_after_restart": restarted.units_used,
                    "floor_units": floor,
                    "units_per_day_at_180s": second.units_used * 480,
                }
            )
    return rows


# ----- 4. commands and memory --------------------------------------------------------------------


@dataclass
class DiscordWorld:
    emulator: DiscordEmulator
    guild: Guild
    admins: list[Member]
    announce_id: int
    host_role_id: int


def discord_world(emulator: DiscordEmulator, commanders: int) -> DiscordWorld:
    guild = emulator.create_guild("Bench Pod")
    staff = guild.add_role("Staff", permissions=Permission.MANAGE_GUILD)
    host_role = guild.add_role("Host")
    announce = guild.add_text_channel("announcements")
    admins = [guild.add_member(f"admin{n}", roles=[staff]) for n in range(commanders)]
    return DiscordWorld(emulator, guild, admins, announce.id, host_role.id)


def bot_env(world: DiscordWorld, youtube: str, database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "YOUTUBE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DISCORD_TOKEN=world.emulator.token,
        DISCORD_GUILD_ID=str(world.guild.id),
        DISCORD_API_BASE_URL=world.emulator.api_base_url,
        DISCORD_GATEWAY_URL=world.emulator.gateway_url,
        DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        YOUTUBE_BASE_URL=youtube,
        YOUTUBE_API_BASE_URL=youtube + "/youtube/v3",
        X_API_BASE_URL="http://127.0.0.1:9",
        X_CONSUMER_KEY="bench",
        X_CONSUMER_SECRET="bench",
        LIVE_CHECK_INTERVAL_SECONDS="3600",
        LOG_LEVEL="WARNING",
    )
    env.pop("OPENAI_API_KEY", None)
    return env


@contextlib.asynccontextmanager
async def bot_process(
    world: DiscordWorld, module: str, env: dict[str, str], log_path: Path, command: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m <module>` connected to the Discord emulator, `command` synced."""
    identified = world.emulator.identify_count

    def ready() -> bool:
        names = {c["name"] for c in world.emulator.synced_commands(world.guild)}
        return (
            world.emulator.identify_count > identified
            and world.emulator.open_connections > 0
            and command in names
        )

    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, cwd=REPO, env=env, stdout=log, stderr=log
        )
        try:
            await world.emulator.wait_until(
                lambda: ready() or process.returncode is not None,
                timeout=120,
                what=f"{module} to connect and sync its commands",
            )
            if process.returncode is not None:
                raise SystemExit(f"{module} exited:\n{tail(log_path)}")
            await asyncio.sleep(1.0)  # let start-up work (first sync, caches) settle
            yield process
        finally:
            await stop_process(process)


async def one_burst(
    world: DiscordWorld,
    command: str,
    count: int,
    members: Sequence[Member] = (),
    options: dict[str, Any] | None = None,
) -> list[Any]:
    """`count` members (`members`, else the admins) each run `command` at once; their runs once
    answered for real (a deferred one once its answer replaced "thinking"), or given up."""
    pool = members or world.admins
    runs = await asyncio.gather(
        *(
            world.emulator.run_command(world.guild, pool[n % len(pool)], command, **(options or {}))
            for n in range(count)
        )
    )

    pending = list(runs)

    def settled() -> bool:
        """Every run answered for real, or refused as late. One waiter for the whole burst:
        200 waiters polling would cost the emulator (and so the measured acks) more than the
        bot's own work."""
        nonlocal pending
        pending = [r for r in pending if not (r.done or r.late)]
        return not pending

    with contextlib.suppress(AssertionError):
        await world.emulator.wait_until(settled, timeout=15)
    return list(runs)


async def burst(
    world: DiscordWorld,
    command: str,
    count: int,
    pid: int,
    rounds: int = 3,
    members: Sequence[Member] = (),
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One warm-up burst (first connections, caches), then `rounds` bursts of `count` commands;
    ack latency as Discord measures it (dispatch to callback), over all measured commands, and
    the CPU the bot's processes (`pid` and its children) spent per command."""
    await one_burst(world, command, count, members, options)
    runs: list[Any] = []
    cpu, emulator_cpu = tree_cpu_seconds(pid), time.process_time()
    for _ in range(rounds):
        runs += await one_burst(world, command, count, members, options)
    figures = ack_figures(runs)
    figures["bot_cpu_ms_per_command"] = round((tree_cpu_seconds(pid) - cpu) * 1000 / len(runs), 2)
    # The Discord emulator's share (this process): its work grows with what a command answers.
    figures["emulator_cpu_ms_per_command"] = round(
        (time.process_time() - emulator_cpu) * 1000 / len(runs), 2
    )
    return figures


def process_tree(pid: int) -> list[int]:
    """`pid` and every process descended from it (a worker pool's processes count too)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def tree_rss_mib(pid: int) -> float:
    """Resident memory of `pid` and its descendants together, in MiB."""
    total = 0.0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, KeyError):
            total += rss_mib(member)[0]
    return round(total, 1)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live descendants (and their waited-for children)."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def p50_p99(seconds: list[float]) -> tuple[float | None, float | None]:
    if not seconds:
        return None, None
    quantiles = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else seconds * 99
    return round(statistics.median(seconds), 3), round(quantiles[98], 3)


def ack_figures(runs: list[Any]) -> dict[str, Any]:
    """Ack latency (dispatch to the first callback, which Discord's 3 s deadline is about) and
    answer latency (dispatch to the first visible answer: for a deferred command, the message
    that replaced "thinking"), the deferred share, and the misses."""
    acked = [r.acked_at - r.dispatched_at for r in runs if r.callbacks]
    answered = [r.answered_at - r.dispatched_at for r in runs if r.answered_at]
    late = sum(1 for r in runs if r.late)
    p50, p99 = p50_p99(acked)
    answer_p50, answer_p99 = p50_p99(answered)
    return {
        "commands": len(runs),
        "p50_s": p50,
        "p99_s": p99,
        "answer_p50_s": answer_p50,
        "answer_p99_s": answer_p99,
        "deferred": sum(1 for r in runs if r.deferred),
        "past_3s_deadline": late,
        "never_answered": len(runs) - len(acked) - late,
    }


async def populate_podcasts(
    engine: AsyncEngine, world: DiscordWorld, podcasts: int, hosts: Sequence[Member] = ()
) -> int:
    """The bench server's podcast with an episode today and a tweet for each of `hosts`
    (members of the bench server), then `podcasts` more, each with an episode today and 3
    hosts with a tweet each; inserted in bulk. Returns the bench server's episode id."""
    sessions = create_sessionmaker(engine)
    today = dt.datetime.now(dt.UTC).date()
    async with sessions() as session, session.begin():
        rows = [
            {
                "guild_id": world.guild.id if n == 0 else 10**9 + n,
                "name": f"Show {n}",
                "youtube_channel_id": channel_id(n),
                "announce_channel_id": world.announce_id,
                "host_role_id": world.host_role_id,
            }
            for n in range(podcasts + 1)
        ]
        podcast_ids = list(await session.scalars(sa.insert(Podcast).returning(Podcast.id), rows))
        episode_ids = list(
            await session.scalars(
                sa.insert(Episode).returning(Episode.id),
                [
                    {"podcast_id": p, "title": "Episode 12: The Pipeline", "scheduled_date": today}
                    for p in podcast_ids
                ],
            )
        )
        host_rows = [
            {"podcast_id": podcast_ids[0], "discord_user_id": m.id, "display_name": m.name}
            for m in hosts
        ] + [
            {"podcast_id": p, "discord_user_id": 5 * 10**9 + i * 10 + h, "display_name": f"H{h}"}
            for i, p in enumerate(podcast_ids[1:], start=1)
            for h in range(3)
        ]
        if not host_rows:
            return episode_ids[0]
        host_ids = list(await session.scalars(sa.insert(Host).returning(Host.id), host_rows))
        episode_of_host = [episode_ids[0]] * len(hosts) + [
            episode_ids[1 + i // 3] for i in range(3 * podcasts)
        ]
        await session.execute(
            sa.insert(EpisodeTweet),
            [
                {"episode_id": episode, "host_id": host, "generated_text": "We're live: Ep 12!"}
                for episode, host in zip(episode_of_host, host_ids, strict=True)
            ],
        )
    return episode_ids[0]


async def served(base: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(base + "/_bench/served") as r:
        return int((await r.json())["live_pages"])


async def bench_commands(podcasts: int, commands: int, scratch: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"podcasts": podcasts, "commands": commands}
    async with (
        DiscordEmulator() as emulator,
        throwaway_database() as engine,
        youtube_world(podcasts + 1, pad_kib=800, latency_ms=50, live_every=0) as youtube,
    ):
        world = discord_world(emulator, commanders=commands)
        host_role = world.guild.roles[world.host_role_id]
        hosts = [world.guild.add_member(f"host{n}", roles=[host_role]) for n in range(commands)]
        database_url = engine.url.render_as_string(hide_password=False)
        env = bot_env(world, youtube, database_url, scratch / "data")
        (scratch / "data").mkdir(parents=True, exist_ok=True)

        async with bot_process(
            world, "bench._trivial_bot", env, scratch / "trivial.log", "ping"
        ) as bot:
            figures["trivial_rss_idle_mib"] = tree_rss_mib(bot.pid)
            figures["trivial"] = await burst(world, "ping", commands, bot.pid)

        episode = await populate_podcasts(engine, world, 0, hosts)
        tweet_show = {"members": hosts, "options": {"episode": str(episode)}}
        async with bot_process(world, "bot", env, scratch / "onair-idle.log", "podcast") as bot:
            await asyncio.sleep(2.0)  # the first (1-channel) check is done
            figures["onair_rss_idle_mib"] = tree_rss_mib(bot.pid)
            figures["onair_idle"] = await burst(world, "podcast show", commands, bot.pid)
            figures["onair_idle_tweet_show"] = await burst(
                world, "tweet show", commands, bot.pid, **tweet_show
            )
            figures["onair_idle_episode_list"] = await burst(
                world, "episode list", commands, bot.pid
            )
            figures["onair_rss_idle_after_commands_mib"] = tree_rss_mib(bot.pid)

        async with engine.begin() as connection:
            await connection.execute(sa.text("TRUNCATE podcasts CASCADE"))
        episode = await populate_podcasts(engine, world, podcasts, hosts)
        tweet_show["options"] = {"episode": str(episode)}
        async with bot_process(world, "bot", env, scratch / "onair-check.log", "podcast") as bot:
            peak = 0.0
            started = time.perf_counter()
            while await served(youtube) < max(1, podcasts // 10):
                peak = max(peak, tree_rss_mib(bot.pid))
                await asyncio.sleep(0.1)
            figures["onair_during_check"] = await burst(world, "podcast show", commands, bot.pid)
            figures["onair_during_check_tweet_show"] = await burst(
                world, "tweet show", commands, bot.pid, **tweet_show
            )
            figures["onair_rss_during_check_mib"] = tree_rss_mib(bot.pid)
            while await served(youtube) < podcasts + 1:
                peak = max(peak, tree_rss_mib(bot.pid))
                await asyncio.sleep(0.2)
            figures["check_seconds_in_bot"] = round(time.perf_counter() - started, 1)
            await asyncio.sleep(3.0)  # the check records its results
            figures["onair_rss_after_check_mib"] = tree_rss_mib(bot.pid)
            # Sampled every 0.1-0.2 s over the whole process tree; VmHWM of the bot's own
            # process is a floor for it (a peak between two samples).
            figures["onair_rss_peak_mib"] = max(peak, rss_mib(bot.pid)[1])
    return figures


# ----- 5. posting --------------------------------------------------------------------------------


async def link_hosts(
    engine: AsyncEngine, x: XEmulator, key: str, podcasts: int, hosts: int, announce_id: int
) -> list[int]:
    """Podcasts 1..N (channel n), each an episode today and `hosts` linked hosts with an
    approved tweet, inserted in bulk, reporting in `announce_id`; returns the podcast
    numbers."""
    sessions = create_sessionmaker(engine)
    cipher = TokenCipher([key])
    today = dt.datetime.now(dt.UTC).date()
    numbers = list(range(1, podcasts + 1))
    async with sessions() as session, session.begin():
        podcast_ids = list(
            await session.scalars(
                sa.insert(Podcast).returning(Podcast.id, sort_by_parameter_order=True),
                [
                    {
                        "guild_id": 2 * 10**9 + n,
                        "name": f"Show {n}",
                        "youtube_channel_id": channel_id(n),
                        "announce_channel_id": announce_id,
                        "host_role_id": 1,
                    }
                    for n in numbers
                ],
            )
        )
        episode_ids = list(
            await session.scalars(
                sa.insert(Episode).returning(Episode.id, sort_by_parameter_order=True),
                [
                    {"podcast_id": p, "title": "Episode 12", "scheduled_date": today}
                    for p in podcast_ids
                ],
            )
        )
        names = [(i, f"host_{n}_{h}") for i, n in enumerate(numbers) for h in range(hosts)]
        host_ids = list(
            await session.scalars(
                sa.insert(Host).returning(Host.id, sort_by_parameter_order=True),
                [
                    {
                        "podcast_id": podcast_ids[i],
                        "discord_user_id": 6 * 10**9 + k,
                        "display_name": name,
                    }
                    for k, (i, name) in enumerate(names)
                ],
            )
        )
        accounts, tweets = [], []
        for host_id, (i, name) in zip(host_ids, names, strict=True):
            token, secret = x.issue_access_token(name)
            accounts.append(
                {
                    "host_id": host_id,
                    "x_user_id": x.account(name).user_id,
                    "username": name,
                    "access_token_encrypted": cipher.encrypt(token),
                    "access_token_secret_encrypted": cipher.encrypt(secret),
                }
            )
            tweets.append(
                {
                    "episode_id": episode_ids[i],
                    "host_id": host_id,
                    "generated_text": f"We're live! ({name})",
                    "approved": True,
                }
            )
        await session.execute(sa.insert(XAccount), accounts)
        await session.execute(sa.insert(EpisodeTweet), tweets)
    return numbers


IDLE_RHYTHM_SECONDS = 4.0


async def recorded_posts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(EpisodeTweet)
            .where(EpisodeTweet.status == PostStatus.POSTED)
        )
    return int(count or 0)


async def plain_posts(x: XEmulator, tweets: int, concurrency: int) -> float:
    """The floor's client side: OnAir's X client alone (tweepy, OAuth signing) posting
    `tweets` tweets at `concurrency`, no database; seconds from first request to last answer."""
    service = XService(x.base_url, x.consumer_key, x.consumer_secret)
    bound = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        token, secret = x.issue_access_token(f"plain_{n}")
        async with bound:
            result = await service.post(Credentials(token, secret, f"plain_{n}"), f"plain {n}")
        if not result.accepted:
            raise SystemExit(f"the plain client's post {n} was refused: {result.reason}")

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(tweets)))
        return time.perf_counter() - started
    finally:
        await service.aclose()


async def post_batch(
    podcasts: int, hosts: int, x_latency_ms: float, concurrency: int, scratch: Path
) -> dict[str, Any]:
    """`podcasts` × `hosts` tweets due at once, posted by `python -m bot`: first POST to the
    last outcome recorded in the database, beside ⌈tweets / concurrency⌉ × X's latency and
    the plain X client in the same run; and the checks that ran meanwhile."""
    tweets = podcasts * hosts
    latency = x_latency_ms / 1000
    async with (
        DiscordEmulator() as emulator,
        XEmulator() as x,
        throwaway_database() as engine,
        youtube_world(podcasts + 1, pad_kib=0, latency_ms=50, live_every=0) as youtube,
    ):
        x.inject(
            Fault("latency", path_prefix=TWEET_PATH, method="POST", seconds=latency, times=None)
        )
        world = discord_world(emulator, commanders=1)
        env = bot_env(world, youtube, engine.url.render_as_string(hide_password=False), scratch)
        env.update(
            X_API_BASE_URL=x.base_url,
            X_CONSUMER_KEY=x.consumer_key,
            X_CONSUMER_SECRET=x.consumer_secret,
            LIVE_CHECK_INTERVAL_SECONDS="1",
            FAST_CHECK_INTERVAL_SECONDS="1",
            POST_CONCURRENCY=str(concurrency),
        )
        numbers = await link_hosts(
            engine, x, env["TOKEN_ENCRYPTION_KEY"], podcasts, hosts, world.announce_id
        )
        log = scratch / f"onair-posting-{tweets}.log"
        async with bot_process(world, "bot", env, log, "podcast") as bot:
            # The checks' rhythm with nothing to post: the baseline for the one while posting.
            pages_before, idle_started = await served(youtube), time.perf_counter()
            await asyncio.sleep(IDLE_RHYTHM_SECONDS)
            idle_checks_per_s = (
                (await served(youtube) - pages_before)
                / (podcasts + 1)
                / (time.perf_counter() - idle_started)
            )
            async with aiohttp.ClientSession() as session:
                for n in numbers:
                    params = {"channel": channel_id(n), "video": f"L{n:010d}"}
                    async with session.post(youtube + "/_bench/go_live", params=params):
                        pass
            if not await poll(lambda: x.count(TWEET_PATH, "POST") > 0, within=300):
                raise SystemExit(f"no post reached X:\n{tail(log)}")
            first = time.perf_counter()
            pages_at_first = await served(youtube)
            cpu_at_first = process_cpu_s(bot.pid)
            for _ in range(30_000):  # 600 s at most, looking every 20 ms
                if await recorded_posts(engine) >= tweets:
                    break
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - first
            bot_cpu = process_cpu_s(bot.pid) - cpu_at_first
            pages_during = await served(youtube) - pages_at_first
        posted = await recorded_posts(engine)
        requests = x.count(TWEET_PATH, "POST")
        plain = await plain_posts(x, tweets, concurrency)
    if posted != tweets or requests != tweets:
        raise SystemExit(f"{posted} of {tweets} recorded, {requests} requests to X:\n{tail(log)}")
    floor = math.ceil(tweets / concurrency) * latency
    during = pages_during / (podcasts + 1) / seconds
    rhythm_readable = seconds * idle_checks_per_s >= 3
    return {
        "tweets": tweets,
        "podcasts": podcasts,
        "concurrency": concurrency,
        "x_latency_ms": x_latency_ms,
        "posted": posted,
        "seconds": round(seconds, 2),
        "floor_s": round(floor, 2),
        "ratio": round(seconds / floor, 2),
        "plain_client_s": round(plain, 2),
        "plain_ratio": round(plain / floor, 2),
        "bot_cpu_s": round(bot_cpu, 2),
        # Each check asks every channel's /live page: checks a second while posting, beside
        # the same bot's with nothing to post (LIVE_CHECK_INTERVAL_SECONDS=1). A batch over
        # within 3 idle check periods holds 0 or 1 check start by chance: no rhythm to read.
        "checks_per_s_posting": round(during, 2) if rhythm_readable else None,
        "checks_per_s_idle": round(idle_checks_per_s, 2),
        "rhythm_ratio": round(during / idle_checks_per_s, 2) if rhythm_readable else None,
    }


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_posting(
    sizes: list[int], hosts: int, x_latency_ms: float, concurrency: int, scratch: Path
) -> list[dict[str, Any]]:
    return [
        await post_batch(podcasts, hosts, x_latency_ms, concurrency, scratch) for podcasts in sizes
    ]


# ----- main --------------------------------------------------------------------------------------


def report(figures: dict[str, Any]) -> None:
    if "http_client" in figures:
        report_http(figures["http_client"])
    if "check" in figures:
        report_check(figures["check"])
    if "data_api" in figures:
        report_data_api(figures["data_api"])
    if "commands" in figures:
        report_commands(figures["commands"])
    if "posting" in figures:
        report_posting(figures["posting"])


def report_http(http: dict[str, Any]) -> None:
    print_table(
        f"HTTP client alone, {http['pages']} small pages, concurrency 20 (CPU seconds)",
        ["aiohttp (floor)", "httpx", "ratio"],
        [[http["aiohttp_cpu_s"], http["httpx_cpu_s"], http["httpx_cpu_ratio"]]],
    )


def report_check(rows: list[dict[str, Any]]) -> None:
    print_table(
        "One check, real-sized pages, 50 ms per page: YouTubeClient against plain aiohttp GETs",
        [
            "channels",
            "concurrency",
            "KiB/page",
            "floor s",
            "floor CPU",
            "OnAir s",
            "OnAir CPU",
            "time x",
            "CPU x",
            "live",
            "unknown",
        ],
        [
            [
                r["channels"],
                r["concurrency"],
                r["page_kib"],
                r["floor_s"],
                r["floor_cpu_s"],
                r["onair_s"],
                r["onair_cpu_s"],
                r["time_ratio"],
                r["cpu_ratio"],
                f"{r['live']}/{r['expected_live']}",
                r["unknown"],
            ]
            for r in rows
        ],
    )


def report_data_api(rows: list[dict[str, Any]]) -> None:
    print_table(
        "Data API mode, the check after the first (3 uploads per channel)",
        [
            "channels",
            "live",
            "upcoming",
            "1st check units",
            "units",
            "after restart",
            "floor",
            "units/day @180s",
        ],
        [
            [
                r["channels"],
                r["live"],
                r["upcoming"],
                r["first_check_units"],
                r["units"],
                r["units_after_restart"],
                r["floor_units"],
                r["units_per_day_at_180s"],
            ]
            for r in rows
        ],
    )


def report_commands(c: dict[str, Any]) -> None:
    checking = f"OnAir checking {c['podcasts']} channels"
    print_table(
        f"{c['commands']} concurrent slash commands (ack and answer latency, seconds; CPU per "
        "command)",
        [
            "bot",
            "ack p50",
            "ack p99",
            "answer p50",
            "answer p99",
            "deferred",
            "past 3 s",
            "never answered",
            "bot CPU ms",
            "emulator CPU ms",
        ],
        [
            [
                name,
                r["p50_s"],
                r["p99_s"],
                r["answer_p50_s"],
                r["answer_p99_s"],
                f"{r['deferred']}/{r['commands']}",
                r["past_3s_deadline"],
                r["never_answered"],
                r["bot_cpu_ms_per_command"],
                r["emulator_cpu_ms_per_command"],
            ]
            for name, r in (
                ("trivial discord.py bot (/ping)", c["trivial"]),
                ("OnAir idle (/podcast show)", c["onair_idle"]),
                ("OnAir idle (/tweet show)", c["onair_idle_tweet_show"]),
                ("OnAir idle (/episode list)", c["onair_idle_episode_list"]),
                (f"{checking} (/podcast show)", c["onair_during_check"]),
                (f"{checking} (/tweet show)", c["onair_during_check_tweet_show"]),
            )
        ],
    )
    print_table(
        "Resident memory of the bot's processes (MiB)",
        ["trivial bot idle", "OnAir idle", "after commands", "during check", "after check", "peak"],
        [
            [
                c["trivial_rss_idle_mib"],
                c["onair_rss_idle_mib"],
                c["onair_rss_idle_after_commands_mib"],
                c["onair_rss_during_check_mib"],
                c["onair_rss_after_check_mib"],
                c["onair_rss_peak_mib"],
            ]
        ],
    )


def report_posting(rows: list[dict[str, Any]]) -> None:
    print_table(
        "Tweets due at once, X answering after 100 ms: first POST to last outcome recorded",
        [
            "tweets",
            "concurrency",
            "floor s",
            "OnAir s",
            "ratio",
            "plain client s",
            "plain ratio",
            "bot CPU s",
            "checks/s idle",
            "checks/s posting",
        ],
        [
            [
                p["tweets"],
                p["concurrency"],
                p["floor_s"],
                p["seconds"],
                p["ratio"],
                p["plain_client_s"],
                p["plain_ratio"],
                p["bot_cpu_s"],
                p["checks_per_s_idle"],
                "—" if p["checks_per_s_posting"] is None else p["checks_per_s_posting"],
            ]
            for p in rows
        ],
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quiet_logs()
    scratch = Path(tempfile.mkdtemp(prefix="onair-bench-load-"))
    figures: dict[str, Any] = {"machine": machine(), "load_average": os.getloadavg()[0]}
    sections: dict[str, Callable[[], Awaitable[Any]]] = {
        "http_client": lambda: bench_http_client(args.small_pages),
        "check": lambda: bench_check(
            args.channels, args.pad_kib, args.latency_ms, args.check_repeats
        ),
        "data_api": lambda: bench_data_api(args.api_channels, args.latency_ms),
        "commands": lambda: bench_commands(args.podcasts, args.commands, scratch),
        "posting": lambda: bench_posting(
            args.posting_podcasts, args.hosts, args.x_latency_ms, args.post_concurrency, scratch
        ),
    }
    for name in args.sections:
        figures[name] = await sections[name]()
    figures["load_average_after"] = os.getloadavg()[0]
    report(figures)
    print(
        f"\n  load average {figures['load_average']:.1f} before, "
        f"{figures['load_average_after']:.1f} after; logs in {scratch}"
    )
    emit_json("load", figures)
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        nargs="+",
        default=list(SECTIONS),
        choices=SECTIONS,
        help="run only these parts (default: all)",
    )
    parser.add_argument("--small-pages", type=int, default=1000)
    parser.add_argument("--channels", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--pad-kib", type=float, default=800)
    parser.add_argument(
        "--check-repeats", type=int, default=5, help="floor and check, alternated; medians"
    )
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--api-channels", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--podcasts", type=int, default=5000, help="for commands and memory")
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--posting-podcasts", type=int, nargs="+", default=[12, 100])
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--x-latency-ms", type=float, default=100)
    parser.add_argument("--post-concurrency", type=int, default=8, help="POST_CONCURRENCY")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
