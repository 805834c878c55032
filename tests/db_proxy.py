"""A TCP relay in front of the test PostgreSQL that a test can stop and start again, so the bot
sees its database go away (connection refused, open connections cut) and come back, or answer
slowly."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from sqlalchemy.engine import make_url


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DatabaseRelay:
    """127.0.0.1:`port` -> the server of `database_url` (TCP or Unix socket)."""

    def __init__(self, database_url: str) -> None:
        self._target = make_url(database_url)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.answer_delay = 0.0
        """Seconds each of the server's answers waits in the relay: a slow or far database."""

    @property
    def url(self) -> str:
        """`database_url`, reached through the relay."""
        return self._target.set(host="127.0.0.1", port=self.port, query={}).render_as_string(
            hide_password=False
        )

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Refuse new connections and cut every open one, like a server that went down."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _open_target(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = self._target.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):
            port = self._target.port or 5432
            return await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.{port}")
        return await asyncio.open_connection(self._target.host, self._target.port or 5432)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._open_target()
        except OSError:
            writer.transport.abort()
            return
        self._pipes |= {writer, up_writer}

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, answers: bool
        ) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await source.read(65536):
                    if answers and self.answer_delay:
                        await asyncio.sleep(self.answer_delay)
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))
        self._pipes -= {writer, up_writer}
