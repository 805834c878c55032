"""Timezones: only canonical IANA names get in, local dates never depend on SQL's timezone
support, and migration 0004 repairs rows that hold a name OnAir can't use."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.live_check import LiveChecker
from bot.timezones import canonical_name, local_today, matching
from db import migrate
from db.engine import create_engine, create_sessionmaker
from tests.command_helpers import (
    answer_setup,
    assert_one_private_line,
    rows,
    running,
    setup_podcast,
)

REFUSED = [  # at most 9: /podcast setup allows 10 a minute per member
    "localtime",
    "posixrules",
    "Factory",
    "posix/Europe/Paris",
    "right/UTC",
    "America",
    "US/Eastern",
    "Mars/Olympus",
    "../etc/passwd",
]


def test_only_canonical_names_are_known() -> None:
    """Zones like Europe/Paris and UTC are known (any case); files and links are not."""
    assert canonical_name("europe/paris") == "Europe/Paris"
    assert canonical_name(" America/New York ") == "America/New_York"
    assert canonical_name("UTC") == "UTC"
    for name in REFUSED:
        assert canonical_name(name) is None, name
    offered = matching("")
    assert offered and all(canonical_name(n) == n for n in offered)
    assert not [
        n for n in matching("posix") + matching("right") if n.startswith(("posix", "right"))
    ]


def test_local_today_refuses_a_name_that_is_not_canonical() -> None:
    """Computing a local date with a poisoned name fails in Python, not inside a shared query."""
    now = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC)
    assert local_today("Pacific/Kiritimati", now) == dt.date(2026, 12, 2)
    try:
        local_today("localtime", now)
    except ValueError:
        pass
    else:
        raise AssertionError("localtime was accepted")


async def test_setup_refuses_every_non_canonical_timezone(
    tmp_path: Path, database_url: str, engine: AsyncEngine
) -> None:
    """/podcast setup refuses localtime, posix/…, right/…, a directory or a link with one plain
    sentence and saves nothing; a canonical name in any case is saved in its own spelling; the
    autocomplete offers only canonical names."""
    async with running(tmp_path, database_url) as (w, _):
        for name in REFUSED:
            run = await answer_setup(w, timezone=name)
            assert_one_private_line(run, "isn't a timezone I know")
        assert await rows(engine, "SELECT * FROM podcasts") == []
        await setup_podcast(w, timezone="europe/paris")
        assert await rows(engine, "SELECT timezone FROM podcasts") == [{"timezone": "Europe/Paris"}]
        for typed in ("posix", "right", "local", "Fact"):
            choices = await w.discord.autocomplete(
                w.guild, w.ana, "podcast setup", "timezone", typed
            )
            assert all(canonical_name(c["value"]) == c["value"] for c in choices), choices
        paris = await w.discord.autocomplete(w.guild, w.ana, "podcast setup", "timezone", "paris")
        assert [c["value"] for c in paris] == ["Europe/Paris"]


async def test_migration_repairs_bad_timezones_and_the_check_announces_it_once(
    fresh_database,  # type: ignore[no-untyped-def]
) -> None:
    """Rows holding localtime or posix/… become UTC at migration 0004; a good name is kept; the
    next live check tells each repaired podcast's announce channel, and the one after is quiet."""
    engine = create_engine(await fresh_database(), pool_size=2)
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            for guild, zone in ((1, "localtime"), (2, "posix/Europe/Paris"), (3, "Europe/Paris")):
                await conn.execute(
                    sa.text(
                        "INSERT INTO podcasts (guild_id, name, youtube_channel_id, "
                        "announce_channel_id, host_role_id, timezone) "
                        "VALUES (:g, 'Pod', 'UC0000000000000000000000', :c, 5, :z)"
                    ),
                    {"g": guild, "c": 100 + guild, "z": zone},
                )
        await migrate.upgrade(engine)
        assert await rows(engine, "SELECT guild_id, timezone FROM podcasts ORDER BY guild_id") == [
            {"guild_id": 1, "timezone": "UTC"},
            {"guild_id": 2, "timezone": "UTC"},
            {"guild_id": 3, "timezone": "Europe/Paris"},
        ]
        checker = LiveChecker(
            create_sessionmaker(engine),
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            interval=dt.timedelta(minutes=3),
            fast_interval=dt.timedelta(seconds=30),
        )
        first = await checker.announce_repaired_timezones()
        assert sorted(n.announce_channel_id for n in first) == [101, 102]
        assert all(n.kind == "timezone" and "/podcast setup" in n.text for n in first)
        assert await checker.announce_repaired_timezones() == []
        await migrate.downgrade(engine, "0001")
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
