"""What a slash command costs the database, counted with SQLAlchemy's events on the bot's own
engine (statements sent, connections checked out: each checkout is one ping), so a regression
(a per-command ORM graph, a lookup run twice, a transaction where one read would do) fails
here rather than only in bench/load.py; a burst bigger than the pool is answered in full, and
no command waits past Discord's deadline for a connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, event
from sqlalchemy.pool import QueuePool

from bot.errors import DatabaseUnavailable
from tests.command_helpers import prepared, running


@dataclass
class DatabaseCost:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    checkouts: int = 0

    @property
    def round_trips(self) -> int:
        """Pings, statements, and a BEGIN and an end for each transaction."""
        return self.checkouts + len(self.statements) + 2 * self.transactions


@contextmanager
def counted(bot: Any) -> Iterator[DatabaseCost]:
    engine = bot.services.engine.sync_engine
    cost = DatabaseCost()

    def statement(conn: object, cursor: object, sql: str, *_: object) -> None:
        cost.statements.append(" ".join(sql.split())[:70])

    def begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            cost.transactions += 1  # autocommit sends no BEGIN (tests/test_db_engine.py)

    def checkout(*_: object) -> None:
        cost.checkouts += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "begin", begin)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield cost
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", begin)
        event.remove(engine.pool, "checkout", checkout)


# The most round trips each command may cost (checked as an admin, or as a host for /tweet).
BUDGETS = {
    "podcast show": 2,  # ping, the podcast
    "episode list": 4,  # ping, the podcast, upcoming and recent episodes
    "tweet show": 4,  # the host check (ping, podcast), then ping, the tweet with its episode
}


async def test_each_command_costs_at_most_its_round_trips(
    tmp_path: Path, database_url: str
) -> None:
    """Each command, run a second time (caches warm), sends at most its budget of round trips
    to the database, and answers as usual; `/tweet show` so with the episode picked from the
    autocomplete list (its id) and typed as its title."""
    async with running(tmp_path, database_url) as (w, bot):
        title = await prepared(w, generate=False)
        picked = await w.discord.autocomplete(w.guild, w.alice, "tweet show", "episode", "")
        runs = [
            (w.ana, "podcast show", {}),
            (w.ana, "episode list", {}),
            (w.alice, "tweet show", {"episode": title}),
            (w.alice, "tweet show", {"episode": picked[0]["value"]}),
        ]
        for member, command, options in runs:
            await w.answer(member, command, **options)
            with counted(bot) as cost:
                answer = await w.answer(member, command, **options)
            assert answer.embeds, f"/{command} {options}: {answer.text()}"
            assert title in str(answer.embeds) or command == "podcast show", answer.embeds
            assert cost.round_trips <= BUDGETS[command], (command, options, cost)


async def test_a_burst_bigger_than_the_pool_is_answered_in_full(
    tmp_path: Path, database_url: str
) -> None:
    """40 hosts' /tweet show at once on a pool of 2 connections: every one gets its own preview
    (queued for a connection, none refused), and the pool never opened more than 2."""
    async with running(tmp_path, database_url, DATABASE_POOL_SIZE="2") as (w, bot):
        episode = await prepared(w, generate=False)
        pool = bot.services.engine.sync_engine.pool
        assert isinstance(pool, QueuePool) and pool.size() == 2
        opened: list[int] = []
        event.listen(pool, "checkout", lambda *_: opened.append(pool.checkedout()))
        runs = await asyncio.gather(
            *(w.command(m, "tweet show", episode=episode) for m in [w.alice, w.bob] * 20)
        )
        answers = await asyncio.gather(*(r.wait_done(timeout=15) for r in runs))
        for run, answer in zip(runs, answers, strict=True):
            assert "Your tweet" in str(answer.embeds), answer.text()
            assert run.member.name in {"alice", "bob"}
        assert opened and max(opened) <= 2


async def test_a_command_never_waits_past_discords_deadline_for_a_connection(
    tmp_path: Path, database_url: str
) -> None:
    """Every connection of the pool held elsewhere (a stuck database): /podcast show still
    answers within Discord's 3 s, with the plain "can't reach its database" sentence."""
    async with running(tmp_path, database_url, DATABASE_POOL_SIZE="2") as (w, bot):
        await prepared(w, generate=False)
        engine = bot.services.engine
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(sa.text("SELECT 1"))
            await second.execute(sa.text("SELECT 1"))
            started = time.monotonic()
            run = await w.command(w.ana, "podcast show")
            await run.response(timeout=10)
            waited = time.monotonic() - started
            answer = await run.wait_done(timeout=10)
        assert waited < 3.0, waited
        assert answer.text() == DatabaseUnavailable().user_message, answer.text()
        shown = await w.answer(w.ana, "podcast show")  # connections back: answered as usual
        assert shown.embeds, shown.text()
