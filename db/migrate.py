"""Alembic, driven from code: `python -m bot migrate`, start-up, and the tests share this."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Two processes starting at once must not both run the same migration.
_MIGRATION_LOCK_ID = 0x0A1A_0001
_REVISION_RE = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*["'](\w+)["']""", re.MULTILINE)
_DOWN_REVISION_RE = re.compile(
    r"""^down_revision(?:\s*:[^=]+)?\s*=\s*["'](\w+)["']""", re.MULTILINE
)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The head of the migration chain, read from the files without importing Alembic (it
    costs some 10 MB of memory for the life of the bot); None unless there is exactly one."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if found := _REVISION_RE.search(source):
            revisions.add(found.group(1))
        if parent := _DOWN_REVISION_RE.search(source):
            parents.add(parent.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def is_at_head(engine: AsyncEngine) -> bool:
    head = head_revision()
    if head is None:
        return False
    async with engine.connect() as conn:
        if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
            return False
        current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    return [row[0] for row in current] == [head]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate to `revision`; a database already at the head is left alone (Alembic unloaded)."""
    if revision == "head" and await is_at_head(engine):
        return
    from alembic import command

    await _run(engine, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    from alembic import command

    await _run(engine, lambda cfg: command.downgrade(cfg, revision))


async def _run(engine: AsyncEngine, action: Callable[[Config], object]) -> None:
    def run_sync(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        action(alembic_config(connection))

    async with engine.begin() as conn:
        await conn.run_sync(run_sync)
