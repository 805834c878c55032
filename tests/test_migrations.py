"""The schema: migrations go up, down and up again, and agree with the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db import migrate
from db.engine import create_engine
from db.models import Base


async def _tables(engine) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def test_upgrade_downgrade_upgrade_round_trip(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """Every migration applies, reverts to an empty schema, and applies again."""
    engine = create_engine(await fresh_database(), pool_size=1)
    try:
        await migrate.upgrade(engine)
        assert {"podcasts", "episodes", "episode_tweets", "post_attempts"} <= await _tables(engine)
        await migrate.downgrade(engine, "base")
        assert await _tables(engine) == {"alembic_version"}
        await migrate.upgrade(engine)
        assert set(Base.metadata.tables) | {"alembic_version"} == await _tables(engine)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(engine) -> None:  # type: ignore[no-untyped-def]
    """Alembic autogenerate finds nothing to change between the models and the migrated schema."""
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(
                    c, opts={"compare_type": True, "compare_server_default": True}
                ),
                Base.metadata,
            )
        )
    assert diff == []


async def test_every_defaulted_column_has_a_database_default(engine) -> None:  # type: ignore[no-untyped-def]
    """A column the code defaults is NOT NULL with the same default in PostgreSQL itself."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT table_name, column_name, is_nullable, column_default "
                    "FROM information_schema.columns WHERE table_schema = 'public'"
                )
            )
        ).all()
    by_name = {(t, c): (nullable, default) for t, c, nullable, default in rows}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.server_default is not None and not isinstance(
                column.server_default, sa.Identity
            ):
                nullable, default = by_name[(table.name, column.name)]
                assert default is not None, f"{table.name}.{column.name} lacks a database default"
                assert nullable == "NO", f"{table.name}.{column.name} is nullable"


async def test_0002_turns_dry_runs_into_their_own_status_and_back(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """0002 moves failed/dry_run tweets to status dry_run (and unexpected attempts to unknown);
    its downgrade restores the old encoding."""
    engine = create_engine(await fresh_database(), pool_size=1)
    seed = [
        "INSERT INTO podcasts (id, guild_id, name, youtube_channel_id, announce_channel_id, "
        "host_role_id) OVERRIDING SYSTEM VALUE VALUES (1, 1, 'P', 'UC1', 1, 1)",
        "INSERT INTO episodes (id, podcast_id, title, scheduled_date) OVERRIDING SYSTEM VALUE "
        "VALUES (1, 1, 'E', '2026-12-01')",
        "INSERT INTO hosts (id, podcast_id, discord_user_id, display_name) OVERRIDING SYSTEM "
        "VALUE VALUES (1, 1, 1, 'A'), (2, 1, 2, 'B')",
        "INSERT INTO episode_tweets (id, episode_id, host_id, status, failure_reason) "
        "OVERRIDING SYSTEM VALUE VALUES (1, 1, 1, 'failed', 'dry_run'), "
        "(2, 1, 2, 'failed', 'duplicate')",
        "INSERT INTO post_attempts (episode_tweet_id, attempt_no, outcome, reason) "
        "VALUES (2, 1, 'failed', 'unexpected')",
    ]

    async def rows() -> list[tuple[object, ...]]:
        async with engine.connect() as conn:
            tweets = (
                await conn.execute(
                    sa.text("SELECT status, failure_reason FROM episode_tweets ORDER BY id")
                )
            ).all()
            attempts = (
                await conn.execute(sa.text("SELECT outcome, reason FROM post_attempts"))
            ).all()
        return [tuple(r) for r in [*tweets, *attempts]]

    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            for statement in seed:
                await conn.execute(sa.text(statement))
        await migrate.upgrade(engine, "0002")
        assert await rows() == [
            ("dry_run", None),
            ("failed", "duplicate"),
            ("unknown", "unexpected"),
        ]
        await migrate.downgrade(engine, "0001")
        assert await rows() == [
            ("failed", "dry_run"),
            ("failed", "duplicate"),
            ("failed", "unexpected"),
        ]
    finally:
        await engine.dispose()
