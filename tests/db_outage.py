"""A database that can go down: a byte-for-byte proxy in front of the test PostgreSQL.

`cut()` closes every open connection and refuses new ones, as a crashed or restarting server
does; `restore()` lets connections through again. The bot under test connects through
`url`; the test itself keeps using the real database directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.engine import make_url


class DatabaseProxy:
    def __init__(self, database_url: str) -> None:
        self._target = make_url(database_url)
        self._dir = Path(tempfile.mkdtemp(prefix="onair-db-proxy-"))
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.up = True

    @property
    def url(self) -> str:
        """The database URL, through the proxy (libpq's socket name for the default port)."""
        proxied = self._target.set(host=None, port=None)
        query = {k: v for k, v in proxied.query.items() if k != "host"}
        return proxied.set(query={**query, "host": str(self._dir)}).render_as_string(
            hide_password=False
        )

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(
            self._handle, path=str(self._dir / ".s.PGSQL.5432")
        )

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self.up = False
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    def restore(self) -> None:
        self.up = True

    async def _connect_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = self._target.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            port = self._target.port or 5432
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(self._target.host, self._target.port or 5432)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await self._connect_upstream()
        self._open.update({writer, up_writer})

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while self.up and (chunk := await source.read(65536)):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._open.difference_update({writer, up_writer})


@contextlib.asynccontextmanager
async def database_proxy(database_url: str) -> AsyncIterator[DatabaseProxy]:
    proxy = DatabaseProxy(database_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
